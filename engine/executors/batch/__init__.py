"""Batch schedulers (Slurm, SGE, PBS): one cluster executor, its poller, job scripts and each dialect with
its own output parsers."""
