"""What a node's last sample measured, for the nodes panel and `/api/nodes` (`measured` of a node record):
load, memory in use, average GPU utilisation where GPUs were sampled, a cluster's queue as its poller last
saw it, and since when and why an unreachable node is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.core.node_watch import NodeSeen
from engine.models import Attempt, Job
from engine.scheduling.plan import NodeState

CLUSTER_KINDS = frozenset({"slurm", "sge", "pbs"})


def node_measures(
    state: NodeState,
    seen: NodeSeen,
    attempts: list[tuple[Job, Attempt]],
    devices: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any] | None:
    """None when the node was never sampled, never lost and (a cluster) holds no job. `devices`: the node's GPUs
    as `service.devices` describes them (this machine's are sampled through NVML, not in the node sample)."""
    sample = state.sample or {}
    out: dict[str, Any] = {}
    if "load1" in sample:
        out.update(load1=sample.get("load1"), load5=sample.get("load5"), load15=sample.get("load15"))
    total, available = sample.get("memory_mb"), sample.get("memory_available_mb")
    if total:
        out.update(memory_mb=total, memory_used_mb=total - (available or 0))
    gpus = [*(sample.get("gpus") or [])] or list(devices)
    utilisations = [g["utilization_pct"] for g in gpus if g.get("utilization_pct") is not None]
    if utilisations:
        out["gpu_utilization_pct"] = round(sum(utilisations) / len(utilisations), 1)
    if state.kind in CLUSTER_KINDS:
        running = sum(1 for _, a in attempts if a.running_since is not None)
        out["queue"] = {"running": running, "pending": len(attempts) - running}
    if seen.sampled_at is not None and sample:
        out["sampled_at"] = seen.sampled_at
    if not seen.reachable:
        out.update(unreachable_since=seen.unreachable_since, unreachable_reason=seen.reason)
    return out or None
