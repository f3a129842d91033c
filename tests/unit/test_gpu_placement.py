"""The pure scheduler's GPU rules: devices by id, clusters that count their own GPUs, the local GPU and job
limits, targets, and the submission-time messages of over-requests."""

from __future__ import annotations

from itertools import count
from pathlib import Path
from typing import Any

import pytest

from engine.models import Job, Resources
from engine.scheduling.plan import NodeState, Policy, Usage, plan, unplaceable_reason

_ids = count(1)
BIG = Policy(max_concurrent=100, user_max_concurrent=100, team_max_concurrent=100)


def job(gpus: int = 0, gpu_ids: list[int] | None = None, **extra: Any) -> Job:
    ids = gpu_ids or []
    return Job(
        id=next(_ids),
        name="j",
        command=["true"],
        user="ann",
        resources=Resources(1, 0, gpus or len(ids), {}, ids),
        extra=extra,
    )


def gpu_node(name: str, gpus: int | None, kind: str = "local", **kw: Any) -> NodeState:
    devices = None if gpus is None else list(range(gpus))
    return NodeState(name, 64, 0, gpus=list(devices or []), kind=kind, devices=devices, **kw)


def starts(jobs: list[Job], nodes: list[NodeState], policy: Policy = BIG) -> list[tuple[int, str, tuple[int, ...]]]:
    from engine.scheduling.queue_index import QueueIndex

    ready = QueueIndex()
    for j in jobs:
        ready.add(j, j.priority)
    return [(s.job_id, s.node, s.gpus) for s in plan(ready, Usage(), nodes, policy)]


def test_gpu_ids_get_exactly_those_devices_or_wait() -> None:
    a, b, c = job(gpu_ids=[2]), job(gpus=2), job(gpu_ids=[2, 3])
    assert starts([a, b, c], [gpu_node("n", 4)]) == [(a.id, "n", (2,)), (b.id, "n", (0, 1))]  # c waits for 2


def test_a_cluster_without_configured_gpus_counts_its_own() -> None:
    a = job(gpus=4)
    assert starts([a], [gpu_node("hpc", None, kind="slurm")]) == [(a.id, "hpc", ())]
    assert unplaceable_reason(a, [gpu_node("hpc", None, kind="slurm")], BIG) is None
    assert starts([job(gpus=1)], [gpu_node("ssh1", None, kind="ssh")]) == []  # not sampled yet: it waits


def test_local_limits_keep_jobs_off_local_nodes_only() -> None:
    limited = Policy(100, 100, 100, local_gpu_max=1)
    a, b = job(gpus=1), job(gpus=1)
    nodes = [gpu_node("ws", 4), gpu_node("remote", 4, kind="ssh", running=5)]
    placed = starts([a, b], nodes, limited)
    assert [(s[1]) for s in placed] == ["ws", "remote"]  # the second GPU job goes to the remote node
    one_job = Policy(100, 100, 100, local_job_max=1)
    assert [s[1] for s in starts([job(), job()], [gpu_node("ws", 0)], one_job)] == ["ws"]


def test_targets_pick_local_or_remote_nodes() -> None:
    nodes = [gpu_node("ws", 0), gpu_node("far", 0, kind="ssh")]
    assert [s[1] for s in starts([job(target="remote")], nodes)] == ["far"]
    assert [s[1] for s in starts([job(target="local")], nodes)] == ["ws"]
    assert "node/label/target" in (unplaceable_reason(job(target="remote"), [gpu_node("ws", 0)], BIG) or "")


def test_over_requests_name_the_largest_node_or_that_there_is_none() -> None:
    nodes = [gpu_node("gpu1", 2), gpu_node("gpu2", 1)]
    assert unplaceable_reason(job(gpus=3), nodes, BIG) == "no node has 3 GPUs; the largest has 2 (node gpu1)"
    assert unplaceable_reason(job(gpus=1), [gpu_node("ws", 0)], BIG) == (
        "no node has 1 GPU; this machine has none (nodes: ws)"
    )
    assert unplaceable_reason(job(gpu_ids=[1]), nodes, BIG) is None
    assert unplaceable_reason(job(gpu_ids=[0, 4]), nodes, BIG) == (
        "no node has GPU devices 0,4 (gpu1 has devices 0,1; gpu2 has devices 0)"
    )
    big = NodeState("big", 8, 16_000)
    memory = Job(id=1, name="j", command=["true"], user="ann", resources=Resources(1, 30_720))
    assert (
        unplaceable_reason(memory, [big], BIG) == "it asks for 30720 MB of memory; the largest node (big) has 16000 MB"
    )


def test_a_workflow_job_names_its_devices_and_target(tmp_path: Path) -> None:
    from engine.workflows.schema import WorkflowError, parse_workflow

    text = (
        "jobs:\n"
        "  - {id: train, command: python train.py, gpu_ids: [0, 2], target: local}\n"
        "  - {id: eval, command: python eval.py, any_gpu: true}\n"
    )
    path = tmp_path / "wf.yaml"
    path.write_text(text)
    train, evaluate = parse_workflow(path.read_bytes(), str(path), env={}).to_job_specs()
    assert (train.gpu_ids, train.gpus, train.target) == ([0, 2], 2, "local")
    assert (evaluate.any_gpu, evaluate.gpus) == (True, 1)
    path.write_text("jobs:\n  - {id: both, command: x, gpu_ids: [1], any_gpu: true}\n")
    with pytest.raises(WorkflowError, match="give one of them"):
        parse_workflow(path.read_bytes(), str(path), env={})
