"""The engine's view of every node's GPU devices and who holds each: what `jobtui gpus`, the TUI's GPU panel
and `GET /api/system/status?include_allocation=true` show.

A node's devices are the ones the scheduler counts (configured, or detected: NVML on this machine, the
`nvidia-smi` sample of an SSH node); each is described by the latest sample where there is one (name,
memory, utilisation; NVML for local nodes, sampled at most every LOCAL_SAMPLE_EVERY seconds) and carries the
job holding it and that job's user.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from engine.models import GpuSample, Job
from engine.remote.sampling import parse_meminfo
from engine.scheduling.capacity import sample_local_gpus
from engine.scheduling.plan import NodeState

LOCAL_SAMPLE_EVERY = 5.0


class LocalGpuSamples:
    """NVML's samples of this machine's GPUs, taken at most once per `every` seconds (NVML is not free)."""

    def __init__(
        self, sampler: Callable[[], list[GpuSample]] = sample_local_gpus, every: float = LOCAL_SAMPLE_EVERY
    ) -> None:
        self.sampler = sampler
        self.every = every
        self._taken_at: float | None = None
        self._samples: list[GpuSample] = []

    def __call__(self) -> list[GpuSample]:
        now = time.monotonic()
        if self._taken_at is None or now - self._taken_at >= self.every:
            self._samples, self._taken_at = self.sampler(), now
        return self._samples


def node_devices(
    state: NodeState,
    holders: Mapping[int, int],
    find: Callable[[int], Job | None],
    local_samples: Callable[[], list[GpuSample]],
) -> list[dict[str, Any]]:
    """Every device of one node: index, name, memory, utilisation (None where nothing sampled it), whether a
    job holds it, and which job and user. A device a job holds but the node no longer reports is kept."""
    if state.kind == "local":
        sampled = {g.index: g.to_dict() for g in (local_samples() if state.devices else [])}
    else:
        sampled = {g["index"]: g for g in ((state.sample or {}).get("gpus") or [])}
    indexes = set(state.devices if state.devices is not None else sampled) | set(holders)
    devices = []
    for index in sorted(indexes):
        sample = sampled.get(index) or {}
        job_id = holders.get(index)
        job = find(job_id) if job_id is not None else None
        total = sample.get("memory_total_mb")
        devices.append(
            {
                "index": index,
                "name": sample.get("name"),
                "memory_total_mb": total,
                "memory_used_mb": sample.get("memory_used_mb"),
                "memory_gb": round(total / 1024, 1) if total is not None else None,
                "utilization_pct": sample.get("utilization_pct"),
                "allocated": job_id is not None,
                "job_id": job_id,
                "user": job.user if job is not None else None,
            }
        )
    return devices


def gpu_allocation(nodes: Iterable[Mapping[str, Any]], running_local_jobs: int) -> dict[str, Any]:
    """The seed's `gpu_allocation` over the local nodes' devices (one local node: its indexes as they are)."""
    devices = [d for n in nodes if n["kind"] == "local" for d in n["gpus"]]
    return {
        "allocated_gpus": [d["index"] for d in devices if d["allocated"]],
        "available_gpus": [d["index"] for d in devices if not d["allocated"]],
        "running_local_jobs": running_local_jobs,
        "devices": devices,
    }


def local_summary(
    local: list[NodeState],
    holders_of: Callable[[str], Mapping[int, int]],
    pending: int,
    max_gpus: int | None,
    max_jobs: int | None,
) -> dict[str, Any]:
    """`local` of `GET /api/queue/stats` (the seed's): the local nodes' jobs, their devices held and free, and
    the local limits (None: no limit)."""
    held = sorted({g for n in local for g in holders_of(n.name)})
    devices = sorted({g for n in local for g in n.devices or []})
    return {
        "running_jobs": sum(n.running for n in local),
        "pending_jobs": pending,
        "allocated_gpus": held,
        "available_gpus": [g for g in devices if g not in held],
        "total_gpus": sum(len(n.devices or []) for n in local),
        "max_concurrent_gpus": max_gpus,
        "max_concurrent_jobs": max_jobs,
    }


def system_status(
    nodes: list[dict[str, Any]],
    local_samples: list[GpuSample],
    running_local_jobs: int,
    include_allocation: bool,
    now: float,
) -> dict[str, Any]:
    """`GET /api/system/status`: this machine's load, memory and GPUs; with `include_allocation`, which
    devices jobs hold, here (`gpu_allocation`) and on every node (`nodes`, jobtui's addition)."""
    status: dict[str, Any] = {
        "timestamp": now,
        "load_avg_5min": _load5(),
        "memory_percent": _memory_percent(),
        "gpus": [g.to_dict() for g in local_samples],
        "gpu_inventory": {
            "backend": "cuda" if local_samples else None,
            "count": len(local_samples),
            "capabilities": {"nvml": bool(local_samples)},
        },
    }
    if include_allocation:
        status["gpu_allocation"] = gpu_allocation(nodes, running_local_jobs)
        status["nodes"] = [{"name": n["name"], "kind": n["kind"], "gpus": n["gpus"]} for n in nodes]
    return status


def _load5() -> float | None:
    try:
        return os.getloadavg()[1]
    except OSError:
        return None


def _memory_percent() -> float | None:
    """Memory in use on this machine, in percent of the total (from /proc/meminfo), or None."""
    try:
        memory = parse_meminfo(Path("/proc/meminfo").read_text())
    except OSError:
        return None
    total, available = memory["memory_mb"], memory["memory_available_mb"]
    return round(100.0 * (total - available) / total, 1) if total else None
