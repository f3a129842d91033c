"""JSON-shaped views shared by the HTTP API and the in-process client: job detail and log chunks."""

from __future__ import annotations

from typing import Any

from engine.errors import ValidationError
from engine.service import JobService
from engine.wrapper import STDERR, STDOUT


async def job_detail(service: JobService, job_id: int) -> dict[str, Any]:
    engine = service.engine
    job = engine.get(job_id)
    attempts, events = await engine.history(job_id)
    parents = [
        {"id": p, "name": engine.jobs[p].name, "status": engine.jobs[p].status.value} if p in engine.jobs
        else {"id": p, "name": None, "status": "cleaned up"}
        for p in job.after
    ]
    return {
        "job": job.to_dict(),
        "attempts": [a.to_dict() for a in attempts],
        "events": [e.to_dict() for e in events],
        "dependencies": parents,
        "position": engine.ready.position(job_id),
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
        return {"job_id": job_id, "attempt": None, "stream": stream, "offset": offset, "data": "", "done": job.is_terminal}
    executor = engine.executors.get(attempt.node)
    data = await executor.read(attempt, stream, offset, min(limit, 1 << 20)) if executor else b""
    live = engine.attempts.get(job_id) is attempt
    return {
        "job_id": job_id,
        "attempt": attempt.number,
        "stream": stream,
        "offset": offset + len(data),
        "data": data.decode("utf-8", "replace"),
        "done": not data and not live,
    }
