"""The engine core: the Engine (sole owner of live job state), attempt runners, recovery, node monitoring,
outcome decisions and progress parsing."""
