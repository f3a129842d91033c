"""One contract, two clients: the same assertions run against `LocalClient` (in-process engine) and
`HttpClient` (the same engine's HTTP API on its Unix socket). Results are compared as JSON.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from engine.api.client import HttpClient
from engine.api.daemon import EngineHost
from engine.api.tokens import read_owner_token
from engine.core.engine import Engine
from engine.errors import Conflict, NotFound, PermissionDenied, ValidationError
from engine.service.verbs import JobService
from tests.fixtures.engine import ATTEMPT_KEYS, EVENT_KEYS, JOB_KEYS, OWNER, kill_leftover_jobs, make_config


def as_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


class Pair:
    """A hosted engine and a client of the kind under test, acting as `user`."""

    def __init__(self, host: EngineHost, kind: str) -> None:
        self.host = host
        self.kind = kind
        self.clients: list[Any] = []

    async def client(self, user: str = OWNER) -> Any:
        if self.kind == "local":
            client = self.host.client(user)
        else:
            token = read_owner_token(self.host.state_dir)
            if user != OWNER:
                owner = HttpClient(self.host.socket_path, token, OWNER)
                token = (await owner._call("POST", "/api/tokens", json={"user": user}))["token"]
                await owner.close()
            client = HttpClient(self.host.socket_path, token, user)
        self.clients.append(client)
        return client


@pytest.fixture(params=["local", "http"])
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Pair]:
    config = make_config(users={"vic": {"role": "viewer"}})
    host = EngineHost(config, tmp_path / "state", owner=OWNER)
    # a small event history, so a resync is reachable
    host.engine = Engine(config, tmp_path / "state", OWNER, poll_interval=0.1, cancel_grace=1.0, event_history=50)
    host.service = JobService(host.engine)
    await host.start()
    pair = Pair(host, request.param)
    yield pair
    for client in pair.clients:
        await client.close()
    await host.stop()
    kill_leftover_jobs(host.state_dir)


async def test_submit_wait_show_logs(pair: Pair) -> None:
    client = await pair.client()
    (job,) = await client.submit([{"command": ["sh", "-c", "echo hi; echo err >&2"], "name": "hi", "cpus": 2}])
    assert set(job) >= JOB_KEYS and job["name"] == "hi" and job["status"] == "waiting" and job["user"] == OWNER
    waited = as_json(await client.wait([job["id"]], timeout=10))
    assert waited == {"done": True, "pending": [], "statuses": {str(job["id"]): "completed"}}

    detail = await client.job(job["id"])
    assert set(detail) == {"job", "attempts", "events", "dependencies", "position"}
    assert detail["job"]["status"] == "completed" and detail["job"]["resources"]["cpus"] == 2
    assert set(detail["attempts"][0]) >= ATTEMPT_KEYS and set(detail["events"][0]) >= EVENT_KEYS
    assert [e["to_status"] for e in detail["events"]] == ["waiting", "starting", "running", "completed"]

    out = await client.logs(job["id"])
    assert out == {"job_id": job["id"], "attempt": 1, "stream": "stdout", "offset": 3, "data": "hi\n", "done": True}
    assert (await client.logs(job["id"], offset=3))["done"] is True
    assert (await client.logs(job["id"], stream="stderr"))["data"] == "err\n"
    assert (await client.logs(job["id"], offset=1, limit=1))["data"] == "i"

    listed = await client.list_jobs(include_completed=True)
    assert [j["id"] for j in listed] == [job["id"]] and as_json(listed[0]) == as_json(detail["job"])
    assert await client.list_jobs() == []  # ended jobs are hidden unless asked for
    assert [j["id"] for j in await client.list_jobs(status=["completed"])] == [job["id"]]


async def test_queue_verbs(pair: Pair) -> None:
    client = await pair.client()
    a, b, c = await client.submit([{"command": ["true"], "requires_approval": True} for _ in range(3)])
    assert {a["status"], b["status"], c["status"]} == {"blocked"}
    assert await client.position(a["id"]) is None
    assert (await client.set_priority(c["id"], 70))["priority"] == 70
    assert (await client.approve(a["id"]))["id"] == a["id"]
    rejected = await client.reject(b["id"], "too big")
    assert rejected["status"] == "rejected" and "too big" in rejected["message"]
    cancelled = await client.cancel(c["id"])
    assert cancelled["status"] == "cancelled" and cancelled["message"] == f"cancelled by {OWNER}"
    assert (await client.wait([a["id"]], 10))["done"] is True
    requeued = await client.requeue(a["id"])
    assert requeued["id"] == a["id"] and requeued["attempts"] >= 1
    assert (await client.wait([a["id"]], 10))["done"] is True

    stats = await client.stats()
    assert stats["by_status"] == {"completed": 1, "rejected": 1, "cancelled": 1} and stats["queue_depth"] == 0
    me = as_json(await client.me())
    assert (me["user"], me["role"], me["pending_count"]) == (OWNER, "admin", 0)
    assert await client.limits() == {
        "max_concurrent": 20,
        "user_max_concurrent": 20,
        "team_max_concurrent": 20,
        "fair_share": False,
    }
    assert (await client.set_limits({"max_concurrent": 4}))["max_concurrent"] == 4
    nodes = as_json(await client.nodes())
    assert [(n["name"], n["kind"], n["cores"]) for n in nodes] == [("local", "local", 8)]
    snap = as_json(await client.snapshot())
    assert set(snap) == {"instance", "seq", "total", "jobs", "limits", "nodes"}
    assert sorted(j["id"] for j in snap["jobs"]) == [a["id"], b["id"], c["id"]]
    assert await client.cleanup(0) == 3
    assert await client.list_jobs(include_completed=True) == []


async def test_errors_are_the_same_types(pair: Pair) -> None:
    client = await pair.client()
    with pytest.raises(NotFound, match="job 999 does not exist"):
        await client.job(999)
    with pytest.raises(ValidationError, match="field 'cpu': unknown field"):
        await client.submit([{"command": ["true"], "cpu": 2}])
    with pytest.raises(ValidationError, match="was not found on PATH"):
        await client.submit([{"command": ["no-such-program-xyz"]}])
    (job,) = await client.submit([{"command": ["true"]}])
    await client.wait([job["id"]], 10)
    with pytest.raises(Conflict, match="already ended"):
        await client.cancel(job["id"])
    (blocked,) = await client.submit([{"command": ["true"], "requires_approval": True}])
    with pytest.raises(ValidationError, match="needs a reason"):
        await client.reject(blocked["id"], "")
    viewer = await pair.client("vic")
    with pytest.raises(PermissionDenied, match="vic \\(viewer\\) may not submit"):
        await viewer.submit([{"command": ["true"]}])
    with pytest.raises(PermissionDenied):
        await viewer.cancel(blocked["id"])
    assert len(await viewer.list_jobs(include_completed=True)) == 2


async def collect(client: Any, since: int | None, until: Any, timeout: float = 10.0) -> list[tuple[int, str, dict]]:
    """Events from `since` (hello left out) until `until(events)` is true."""
    events: list[tuple[int, str, dict]] = []

    async def read() -> None:
        async for seq, kind, data in client.events(since):
            if kind == "hello":
                continue
            events.append((seq, kind, data))
            if until(events):
                return

    await asyncio.wait_for(read(), timeout)
    return events


async def test_events_replay_and_resync(pair: Pair) -> None:
    client = await pair.client()
    start = (await client.snapshot())["seq"]
    (job,) = await client.submit([{"command": ["sh", "-c", "echo Step 1 of 2; sleep 0.2; echo Step 2 of 2"]}])

    def ended(events):
        return any(k == "job_changed" and d["id"] == job["id"] and d["status"] == "completed" for _, k, d in events)

    live = await collect(client, start, ended)
    seqs = [s for s, _, _ in live]
    assert seqs == sorted(seqs) and seqs[0] == start + 1 and len(set(seqs)) == len(seqs)
    statuses = [d["status"] for _, k, d in live if k == "job_changed"]
    assert statuses[0] == "waiting" and statuses[-1] == "completed" and "running" in statuses
    assert any(d["progress"]["percent"] == 100.0 for _, k, d in live if k == "job_changed")

    middle = seqs[len(seqs) // 2]
    replay = await collect(client, middle, lambda evs: evs[-1][0] == seqs[-1])
    assert [s for s, _, _ in replay] == [s for s in seqs if s > middle]
    assert [d for _, _, d in replay] == [d for s, _, d in live if s > middle]

    await client.submit([{"command": ["true"], "requires_approval": True} for _ in range(60)])  # > the 50 kept
    resync = await collect(client, start, lambda evs: True)
    assert resync[0][1] == "resync"
    after = await client.snapshot()
    assert len(after["jobs"]) == 61  # what a client does on resync: take a fresh snapshot
