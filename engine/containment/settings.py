"""The config's `containment:` section (read by `engine.config`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from engine.containment.mode import Preference


class ContainmentSettings(BaseModel):
    """How local jobs are contained: a cgroup per attempt where the engine may make them, else a /proc marker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Preference = Field(
        default="auto",
        description="auto: cgroup v2, else v1, else the /proc marker; or cgroup_v2, cgroup_v1, proc (no cgroups)",
    )
    limit_memory: bool = Field(default=True, description="a job's mem_mb is its cgroup's memory limit (over: killed)")
    limit_cpu: bool = Field(default=True, description="a job's cpus cap its CPU time (cgroup cpu quota)")
    pids_max: int | None = Field(default=None, ge=1, description="the most processes a job may have at once")
    memory_rlimit: bool = Field(
        default=False, description="without cgroups: cap each process's address space at mem_mb (RLIMIT_AS)"
    )
