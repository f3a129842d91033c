"""The dry run of a submission (`POST /api/queue/plan`, `EngineClient.plan`): where each job would start now by
the engine's own placement rule, or why not; the same answer from both clients; nothing queued or announced."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from engine.api.client import HttpClient
from engine.api.daemon import EngineHost
from engine.api.tokens import read_owner_token
from engine.config import Limits, LocalNode
from engine.errors import ValidationError
from tests.fixtures.engine import OWNER, kill_leftover_jobs, make_config
from tests.waiting import wait_for


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[EngineHost]:
    config = make_config(
        nodes=[LocalNode(name="local", cores=4, gpus=0)],
        limits=Limits(max_concurrent=2, user_max_concurrent=2, team_max_concurrent=2),
    )
    host = EngineHost(config, tmp_path / "state", owner=OWNER)
    await host.start()
    yield host
    await host.stop()
    kill_leftover_jobs(host.state_dir)


@pytest.fixture
async def clients(host: EngineHost) -> AsyncIterator[tuple[Any, HttpClient]]:
    http = HttpClient(host.socket_path, read_owner_token(host.state_dir), OWNER)
    yield host.client(), http
    await http.close()


async def _same_plan(clients: tuple[Any, HttpClient], specs: list[dict[str, Any]]) -> dict[str, Any]:
    local, http = clients
    answer = await local.plan(specs)
    assert await http.plan(specs) == answer  # one contract, both clients
    return answer


async def test_each_job_gets_its_node_or_why_it_can_never_start(host: EngineHost, clients: Any) -> None:
    seq, count = host.engine.event_seq, host.engine.job_count
    plan = await _same_plan(
        clients,
        [
            {"key": "build", "command": ["true"], "cpus": 2},
            {"key": "huge", "command": ["true"], "cpus": 64, "after": ["build"]},
            {"key": "nowhere", "command": ["no-such-program-here"]},
            {"key": "orphan", "command": ["true"], "after": [999]},
        ],
    )
    assert plan["ok"] is False
    by_key = {job["key"]: job for job in plan["jobs"]}
    assert by_key["build"] == {
        "index": 0,
        "key": "build",
        "name": "true",
        "node": "local",
        "gpus": [],
        "reason": None,
        "position": None,
        "runnable": True,
    }
    assert not by_key["huge"]["runnable"] and by_key["huge"]["node"] is None
    assert "asks for 64 cores" in by_key["huge"]["reason"] and "local" in by_key["huge"]["reason"]
    assert "was not found on PATH" in by_key["nowhere"]["reason"] and not by_key["nowhere"]["runnable"]
    assert "job 999, which does not exist" in by_key["orphan"]["reason"]
    assert (host.engine.event_seq, host.engine.job_count) == (seq, count)  # nothing queued, stored or announced


async def test_a_job_that_fits_but_not_now_says_what_it_waits_for(host: EngineHost, clients: Any) -> None:
    local, _ = clients
    [running] = await local.submit([{"command": ["sleep", "30"], "cpus": 3}])
    await wait_for(lambda: host.engine.get(running["id"]).status.value == "running", 10, "the job to run")
    plan = await _same_plan(clients, [{"command": ["true"], "cpus": 2}, {"command": ["true"], "cpus": 1}])
    assert plan["ok"] is True  # both can run, one not now
    room, fits = plan["jobs"]
    assert room["node"] is None and room["runnable"]
    assert room["reason"] == "no room now: local has 1 of 4 cores free, it needs 2"
    assert fits["node"] == "local" and fits["reason"] is None
    [second] = await local.submit([{"command": ["sleep", "30"], "cpus": 1}])
    await wait_for(lambda: host.engine.get(second["id"]).status.value == "running", 10, "the second job to run")
    held = (await _same_plan(clients, [{"command": ["true"], "cpus": 0}]))["jobs"][0]
    assert held["node"] is None
    assert held["reason"] == "waits for a slot: 2 jobs run, the most at once is 2 (it fits local)"
    for job in (running, second):
        await local.cancel(job["id"])


async def test_a_batch_that_cannot_be_read_as_a_whole_is_refused(clients: Any) -> None:
    local, http = clients
    cycle = [{"key": "a", "command": ["true"], "after": ["b"]}, {"key": "b", "command": ["true"], "after": ["a"]}]
    for client in (local, http):
        with pytest.raises(ValidationError, match="dependency cycle"):
            await client.plan(cycle)
