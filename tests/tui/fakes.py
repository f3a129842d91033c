"""An in-memory EngineClient for TUI tests, snapshots and the benchmark: deterministic jobs, optional
event stream at a fixed rate, role checks shaped like the server's.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from engine.errors import Conflict, PermissionDenied
from engine.service.views import ROW_COLUMNS

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
    }
    job.update(extra)
    return job


class FakeClient:
    """Implements the EngineClient calls the TUI uses; actions change the jobs and emit events."""

    def __init__(
        self,
        jobs: int | list[dict[str, Any]] = 0,
        role: str = "admin",
        rate: float = 0.0,
        nodes: list[dict[str, Any]] | None = None,
        user: str = "ann",
    ) -> None:
        self.user = user
        self.role = role
        self.rate = rate
        self._count = jobs if isinstance(jobs, int) else 0
        self.jobs: dict[int, dict[str, Any]] = {} if isinstance(jobs, int) else {j["id"]: j for j in jobs}
        self.calls: list[tuple[str, Any]] = []
        self.seq = 0
        self._queue: asyncio.Queue[tuple[int, str, dict[str, Any]]] = asyncio.Queue()
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
                },
            ]
        )
        self.logs_text: dict[int, str] = {}

    def _job(self, i: int) -> dict[str, Any]:
        return self.jobs.get(i) or make_job(i)

    async def snapshot(self, view: str = "full", limit: int | None = None) -> dict[str, Any]:
        jobs = list(self.jobs.values()) + [make_job(i) for i in range(1, self._count + 1)]
        total = len(jobs)
        jobs = jobs if limit is None else sorted(jobs, key=lambda j: j["id"])[:limit]
        records: dict[str, Any] = {"jobs": jobs}
        if view == "rows":
            records = {"columns": list(ROW_COLUMNS), "rows": [_as_row(job) for job in jobs]}
        return {
            "instance": "fake",
            "seq": self.seq,
            "total": total,
            **records,
            "limits": {"max_concurrent": 8, "user_max_concurrent": 4, "team_max_concurrent": 6, "fair_share": True},
            "nodes": self.nodes_list,
        }

    async def events(self, since: int | None = None):
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
                yield self.seq, "job_changed", job

    def emit(self, job: dict[str, Any]) -> None:
        self.jobs[job["id"]] = job
        self.seq += 1
        self._queue.put_nowait((self.seq, "job_changed", dict(job)))

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

    async def logs(self, job_id, stream="stdout", offset=0, limit=65536, attempt=None) -> dict[str, Any]:
        data = self.logs_text.get(job_id, "").encode() if stream == "stdout" else b""
        chunk = data[offset : offset + limit]
        return {"data": chunk.decode(), "offset": offset + len(chunk), "done": True}

    def _need(self, verb: str, *roles: str) -> None:
        if self.role not in roles:
            raise PermissionDenied(f"{self.user} ({self.role}) may not {verb}: it needs the {' or '.join(roles)} role.")

    async def _act(self, verb: str, job_id: int, status: str | None, roles: tuple[str, ...], **fields: Any):
        self._need(verb, *roles)
        self.calls.append((verb, job_id))
        job = dict(self._job(job_id), **fields)
        if status:
            job["status"] = status
        self.emit(job)
        return job

    async def cancel(self, job_id: int) -> dict[str, Any]:
        if self._job(job_id)["status"] in ("completed", "failed", "cancelled"):
            raise Conflict(f"job {job_id} has already ended; nothing to cancel.")
        return await self._act("cancel", job_id, "cancelled", ("admin", "lead", "researcher"))

    async def approve(self, job_id: int) -> dict[str, Any]:
        return await self._act("approve", job_id, "waiting", ("admin",))

    async def reject(self, job_id: int, reason: str) -> dict[str, Any]:
        return await self._act("reject", job_id, "rejected", ("admin",), message=reason)

    async def requeue(self, job_id: int) -> dict[str, Any]:
        return await self._act("requeue", job_id, "waiting", ("admin", "lead", "researcher"))

    async def set_priority(self, job_id: int, priority: int) -> dict[str, Any]:
        return await self._act("priority", job_id, None, ("admin", "lead"), priority=priority)

    async def submit(self, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.calls.append(("submit", specs))
        new_id = max([*self.jobs, self._count]) + 1
        job = make_job(new_id, "waiting", name=specs[0].get("name") or specs[0]["command"][0])
        self.emit(job)
        return [job]

    async def me(self) -> dict[str, Any]:
        return {"user": self.user, "role": self.role}

    async def nodes(self) -> list[dict[str, Any]]:
        return self.nodes_list

    async def close(self) -> None:
        return None


def fake_app(client: FakeClient, **kwargs: Any):
    """A deterministic app over `client`: fixed clock, no GPU sampling, no periodic timers."""
    from tui.app import JobTuiApp

    kwargs.setdefault("theme", "dark")
    return JobTuiApp(client, clock=lambda: T0, gpu_sampler=lambda: [], live=False, **kwargs)


async def loaded(pilot, count: int | None = None) -> None:
    """Wait until the first snapshot is in the table (and `count` jobs, when given)."""
    app = pilot.app
    for _ in range(400):
        if app.index.rows and (count is None or len(app.index.rows) >= count):
            break
        await pilot.pause(0.01)
    await pilot.pause()


def _as_row(job: dict[str, Any]) -> list[Any]:
    """A job dict as the engine's compact table row (engine.views.ROW_COLUMNS)."""
    p = job.get("progress") or {}
    return [
        job["id"],
        job["name"],
        job["user"],
        job.get("team"),
        job["status"],
        job["priority"],
        job.get("node"),
        p.get("percent"),
        p.get("step"),
        p.get("total"),
        p.get("text") or "",
        p.get("eta_seconds"),
        job.get("attempts", 0),
        job.get("exit_code"),
        job.get("reason"),
        job.get("created_at") or 0.0,
        job.get("started_at"),
        job.get("finished_at"),
        job.get("tags") or [],
    ]
