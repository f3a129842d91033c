"""JSON-shaped views shared by the HTTP API and the in-process client: job detail and log chunks."""

from __future__ import annotations

import asyncio
from itertools import islice
from typing import Any

from engine.core.engine import Engine
from engine.errors import NotFound, ValidationError
from engine.events import JobRemoved, Resync
from engine.executors.wrapper import STDERR, STDOUT
from engine.models import Job, JobStatus
from engine.service.verbs import JobService

# The compact per-job record a job table needs, in this order (`GET /api/snapshot?view=rows`):
# a 100,000-job snapshot is ~5x smaller and faster to encode and decode than full job records.
ROW_COLUMNS = (
    "id", "name", "user", "team", "status", "priority", "node", "percent", "step", "total", "progress_text",
    "eta", "attempts", "exit_code", "reason", "created_at", "started_at", "finished_at", "tags",
)  # fmt: skip


def table_row(job: Job) -> list[Any]:
    p = job.progress
    return [
        job.id, job.name, job.user, job.team, job.status.value, job.priority, job.node, p.percent, p.step,
        p.total, p.text, p.eta_seconds, job.attempts, job.exit_code, job.reason.value if job.reason else None,
        job.created_at, job.started_at, job.finished_at, job.tags,
    ]  # fmt: skip


def snapshot(service: JobService, view: str = "full", limit: int | None = None) -> dict[str, Any]:
    """Everything a client needs to start following events: jobs (full records or table rows) and `seq`.

    With `limit`, only the first jobs by id (a first screen to show while the whole set loads).
    """
    engine = service.engine
    jobs = engine.jobs() if limit is None else islice(engine.jobs(), max(0, limit))
    data: dict[str, Any] = {"instance": engine.instance, "seq": engine.event_seq, "total": engine.job_count}
    if view == "rows":
        data["columns"] = list(ROW_COLUMNS)
        data["rows"] = [table_row(job) for job in jobs]
    elif view == "full":
        data["jobs"] = [job.to_dict() for job in jobs]
    else:
        raise ValidationError(f"unknown snapshot view {view!r}; use full or rows.")
    data["limits"] = service.limits()
    data["nodes"] = service.nodes()
    return data


async def job_detail(service: JobService, job_id: int) -> dict[str, Any]:
    engine = service.engine
    job = engine.get(job_id)
    attempts, events = await engine.history(job_id)
    parents = []
    for parent_id in job.after:
        parent = engine.find(parent_id)
        if parent is None:
            parents.append({"id": parent_id, "name": None, "status": "cleaned up"})
        else:
            parents.append({"id": parent_id, "name": parent.name, "status": parent.status.value})
    return {
        "job": job.to_dict(),
        "attempts": [a.to_dict() for a in attempts],
        "events": [e.to_dict() for e in events],
        "dependencies": parents,
        "position": engine.queue_position(job_id),
    }


async def log_chunk(
    service: JobService, job_id: int, stream: str, offset: int, limit: int, attempt_number: int | None
) -> dict[str, Any]:
    """Up to `limit` bytes of a job's output from `offset`; `done` once no more can come."""
    if stream not in (STDOUT, STDERR):
        raise ValidationError(f"unknown stream {stream!r}; use stdout or stderr.")
    if offset < 0 or limit <= 0:
        raise ValidationError("offset must be 0 or more and limit more than 0.")
    engine = service.engine
    job = engine.get(job_id)
    attempt = await engine.attempt_of(job_id, attempt_number)
    if attempt is None:
        return {
            "job_id": job_id,
            "attempt": None,
            "stream": stream,
            "offset": offset,
            "data": "",
            "done": job.is_terminal,
        }
    executor = engine.executor_for(attempt.node)
    want = min(limit, 1 << 20)
    data = await executor.read(attempt, stream, offset, want) if executor else b""
    live = engine.is_live(attempt)
    return {
        "job_id": job_id,
        "attempt": attempt.number,
        "stream": stream,
        "offset": offset + len(data),
        "data": data.decode("utf-8", "replace"),
        "done": not live and len(data) < want,  # the attempt has ended and this is the end of its output
    }


async def wait_for_jobs(engine: Engine, ids: list[int] | None, timeout: float) -> dict[str, Any]:
    """Wait until the jobs have ended (all unended ones when `ids` is None); costs a set lookup per event."""
    if ids is not None:
        missing = [i for i in ids if engine.find(i) is None]
        if missing:
            raise NotFound(f"no such job(s): {', '.join(map(str, missing))}; `jobtui list` shows the jobs there are.")
    wanted = set(ids) if ids is not None else {j.id for j in engine.jobs() if not j.is_terminal}
    sub = engine.subscribe()
    pending = {i for i in wanted if not _ended(engine.find(i))}
    try:
        async with asyncio.timeout(timeout):
            while pending:
                events = [await sub.queue.get()]
                while not sub.queue.empty():  # drain: one wake-up per burst, not per event
                    events.append(sub.queue.get_nowait())
                for event in events:
                    key = event.key
                    if key is not None and key in pending:  # a set lookup; the job's record is never read here
                        if _ended(engine.find(key)):
                            pending.discard(key)
                    elif isinstance(event, (Resync, JobRemoved)):
                        pending = {i for i in pending if not _ended(engine.find(i))}
    except TimeoutError:
        pass
    finally:
        engine.unsubscribe(sub)
    statuses = {i: job.status.value for i in sorted(wanted) if (job := engine.find(i)) is not None}
    return {"done": not pending, "pending": sorted(pending), "statuses": statuses}


def _ended(job: Job | None) -> bool:
    return job is None or job.is_terminal


def parse_statuses(values: list[str] | None) -> set[JobStatus] | None:
    """`["running,failed", "waiting"]` -> statuses; `pending`/`queued` mean waiting."""
    if not values:
        return None
    names = {v for value in values for v in value.split(",") if v}
    aliases = {"pending": "waiting", "queued": "waiting"}
    try:
        return {JobStatus(aliases.get(n, n)) for n in names}
    except ValueError as e:
        known = ", ".join(s.value for s in JobStatus)
        raise ValidationError(f"unknown status in {sorted(names)}; use one of: {known}.") from e
