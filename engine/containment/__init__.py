"""Containment of an attempt's processes on this machine: a cgroup per attempt (v2, or the v1 hierarchies where
that is what the machine mounts) below the engine's own cgroup, or, where the engine may not create cgroups, a
marker in the job's environment found again in `/proc`. Machine facts only: nothing here knows about jobs."""
