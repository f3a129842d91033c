"""Measured use: a running local job's CPU time and memory (psutil over its process tree) on the job, in
`show` and over a threshold as a `usage_warning`; the local node's measured load and memory in its node
record; the SSH sampler's parser over /proc stat lines."""

from __future__ import annotations

import sys
from typing import Any

from engine.config_hooks import UsageThresholds
from engine.core.node_watch import NodeWatch
from engine.models import Attempt, Job
from engine.remote.sampling import SEPARATOR, parse_process_table, tree_totals
from engine.scheduling.plan import NodeState
from engine.service.node_measures import node_measures
from engine.service.reads import job_detail
from tests.fixtures.engine import make_config
from tests.waiting import wait_for
from tui.cli.output import describe_job

# Holds 64 MiB and spins until its stop file appears (the test ends it once measured).
HOG = (
    "import os, sys, time\n"
    "block = bytearray(64 * 1024 * 1024)\n"
    "for i in range(0, len(block), 4096): block[i] = 1\n"
    "while not os.path.exists(sys.argv[1]): sum(range(10000))\n"
)


async def test_a_running_jobs_cpu_and_memory_are_measured_shown_and_warned_about(engine_factory: Any, tmp_path) -> None:
    stop = tmp_path / "stop"
    usage = UsageThresholds(rss_mb=32, cpu_seconds=0.2, sample_interval=0.2)
    rig = await engine_factory(make_config(usage=usage))
    job = await rig.submit_one([sys.executable, "-c", HOG, str(stop)])
    measured = await wait_for(
        lambda: (u := job.extra.get("usage")) and u["rss_mb"] >= 64 and u["cpu_seconds"] > 0.2 and u,
        20,
        lambda: f"usage of 64 MiB and some CPU time (have {job.extra.get('usage')})",
    )
    assert measured["attempt"] == 1 and measured["processes"] >= 2  # the wrapper and python
    assert measured["peak_rss_mb"] >= measured["rss_mb"] >= 64
    text = describe_job(await job_detail(rig.service, job.id))
    assert "usage        cpu " in text and "MiB (peak" in text
    await wait_for(lambda: rig.engine.find(job.id) and _warnings(rig, job.id), 10, "two usage warnings")
    stop.touch()
    await rig.wait_terminal(job.id)
    warnings = await _warnings(rig, job.id)
    assert len(warnings) == 2  # once per attempt and kind, however many samples passed the thresholds
    assert any("memory" in w and "above the threshold of 32 MiB" in w for w in warnings)
    assert any("CPU time" in w and "above the threshold of 0.2 s" in w for w in warnings)
    (node,) = rig.service.nodes()
    assert node["measured"]["load1"] is not None and node["measured"]["memory_mb"] > 0
    assert 0 < node["measured"]["memory_used_mb"] <= node["measured"]["memory_mb"]


async def _warnings(rig: Any, job_id: int) -> list[str]:
    _, history = await rig.history(job_id)
    found = [e.message for e in history if e.kind == "usage_warning"]
    return found if len(found) >= 2 else []


# Two processes of a job (a wrapper and its child, whose name has a space and a parenthesis) and an unrelated
# one; fields as proc(5) documents /proc/PID/stat.
STAT = (
    "100\n4096\n" + SEPARATOR + "\n"
    "1 (init) S 0 1 1 0 -1 4194560 1 1 0 0 500 300 0 0 20 0 1 0 5 1000 250 18446744073709551615\n"
    "42 (jobtui-wrapper) S 1 42 42 0 -1 4194560 1 1 0 0 10 5 200 100 20 0 1 0 9000 1000 1000 18446744073709551615\n"
    "43 (my solver (v2)) R 42 42 42 0 -1 4194560 1 1 0 0 150 50 0 0 20 0 4 0 9001 1000 25600 18446744073709551615\n"
)


def test_the_remote_sampler_sums_a_jobs_process_tree() -> None:
    table = parse_process_table(STAT)
    assert table[43] == (42, 2.0, 25600 * 4096, 9001)
    totals = tree_totals(table, 42, started=9000)
    assert totals == {
        "cpu_seconds": 3.15 + 2.0,
        "rss_mb": round((1000 + 25600) * 4096 / 1024 / 1024, 1),
        "processes": 2,
    }
    assert tree_totals(table, 42, started=1234) is None  # the pid was reused by another process
    assert tree_totals(table, 77) is None


def test_a_nodes_measures_say_load_gpu_use_queue_and_why_it_is_down() -> None:
    watch = NodeWatch()
    watch.saw("hpc", False, False, "login1:22: Connection refused", now=100.0)
    watch.saw("hpc", False, False, "", now=160.0)  # still down: since the first time, with the first reason
    cluster = NodeState("hpc", 64, 0, kind="slurm")
    running = Attempt(1, 1, "hpc", "/r", "t", running_since=50.0)
    queued = Attempt(2, 1, "hpc", "/r", "t")
    jobs = [(Job(1, "a", ["x"], "u"), running), (Job(2, "b", ["x"], "u"), queued)]
    assert node_measures(cluster, watch.of("hpc"), jobs) == {
        "queue": {"running": 1, "pending": 1},
        "unreachable_since": 100.0,
        "unreachable_reason": "login1:22: Connection refused",
    }
    local = NodeState("here", 8, 0, sample={"load1": 1.5, "load5": 1.0, "load15": 0.5, "memory_mb": 1000,
                                            "memory_available_mb": 250})  # fmt: skip
    watch.saw("here", True, True, "", now=200.0)
    devices = [{"index": 0, "utilization_pct": 30}, {"index": 1, "utilization_pct": 50}, {"index": 2}]
    measured = node_measures(local, watch.of("here"), [], devices)
    assert measured == {"load1": 1.5, "load5": 1.0, "load15": 0.5, "memory_mb": 1000, "memory_used_mb": 750,
                        "gpu_utilization_pct": 40.0, "sampled_at": 200.0}  # fmt: skip
    assert node_measures(NodeState("idle", 8, 0), watch.of("idle"), []) is None
