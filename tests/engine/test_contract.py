"""One contract, two clients: the same assertions run against `LocalClient` (in-process engine) and
`HttpClient` (the same engine's HTTP API on its Unix socket). Results are compared as JSON; and, with both
clients on one engine, verb by verb as they are (the same shapes, no JSON round trip to hide a difference).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.api.client import HttpClient
from engine.api.daemon import EngineHost
from engine.api.tokens import read_owner_token
from engine.config import ClusterNode, LocalNode
from engine.core.engine import Engine
from engine.errors import Conflict, JobTuiError, NotFound, PermissionDenied, ValidationError
from engine.events import Event, JobChanged, Resync, decode
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
    config = make_config(
        # personal mode: other users' jobs go to a cluster (never reached: theirs wait for approval); "local"
        # sorts first, so the owner's jobs land there when both are idle
        nodes=[LocalNode(name="local", cores=8, gpus=0), ClusterNode(name="remote", kind="slurm", max_cores=1)],
        users={
            "vic": {"role": "viewer"},
            "lee": {"role": "lead", "team": "ml"},
            "rae": {"role": "researcher", "team": "ml"},
        },
    )
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
    assert waited == {"done": True, "pending": [], "statuses": {str(job["id"]): "completed"}, "blocked": []}

    detail = await client.job(job["id"])
    assert set(detail) == {"job", "attempts", "events", "dependencies", "position", "estimate"}
    assert detail["job"]["status"] == "completed" and detail["job"]["resources"]["cpus"] == 2
    assert set(detail["attempts"][0]) >= ATTEMPT_KEYS and set(detail["events"][0]) >= EVENT_KEYS
    assert [e["to_status"] for e in detail["events"]] == ["waiting", "starting", "running", "completed"]

    out = await client.logs(job["id"])
    assert out == {
        "job_id": job["id"],
        "attempt": 1,
        "stream": "stdout",
        "offset": 3,
        "data": "hi\n",
        "done": True,
        "size": 3,
    }
    assert (await client.logs(job["id"], offset=3))["done"] is True
    assert (await client.logs(job["id"], offset=3))["size"] == 3
    assert (await client.logs(job["id"], stream="stderr"))["data"] == "err\n"
    part = await client.logs(job["id"], offset=1, limit=1)
    assert (part["data"], part["offset"], part["size"], part["done"]) == ("i", 2, 3, False)

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
        "local_gpu_max_concurrent": None,
        "local_job_max_concurrent": None,
    }
    assert (await client.set_limits({"max_concurrent": 4}))["max_concurrent"] == 4
    nodes = as_json(await client.nodes())
    assert [(n["name"], n["kind"], n["cores"]) for n in nodes] == [("local", "local", 8), ("remote", "slurm", 1)]
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
        await client.submit([{"command": ["no-such-program-xyz"], "node": "local"}])
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
    """Events from `since` as (seq, kind, data) until `until(events)` is true; each one typed on the way."""
    events: list[tuple[int, str, dict]] = []

    async def read() -> None:
        async for event in client.events(since):
            assert isinstance(event, Event) and decode(event.seq, event.kind, event.data()) is not None
            events.append((event.seq, event.kind, event.data()))
            if until(events):
                return

    await asyncio.wait_for(read(), timeout)
    return events


async def test_a_submission_with_an_idempotency_key_is_made_once(pair: Pair) -> None:
    client = await pair.client()
    batch = [{"command": ["true"], "requires_approval": True, "key": "a"}, {"command": "true", "after": ["a"]}]
    first = await client.submit(batch, key="nightly-42")
    again = await client.submit(batch, key="nightly-42")  # a retry: the first's jobs, nothing new
    assert [j["id"] for j in again] == [j["id"] for j in first] and shape(again) == shape(first)
    assert len(await client.list_jobs(include_completed=True)) == 2
    with pytest.raises(Conflict, match="idempotency key 'nightly-42' was already used by owner for other jobs"):
        await client.submit([{"command": ["false"]}], key="nightly-42")
    lead = await pair.client("lee")  # keys are per user: the same key is another's own
    theirs = await lead.submit([{"command": ["true"], "requires_approval": True, "node": "remote"}], key="nightly-42")
    assert theirs[0]["id"] not in {j["id"] for j in first}
    for bad in ("", "x" * 201, "caf\u00e9", "tab\there"):
        with pytest.raises(ValidationError, match="printable ASCII"):
            await client.submit(batch, key=bad)
    assert len(await client.list_jobs(include_completed=True)) == 3


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


# -- what each role may do: me() says it, and the verbs agree -------------------------------------------------

# What me() reports as `capabilities`, spelled out here as the contract says it.
CAPABILITIES = (
    "submit",
    "cancel_own",
    "cancel_any",
    "approve",
    "reject",
    "priority",
    "requeue",
    "set_limits",
    "cleanup",
    "issue_tokens",
)
MAY = {
    "admin": dict.fromkeys(CAPABILITIES, True),
    "lead": {
        **dict.fromkeys(CAPABILITIES, False),
        "submit": True,
        "cancel_own": True,
        "priority": True,
        "requeue": True,
    },
    "researcher": {**dict.fromkeys(CAPABILITIES, False), "submit": True, "cancel_own": True, "requeue": True},
    "viewer": dict.fromkeys(CAPABILITIES, False),
}


async def _role_allows(call: Any) -> bool:
    """Did the role check let the call through (it may still fail for another reason, such as its state)?"""
    try:
        await call
    except PermissionDenied:
        return False
    except JobTuiError:
        return True
    return True


async def test_me_reports_what_each_role_may_do_and_the_verbs_agree(pair: Pair) -> None:
    owner = await pair.client()
    (theirs,) = await owner.submit([{"command": ["true"], "requires_approval": True, "node": "remote"}])
    for user, role in ((OWNER, "admin"), ("lee", "lead"), ("rae", "researcher"), ("vic", "viewer")):
        client = await pair.client(user)
        me = await client.me()
        assert me["role"] == role and me["capabilities"] == MAY[role], user
        may = me["capabilities"]
        spec = {"command": ["true"], "requires_approval": True, "node": "remote"}
        submitted = await _role_allows(client.submit([spec]))
        assert submitted == may["submit"], (user, "submit")
        mine = [j["id"] for j in await client.list_jobs(user=user, include_completed=True)]
        own = mine[-1] if mine else theirs["id"]  # a viewer has no job of its own: it tries another's
        checks = {
            "cancel_any": client.cancel(theirs["id"]) if user != OWNER else client.cancel(own),
            "approve": client.approve(own),
            "reject": client.reject(own, "no"),
            "priority": client.set_priority(own, 15),
            "requeue": client.requeue(own),  # blocked, so a Conflict once the role may
            "cancel_own": client.cancel(own),
            "set_limits": client.set_limits({"max_concurrent": 20}),
            "cleanup": client.cleanup(3650),
        }
        if pair.kind == "http":
            checks["issue_tokens"] = client._call("POST", "/api/tokens", json={"user": "someone"})
        for capability, call in checks.items():
            assert await _role_allows(call) == may[capability], (user, capability)


# -- both clients on one engine: the same answers, verb by verb ------------------------------------------------


def shape(value: Any) -> Any:
    """Types all the way down; a dict's keys with their own type (an int key is not a str key)."""
    if isinstance(value, dict):
        return {
            (type(k).__name__, k if isinstance(k, str) and not k.isdigit() else "#"): shape(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


@pytest.fixture
async def both(tmp_path: Path) -> AsyncIterator[tuple[EngineHost, Any, HttpClient]]:
    """One engine with two GPUs on its node, and a `LocalClient` and an `HttpClient` to it."""
    config = make_config(nodes=[LocalNode(name="local", cores=8, gpus=2)])
    host = EngineHost(config, tmp_path / "state", owner=OWNER)
    await host.start()
    http = HttpClient(host.socket_path, read_owner_token(host.state_dir), OWNER)
    try:
        yield host, host.client(), http
    finally:
        await http.close()
        await host.stop()
        kill_leftover_jobs(host.state_dir)


async def test_local_and_http_clients_answer_alike_verb_by_verb(both: tuple[EngineHost, Any, HttpClient]) -> None:
    host, local, http = both
    clients = (local, http)
    batch = [
        {"command": ["sleep", "60"], "name": "holds a gpu", "gpus": 1},
        {"command": ["true"], "name": "approve me", "requires_approval": True},
        {"command": ["true"], "name": "reject me", "requires_approval": True},
        {"command": ["true"], "name": "cancel me", "requires_approval": True},
        {"command": ["true"], "name": "reprioritise me", "requires_approval": True},
        {"command": ["sh", "-c", "echo out; echo err >&2"], "name": "requeue me"},
    ]
    submitted = [await c.submit(batch) for c in clients]
    assert shape(submitted[0]) == shape(submitted[1])
    ids = [[j["id"] for j in jobs] for jobs in submitted]
    for client, row in zip(clients, ids, strict=True):
        await wait_for_status(client, row[0], "running")
        assert (await client.wait([row[-1]], 10))["done"]

    # each verb, once through each client on jobs alike: the same shape of answer
    answers: dict[str, list[Any]] = {}
    for client, row in zip(clients, ids, strict=True):
        answers.setdefault("requeue", []).append(await client.requeue(row[-1]))
        assert (await client.wait([row[-1]], 10))["done"]
    await local.set_limits({"max_concurrent": 2})  # the GPU jobs fill it: what is approved now waits
    for client, (_, approve, reject, cancel, priority, _) in zip(clients, ids, strict=True):
        answers.setdefault("approve", []).append(await client.approve(approve))
        answers.setdefault("reject", []).append(await client.reject(reject, "no"))
        answers.setdefault("cancel", []).append(await client.cancel(cancel))
        answers.setdefault("priority", []).append(await client.set_priority(priority, 70))
        answers.setdefault("set_limits", []).append(await client.set_limits({"max_concurrent": 2}))
    for verb, (from_local, from_http) in answers.items():
        assert shape(from_local) == shape(from_http), verb
    assert answers["set_limits"][0] == answers["set_limits"][1]

    # reads of the same state: the same answer, exactly
    every = [i for row in ids for i in row]
    assert await local.list_jobs(include_completed=True) == await http.list_jobs(include_completed=True)
    assert await local.list_jobs(status=["running", "waiting"]) == await http.list_jobs(status=["running", "waiting"])
    for job_id in every:
        assert await local.job(job_id) == await http.job(job_id), job_id
        assert await local.position(job_id) == await http.position(job_id), job_id
        for stream in ("stdout", "stderr"):
            assert await local.logs(job_id, stream) == await http.logs(job_id, stream), (job_id, stream)
    assert await local.logs(ids[0][-1], offset=2, limit=2, attempt=1) == await http.logs(
        ids[0][-1], offset=2, limit=2, attempt=1
    )
    assert [await c.position(ids[0][1]) for c in clients] == [1, 1]  # approved, waiting for a slot
    ended = [row[i] for row in ids for i in (2, 3, 5)]
    assert await local.wait(ended, 1) == await http.wait(ended, 1)
    assert await local.stats() == await http.stats()
    assert await local.me() == await http.me()
    assert await local.limits() == await http.limits()
    metrics = [await c.metrics("1d", by) for c in clients for by in (None, "user")]
    assert shape(metrics[0]) == shape(metrics[2]) and shape(metrics[1]) == shape(metrics[3])
    assert metrics[1]["groups"][OWNER]["ended"] == metrics[3]["groups"][OWNER]["ended"] >= 4
    nodes = await local.nodes()
    assert nodes == await http.nodes()
    assert sorted(nodes[0]["gpu_holders"].values()) == [ids[0][0], ids[1][0]]  # both GPUs held, keys are str
    assert set(nodes[0]["gpu_holders"]) == {"0", "1"}
    for view in ("full", "rows"):
        for limit in (None, 3):
            assert await local.snapshot(view, limit) == await http.snapshot(view, limit), (view, limit)

    # the event stream: the same typed events, from the same number
    seq = host.engine.event_seq
    streams = [await collect_typed(c, 0, seq) for c in clients]
    assert [(type(e), e.seq, e.data()) for e in streams[0]] == [(type(e), e.seq, e.data()) for e in streams[1]]

    assert await local.cleanup(3650) == await http.cleanup(3650) == 0


WORKFLOW = {"name": "nightly", "version": "3", "description": "the nightly run", "digest": "0" * 64}
WORKFLOW_BATCH = [
    {"command": ["sh", "-c", "exit 1"], "key": "a", "timeout": 30},
    {"command": ["true"], "key": "b", "after": ["a"], "timeout": 10},
    {"command": ["true"], "key": "c", "after": ["a"], "after_when": {"a": "failure"}},
]


async def test_workflow_verbs(pair: Pair) -> None:
    client = await pair.client()
    a, b, c = await client.submit(WORKFLOW_BATCH, workflow=WORKFLOW)
    wf = a["workflow_id"]
    assert wf == b["workflow_id"] == c["workflow_id"] == 1 and c["after_when"] == {str(a["id"]): "failure"}
    await client.wait([a["id"], b["id"], c["id"]], 10)
    (listed,) = await client.workflows()
    assert {k: listed[k] for k in ("id", "name", "version", "status", "counts", "job_ids", "submitter")} == {
        "id": wf,
        "name": "nightly",
        "version": "3",
        "status": "failed",
        "counts": {"completed": 1, "failed": 1, "skipped": 1},
        "job_ids": [a["id"], b["id"], c["id"]],
        "submitter": OWNER,
    }
    detail = await client.workflow(wf)
    assert detail["workflow"] == listed and detail["levels"] == [[a["id"]], [b["id"], c["id"]]]
    assert detail["critical_path"] == {"jobs": [a["id"], b["id"]], "seconds": 40.0}
    assert (await client.job(c["id"]))["dependencies"][0]["when"] == "failure"
    requeued = await client.requeue_workflow(wf)
    assert [j["id"] for j in requeued["jobs"]] == [a["id"], b["id"]]  # c completed: kept
    assert set(requeued["jobs"][0]) >= JOB_KEYS and requeued["workflow"]["id"] == wf
    await client.wait([a["id"], b["id"]], 10)

    (held,) = await client.submit([{"command": ["true"], "requires_approval": True}], workflow={"name": "held"})
    viewer = await pair.client("vic")
    assert [w["name"] for w in await viewer.workflows()] == ["nightly", "held"]
    with pytest.raises(PermissionDenied, match="vic \\(viewer\\) may not cancel job"):
        await viewer.cancel_workflow(held["workflow_id"])
    cancelled = await client.cancel_workflow(held["workflow_id"])
    assert cancelled["workflow"]["status"] == "cancelled" and cancelled["jobs"][0]["status"] == "cancelled"
    with pytest.raises(Conflict, match="has already ended \\(cancelled\\)"):
        await client.cancel_workflow(held["workflow_id"])
    with pytest.raises(NotFound, match="workflow 999 does not exist"):
        await client.workflow(999)
    with pytest.raises(ValidationError, match=r"workflow(: field '|\.)name"):
        await client.submit([{"command": ["true"]}], workflow={"name": ""})
    with pytest.raises(ValidationError, match="workflow"):
        await client.submit([{"command": ["true"]}], workflow={"name": "x", "digest": "not hex"})


async def test_local_and_http_clients_answer_alike_for_workflows(both: tuple[EngineHost, Any, HttpClient]) -> None:
    _, local, http = both
    ids = [[j["id"] for j in await c.submit(WORKFLOW_BATCH, workflow=WORKFLOW)] for c in (local, http)]
    assert (await local.wait([i for row in ids for i in row], 10))["done"]
    assert await local.workflows() == await http.workflows()
    for wf in (1, 2):
        assert await local.workflow(wf) == await http.workflow(wf), wf
    answers = [await local.requeue_workflow(1), await http.requeue_workflow(2)]
    assert shape(answers[0]) == shape(answers[1])
    assert (await local.wait([i for row in ids for i in row], 10))["done"]
    assert await local.workflows() == await http.workflows()


async def wait_for_status(client: Any, job_id: int, status: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (await client.job(job_id))["job"]["status"] != status:
        assert loop.time() < deadline, f"job {job_id} never became {status}"
        await asyncio.sleep(0.05)


async def collect_typed(client: Any, since: int, until_seq: int) -> list[Event]:
    """Typed events after `since` up to number `until_seq`."""
    out: list[Event] = []

    async def read() -> None:
        async for event in client.events(since):
            if event.seq > until_seq:
                return
            out.append(event)
            if event.seq == until_seq:
                return

    await asyncio.wait_for(read(), 10)
    return out


# -- the HTTP client's event stream: typed, unknown kinds skipped, a new engine means resync ---------------------


async def test_http_events_are_typed_and_a_different_engine_means_resync() -> None:
    stream = (
        b'event: hello\ndata: {"instance": "B", "seq": 3}\n\n'
        b'id: 4\nevent: job_changed\ndata: {"id": 1, "status": "waiting"}\n\n'
        b"id: 5\nevent: a_kind_from_a_newer_engine\ndata: {}\n\n"
        b'id: 6\nevent: job_removed\ndata: {"ids": [1]}\n\n'
    )

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/snapshot":
            return httpx.Response(200, json={"instance": instance, "seq": 3, "total": 0, "jobs": []})
        return httpx.Response(200, content=stream, headers={"content-type": "text/event-stream"})

    for instance, expected in (("B", ["JobChanged", "JobRemoved"]), ("A", ["Resync", "JobChanged", "JobRemoved"])):
        client = HttpClient(None, "token")
        await client._http.aclose()
        client._http = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://jobtui")
        await client.snapshot()
        events = [event async for event in client.events(3)]
        await client.close()
        assert [type(e).__name__ for e in events] == expected, instance
        changed = next(e for e in events if isinstance(e, JobChanged))
        assert (changed.seq, changed.record) == (4, {"id": 1, "status": "waiting"})
        assert all(not isinstance(e, Resync) or e.reason for e in events)
