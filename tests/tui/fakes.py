"""An in-memory EngineClient for TUI tests, snapshots and the benchmark: deterministic jobs, optional
event stream at a fixed rate, role checks shaped like the server's.

mypy checks it against the client protocol (`EngineClient`, pyproject's [tool.mypy] files), and its answers
are built with the engine's wire encoders where they can be, so it cannot drift from the real clients.
It records every call that reaches it, refused or not, so a test can tell the TUI's own checks (nothing
sent) from the server's (sent, then refused).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from engine.api.client import EngineClient
from engine.errors import Conflict, NotFound, PermissionDenied
from engine.events import Event, JobChanged, JobRemoved
from engine.models import TERMINAL_NAMES, Actor, Job, WorkflowRecord
from engine.service.auth import capabilities
from engine.wire import (
    ROW_COLUMNS,
    cleanup_result,
    limits_result,
    log_chunk_result,
    position_result,
    record_row,
    wait_result,
    workflow_detail_result,
    workflow_job,
    workflow_summary,
    workflows_result,
)
from engine.workflows.detail import graph_of
from engine.workflows.graph import analyze

if TYPE_CHECKING:
    from tui.app import JobTuiApp

T0 = 1_700_000_000.0  # fixed clock for snapshots
STATUSES = ("running", "waiting", "completed", "failed", "blocked", "cancelled")
USERS = ("ann", "bob", "cyd", "dee")


def make_job(i: int, status: str | None = None, **extra: Any) -> dict[str, Any]:
    """A job dict shaped like `Job.to_dict()`, deterministic in `i`."""
    status = status or STATUSES[i % len(STATUSES)]
    started = T0 - 600 + i % 300 if status not in ("waiting", "blocked") else None
    finished = T0 - 30 if status in ("completed", "failed", "cancelled") else None
    percent = float(i * 7 % 100) if status == "running" else None
    job = {
        "id": i,
        "name": f"train-{i}",
        "command": ["python", "train.py", str(i)],
        "user": USERS[i % len(USERS)],
        "team": "ml",
        "priority": 10 + i % 3 * 10,
        "priority_override": False,
        "status": status,
        "reason": "exit_code" if status == "failed" else None,
        "message": "exited with code 1" if status == "failed" else "",
        "node": "node-a" if started else None,
        "resources": {"cpus": 1 + i % 4, "mem_mb": 1024, "gpus": 0, "licenses": {}},
        "retry": {"max_attempts": 1, "initial_delay": 5.0, "backoff_factor": 2.0, "max_delay": 600.0},
        "after": [],
        "tags": ["nightly"] if i % 5 == 0 else [],
        "env": {},
        "workdir": None,
        "inputs": [],
        "outputs": [],
        "node_request": None,
        "timeout": None,
        "requires_approval": status == "blocked",
        "attempts": 1 if started else 0,
        "exit_code": 1 if status == "failed" else (0 if finished else None),
        "progress": {
            "percent": percent,
            "step": None,
            "total": None,
            "text": "",
            "eta_seconds": 120.0 if percent else None,
            "updated_at": None,
        },
        "created_at": T0 - 900,
        "updated_at": T0 - 30,
        "started_at": started,
        "finished_at": finished,
        "not_before": None,
        "extra": {},
        "after_when": {},
        "workflow_id": None,
    }
    job.update(extra)
    return job


# A 14-job workflow in 9 execution levels: (name, parents by name, edge conditions not `success`, status,
# timeout). Its critical path (by timeouts) runs fetch-raw … announce, one job per level.
WORKFLOW_SHAPE: tuple[tuple[str, tuple[str, ...], dict[str, str], str, float], ...] = (
    ("fetch-raw", (), {}, "completed", 600),
    ("fetch-labels", (), {}, "completed", 300),
    ("clean-raw", ("fetch-raw",), {}, "completed", 900),
    ("join-datasets", ("clean-raw", "fetch-labels"), {}, "completed", 600),
    ("featurize", ("join-datasets",), {}, "completed", 1800),
    ("profile-data", ("join-datasets",), {}, "failed", 300),
    ("train-resnet-large-with-augmentations", ("featurize",), {}, "running", 14400),
    ("train-baseline", ("featurize",), {}, "completed", 3600),
    ("profile-report", ("profile-data",), {}, "skipped", 300),
    ("alert-oncall", ("profile-data",), {"profile-data": "failure"}, "completed", 60),
    ("evaluate", ("train-resnet-large-with-augmentations", "train-baseline"), {}, "waiting", 1200),
    ("compare-with-production", ("evaluate",), {}, "waiting", 600),
    ("publish-model", ("compare-with-production",), {}, "blocked", 300),
    ("announce", ("publish-model",), {"publish-model": "any"}, "waiting", 60),
)


def workflow_record(workflow_id: int, name: str = "nightly-train", version: str | None = "2") -> dict[str, Any]:
    """A workflow record shaped like `WorkflowRecord.to_dict()`."""
    return {
        "id": workflow_id,
        "name": name,
        "version": version,
        "description": "train, evaluate and publish the nightly model",
        "digest": "0" * 64,
        "submitter": "ann",
        "created_at": T0 - 900,
    }


def workflow_jobs(first_id: int, workflow_id: int) -> list[dict[str, Any]]:
    """`WORKFLOW_SHAPE` as job dicts numbered from `first_id`, carrying `workflow_id`."""
    ids = {name: first_id + n for n, (name, *_rest) in enumerate(WORKFLOW_SHAPE)}
    jobs = []
    for name, parents, when, status, timeout in WORKFLOW_SHAPE:
        job = make_job(
            ids[name],
            status,
            name=name,
            user="ann",
            after=[ids[p] for p in parents],
            after_when={str(ids[p]): condition for p, condition in when.items()},
            timeout=timeout,
            workflow_id=workflow_id,
        )
        if status == "skipped":
            job.update(reason="dependency_failed", message="profile-data failed", started_at=None, node=None)
            job.update(attempts=0, exit_code=None, finished_at=T0 - 30)
        jobs.append(job)
    return jobs


class FakeClient:
    """Implements EngineClient in memory; actions change the jobs and emit events."""

    def __init__(
        self,
        jobs: int | list[dict[str, Any]] = 0,
        role: str = "admin",
        rate: float = 0.0,
        nodes: list[dict[str, Any]] | None = None,
        user: str = "ann",
        workflows: list[dict[str, Any]] | None = None,
    ) -> None:
        self.user = user
        # workflow records (`workflow_record`) by id; their jobs are the jobs carrying the id
        self.workflow_records = {w["id"]: w for w in workflows or []}
        self.role = role
        self.rate = rate
        self._count = jobs if isinstance(jobs, int) else 0
        self.jobs: dict[int, dict[str, Any]] = {} if isinstance(jobs, int) else {j["id"]: j for j in jobs}
        self.removed: set[int] = set()
        self.calls: list[tuple[str, Any]] = []
        self.seq = 0
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._limits = {"max_concurrent": 8, "user_max_concurrent": 4, "team_max_concurrent": 6, "fair_share": True}
        self.nodes_list = (
            nodes
            if nodes is not None
            else [
                {
                    "name": "node-a",
                    "kind": "local",
                    "cores": 16,
                    "used_cores": 6,
                    "mem_mb": 65536,
                    "used_mem_mb": 12288,
                    "running": 3,
                    "reachable": True,
                    "labels": {},
                    "gpu_holders": {},
                    "gpus": [],
                },
            ]
        )
        self.metrics_result: dict[str, Any] = {}  # what `metrics` answers (tests set it)
        self.logs_text: dict[int, str] = {}
        self.stderr_text: dict[int, str] = {}

    def _job(self, i: int) -> dict[str, Any]:
        return self.jobs.get(i) or make_job(i)

    def _all(self) -> list[dict[str, Any]]:
        generated = (make_job(i) for i in range(1, self._count + 1) if i not in self.jobs and i not in self.removed)
        return [*self.jobs.values(), *generated]

    async def snapshot(self, view: str = "full", limit: int | None = None) -> dict[str, Any]:
        jobs = self._all()
        total = len(jobs)
        jobs = jobs if limit is None else sorted(jobs, key=lambda j: j["id"])[:limit]
        records: dict[str, Any] = {"jobs": jobs}
        if view == "rows":
            records = {"columns": list(ROW_COLUMNS), "rows": [record_row(job) for job in jobs]}
        return {
            "instance": "fake",
            "seq": self.seq,
            "total": total,
            **records,
            "limits": limits_result(self._limits),
            "nodes": self.nodes_list,
        }

    async def events(self, since: int | None = None) -> AsyncIterator[Event]:
        rng = random.Random(7)
        if not self.rate:
            while True:
                yield await self._queue.get()
        loop = asyncio.get_running_loop()
        start, sent = loop.time(), 0
        while True:
            await asyncio.sleep(0.01)
            due = int((loop.time() - start) * self.rate) - sent
            sent += due
            for _ in range(due):
                i = rng.randint(1, self._count)
                self.seq += 1
                job = make_job(
                    i,
                    "running",
                    progress={
                        "percent": rng.random() * 100,
                        "step": None,
                        "total": None,
                        "text": "",
                        "eta_seconds": 60.0,
                        "updated_at": None,
                    },
                )
                yield JobChanged(seq=self.seq, record=job)

    def emit(self, job: dict[str, Any]) -> None:
        self.jobs[job["id"]] = job
        self.removed.discard(job["id"])
        self.seq += 1
        self._queue.put_nowait(JobChanged(seq=self.seq, record=dict(job)))

    def remove(self, job_ids: list[int]) -> None:
        """Delete jobs, as the engine's cleanup does, and say so on the event stream."""
        for job_id in job_ids:
            self.jobs.pop(job_id, None)
            self.removed.add(job_id)
        self.seq += 1
        self._queue.put_nowait(JobRemoved(seq=self.seq, job_ids=list(job_ids)))

    async def job(self, job_id: int) -> dict[str, Any]:
        job = self._job(job_id)
        return {
            "job": job,
            "attempts": [],
            "events": [
                {
                    "seq": 1,
                    "job_id": job_id,
                    "at": T0 - 900,
                    "actor": job["user"],
                    "kind": "submitted",
                    "from_status": None,
                    "to_status": "waiting",
                    "reason": None,
                    "message": "",
                }
            ],
            "dependencies": [{"id": d, "name": f"train-{d}", "status": "completed"} for d in job["after"]],
            "position": None,
        }

    async def logs(
        self, job_id: int, stream: str = "stdout", offset: int = 0, limit: int = 65536, attempt: int | None = None
    ) -> dict[str, Any]:
        self.calls.append(("logs", (job_id, stream, offset, limit)))
        data = (self.logs_text if stream == "stdout" else self.stderr_text).get(job_id, "").encode()
        chunk = data[offset : offset + limit]
        return log_chunk_result(job_id, 1, stream, offset, chunk, True, len(data))

    def _need(self, capability: str, verb: str) -> None:
        if not capabilities(Actor(self.user, self.role))[capability]:
            raise PermissionDenied(f"{self.user} ({self.role}) may not {verb} (the fake server refused it).")

    async def _act(self, verb: str, job_id: int, status: str | None, capability: str, **fields: Any) -> dict[str, Any]:
        self.calls.append((verb, job_id))  # it reached the client: the TUI sent it
        self._need(capability, verb)
        job = dict(self._job(job_id), **fields)
        if status:
            job["status"] = status
        self.emit(job)
        return job

    async def cancel(self, job_id: int) -> dict[str, Any]:
        if self._job(job_id)["status"] in ("completed", "failed", "cancelled"):
            raise Conflict(f"job {job_id} has already ended; nothing to cancel.")
        return await self._act("cancel", job_id, "cancelled", "cancel_own")

    async def approve(self, job_id: int) -> dict[str, Any]:
        return await self._act("approve", job_id, "waiting", "approve")

    async def reject(self, job_id: int, reason: str) -> dict[str, Any]:
        return await self._act("reject", job_id, "rejected", "reject", message=reason)

    async def requeue(self, job_id: int) -> dict[str, Any]:
        return await self._act("requeue", job_id, "waiting", "requeue")

    async def set_priority(self, job_id: int, priority: int) -> dict[str, Any]:
        return await self._act("priority", job_id, None, "priority", priority=priority)

    async def submit(
        self,
        specs: list[dict[str, Any]],
        key: str | None = None,
        workflow: dict[str, Any] | None = None,
        environment: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        self.calls.append(("submit", specs))
        self._need("submit", "submit jobs")
        new_id = max([*self.jobs, self._count]) + 1
        job = make_job(new_id, "waiting", name=specs[0].get("name") or specs[0]["command"][0])
        self.emit(job)
        return [job]

    async def plan(self, specs: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(("plan", specs))
        self._need("submit", "submit jobs")
        jobs = [
            {"index": i, "key": s.get("key"), "name": s.get("name"), "node": "node-a", "reason": None, "runnable": True}
            for i, s in enumerate(specs)
        ]
        return {"ok": True, "jobs": jobs}

    async def list_jobs(
        self,
        status: list[str] | None = None,
        limit: int | None = 50,
        include_completed: bool = False,
        user: str | None = None,
    ) -> list[dict[str, Any]]:
        wanted = {s for value in status or [] for s in value.split(",")}
        jobs = [
            j
            for j in sorted(self._all(), key=lambda j: j["id"])
            if (not wanted or j["status"] in wanted)
            and (user is None or j["user"] == user)
            and (include_completed or wanted or j["status"] not in TERMINAL_NAMES)
        ]
        if limit is not None:
            jobs = jobs[-limit:] if limit > 0 else []
        return [dict(j) for j in jobs]

    async def approvals(self) -> list[dict[str, Any]]:
        return [j for j in self._all() if j["status"] == "blocked"]

    async def fairshare(self) -> dict[str, Any]:
        return {"enabled": False, "half_life_hours": 168.0, "weight": 100, "users": [], "teams": []}

    async def wait(self, ids: list[int] | None, timeout: float = 30.0, include_blocked: bool = False) -> dict[str, Any]:
        jobs = {j["id"]: j for j in self._all()}
        wanted = ids if ids is not None else [i for i, j in jobs.items() if j["status"] not in TERMINAL_NAMES]
        pending = [i for i in wanted if i in jobs and jobs[i]["status"] not in TERMINAL_NAMES]
        return wait_result(not pending, pending, {i: jobs[i]["status"] for i in wanted if i in jobs})

    async def stats(self) -> dict[str, Any]:
        by_status: dict[str, int] = {}
        for job in self._all():
            by_status[job["status"]] = by_status.get(job["status"], 0) + 1
        return {"by_status": by_status, **self._limits}

    async def me(self) -> dict[str, Any]:
        actor = Actor(self.user, self.role)
        return {"user": self.user, "role": self.role, "team": None, "capabilities": capabilities(actor)}

    async def position(self, job_id: int) -> int | None:
        return position_result(job_id, None)["position"]

    async def limits(self) -> dict[str, Any]:
        return limits_result(self._limits)

    async def set_limits(self, changes: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("set_limits", changes))
        self._need("set_limits", "change concurrency limits")
        self._limits.update({k: v for k, v in changes.items() if v is not None})
        return limits_result(self._limits)

    async def cleanup(self, days: float) -> int:
        self.calls.append(("cleanup", days))
        self._need("cleanup", "clean up old jobs")
        ended = [j["id"] for j in self._all() if j["status"] in TERMINAL_NAMES]
        if ended:
            self.remove(ended)
        return cleanup_result(len(ended))["deleted"]

    async def nodes(self) -> list[dict[str, Any]]:
        return self.nodes_list

    async def metrics(self, since: str = "7d", by: str | None = None) -> dict[str, Any]:
        self.calls.append(("metrics", since))
        return self.metrics_result

    async def system_status(self, include_allocation: bool = False) -> dict[str, Any]:
        nodes = [{"name": n["name"], "kind": n["kind"], "gpus": n.get("gpus") or []} for n in self.nodes_list]
        return {"timestamp": T0, "gpus": [], "nodes": nodes} if include_allocation else {"timestamp": T0, "gpus": []}

    def _workflow_jobs(self, workflow_id: int) -> tuple[WorkflowRecord, list[Job]]:
        """As `engine.service.workflow_reads.workflow_jobs`: the record and its jobs, in id order."""
        record = self.workflow_records.get(workflow_id)
        if record is None:
            raise NotFound(f"workflow {workflow_id} does not exist.")
        jobs = sorted((j for j in self._all() if j.get("workflow_id") == workflow_id), key=lambda j: j["id"])
        return WorkflowRecord(**record), [Job.from_dict(j) for j in jobs]

    async def workflows(self) -> list[dict[str, Any]]:
        self.calls.append(("workflows", None))
        summaries = [workflow_summary(*self._workflow_jobs(i)) for i in sorted(self.workflow_records)]
        return workflows_result(summaries)["workflows"]

    async def workflow(self, workflow_id: int) -> dict[str, Any]:
        """Built as `engine.workflows.detail.workflow_detail` builds it, from the same pure parts."""
        self.calls.append(("workflow", workflow_id))
        record, jobs = self._workflow_jobs(workflow_id)
        analysis = analyze(graph_of(jobs), title=record.name)
        level_of = {int(job_id): n for n, level in enumerate(analysis.levels) for job_id in level}
        return workflow_detail_result(
            workflow_summary(record, jobs),
            [workflow_job(job, level_of.get(job.id)) for job in jobs],
            [[int(job_id) for job_id in level] for level in analysis.levels],
            [int(job_id) for job_id in analysis.critical_path],
            analysis.critical_seconds,
        )

    async def cancel_workflow(self, workflow_id: int) -> dict[str, Any]:
        self.calls.append(("cancel_workflow", workflow_id))
        return await self.workflow(workflow_id)

    async def requeue_workflow(self, workflow_id: int) -> dict[str, Any]:
        self.calls.append(("requeue_workflow", workflow_id))
        return await self.workflow(workflow_id)

    async def close(self) -> None:
        return None


if TYPE_CHECKING:
    _checked: EngineClient = FakeClient()  # mypy checks the fake against the client protocol


def fake_app(client: FakeClient, **kwargs: Any) -> JobTuiApp:
    """A deterministic app over `client`: fixed clock, no periodic timers."""
    from tui.app import JobTuiApp

    kwargs.setdefault("theme", "dark")
    return JobTuiApp(client, clock=lambda: T0, live=False, **kwargs)


async def loaded(pilot, count: int | None = None) -> None:
    """Wait until the first snapshot is in the table (and `count` jobs, when given)."""
    app = pilot.app
    for _ in range(400):
        if app.index.rows and (count is None or len(app.index.rows) >= count):
            break
        await pilot.pause(0.01)
    await pilot.pause()
