"""Measured use on an SSH node, over a real sshd: a running job's CPU time and memory (one /proc read per
node per round) and the node's sampled load and memory in its node record."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.config import Config, Limits
from engine.config_hooks import UsageThresholds
from engine.core.engine import Engine
from engine.service.jobspec import JobSpec
from engine.service.verbs import JobService
from tests.waiting import wait_for

pytestmark = pytest.mark.sshd


async def test_a_remote_jobs_usage_and_its_nodes_load_are_measured(sshd_server, tmp_path: Path) -> None:
    stop = f"/tmp/jobtui-usage-stop-{os.getpid()}"
    node = sshd_server.node("n1")
    limits = Limits(max_concurrent=4, user_max_concurrent=4, team_max_concurrent=4)
    config = Config(nodes=[node], limits=limits, usage=UsageThresholds(sample_interval=0.3))
    engine = Engine(config, tmp_path / "state", "root", poll_interval=0.1, cancel_grace=2.0)
    await engine.start()
    service = JobService(engine)
    try:
        spin = f"i=0; while [ ! -e {stop} ]; do i=$((i+1)); done"
        (job,) = await service.submit(service.actor("root"), [JobSpec(command=["sh", "-c", spin])])
        usage = await wait_for(
            lambda: (u := job.extra.get("usage")) and u["cpu_seconds"] > 0.1 and u,
            30,
            lambda: f"the remote job's usage (have {job.extra.get('usage')}, status {job.status})",
        )
        assert usage["processes"] >= 2 and usage["rss_mb"] > 0  # the remote wrapper and sh
        (record,) = await wait_for(lambda: [n for n in service.nodes() if n["measured"]], 30, "a node sample")
        assert record["measured"]["load1"] is not None and record["measured"]["memory_mb"] > 0
    finally:
        Path(stop).touch()
        await wait_for(lambda: job.is_terminal, 20, "the job to end")
        await engine.stop()
        Path(stop).unlink(missing_ok=True)
