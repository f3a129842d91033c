"""The read verbs shared by the HTTP API and the in-process client: snapshot, job detail, log chunks, waiting
for jobs to end, and the status filter of a listing.

Each answer is built by its engine.wire encoder, so both clients get the same shape.
"""

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
from engine.wire import dependency_record, detail_result, log_chunk_result, snapshot_result, wait_result

MAX_LOG_CHUNK = 1 << 20  # bytes of output in one answer
MAX_LOG_OFFSET = 2**40  # 1 TiB: past any log, and an offset every file system seeks to (ext4: to 16 TiB)


def snapshot(service: JobService, view: str = "full", limit: int | None = None) -> dict[str, Any]:
    """Everything a client needs to start following events: jobs (full records or table rows) and `seq`.

    With `limit`, only the first jobs by id (a first screen to show while the whole set loads).
    """
    engine = service.engine
    jobs = engine.jobs() if limit is None else islice(engine.jobs(), min(max(0, limit), engine.job_count))
    return snapshot_result(
        instance=engine.instance,
        seq=engine.event_seq,
        total=engine.job_count,
        jobs=jobs,
        view=view,
        limits=service.limits(),
        nodes=service.nodes(),
    )


async def job_detail(service: JobService, job_id: int) -> dict[str, Any]:
    engine = service.engine
    job = engine.get(job_id)
    attempts, events = await engine.history(job_id)
    parents = [dependency_record(p, engine.find(p), job.after_when.get(p, "success")) for p in job.after]
    estimate = engine.estimate(job)
    return detail_result(
        job, attempts, events, parents, engine.queue_position(job_id), engine.waiting_of(job),
        estimate.to_dict() if estimate is not None else None,
    )  # fmt: skip


async def log_chunk(
    service: JobService, job_id: int, stream: str, offset: int, limit: int, attempt_number: int | None
) -> dict[str, Any]:
    """Up to `limit` bytes of a job's output from `offset`, and the stream's `size`; `done` once no more can come.

    A job, or a numbered attempt of it, that does not exist is NotFound.
    """
    if stream not in (STDOUT, STDERR):
        raise ValidationError(f"unknown stream {stream!r}; use stdout or stderr.")
    if not 0 <= offset <= MAX_LOG_OFFSET or limit <= 0:
        raise ValidationError(f"offset must be 0 to {MAX_LOG_OFFSET} and limit more than 0.")
    engine = service.engine
    job = engine.get(job_id)
    attempt = await engine.attempt_of(job_id, attempt_number)
    if attempt is None and attempt_number is not None:
        raise NotFound(
            f"job {job_id} has no attempt {attempt_number} (it has had {job.attempts}); "
            f"`jobtui show {job_id}` lists its attempts."
        )
    if attempt is None:
        return log_chunk_result(job_id, None, stream, offset, b"", job.is_terminal, 0)
    executor = engine.executor_of(job, attempt.node)
    if executor is None:
        return log_chunk_result(job_id, attempt.number, stream, offset, b"", not engine.is_live(attempt), 0)
    want = min(limit, MAX_LOG_CHUNK)
    # the size comes with the bytes, in the same operation (a stat here, the same round trip on a remote node)
    out = await executor.read_sized(attempt, stream, offset, want)
    done = not engine.is_live(attempt) and len(out.data) < want  # the attempt has ended and this is its end
    return log_chunk_result(job_id, attempt.number, stream, offset, out.data, done, out.size)


async def wait_for_jobs(
    engine: Engine, ids: list[int] | None, timeout: float, include_blocked: bool = False
) -> dict[str, Any]:
    """Wait until the jobs have ended (all unended ones when `ids` is None); costs a set lookup per event.

    A job awaiting approval, or running after one that does, is not waited for (it may wait for days): it is
    answered in `blocked`, and the wait is done once every other job has ended. `include_blocked` waits for
    those too.
    """
    if ids is not None:
        missing = [i for i in ids if engine.find(i) is None]
        if missing:
            raise NotFound(f"no such job(s): {', '.join(map(str, missing))}; `jobtui list` shows the jobs there are.")
    wanted = set(ids) if ids is not None else {j.id for j in engine.jobs() if not j.is_terminal}
    sub = engine.subscribe()
    settled = _ended if include_blocked else lambda job: _ended(job) or _held_for_approval(engine, job)
    pending = {i for i in wanted if not settled(engine.find(i))}
    try:
        async with asyncio.timeout(timeout):
            while pending or (pending := {i for i in wanted if not settled(engine.find(i))}):
                events = [await sub.queue.get()]
                while not sub.queue.empty():  # drain: one wake-up per burst, not per event
                    events.append(sub.queue.get_nowait())
                for event in events:
                    key = event.key
                    if key is not None and key in pending:  # a set lookup; the job's record is never read here
                        if settled(engine.find(key)):
                            pending.discard(key)
                    elif isinstance(event, (Resync, JobRemoved)):
                        pending = {i for i in pending if not settled(engine.find(i))}
    except TimeoutError:
        pass
    finally:
        engine.unsubscribe(sub)
    statuses = {i: job.status.value for i in sorted(wanted) if (job := engine.find(i)) is not None}
    blocked = [] if include_blocked else [i for i in wanted if _held_for_approval(engine, engine.find(i))]
    return wait_result(not pending, pending, statuses, blocked)


def _ended(job: Job | None) -> bool:
    return job is None or job.is_terminal


def _held_for_approval(engine: Engine, job: Job | None, depth: int = 0) -> bool:
    """Does `job` await approval, or wait for a job that does (through its unended parents)?"""
    if job is None or job.is_terminal or depth > 100:
        return False
    if job.status == JobStatus.BLOCKED:
        return True
    if job.status != JobStatus.WAITING:
        return False
    return any(_held_for_approval(engine, engine.find(p), depth + 1) for p in job.after)


def parse_statuses(values: list[str] | None) -> set[JobStatus] | None:
    """`["running,failed", "waiting"]` -> statuses; `pending`/`queued` mean waiting."""
    if not values:
        return None
    names = {v for value in values for v in value.split(",") if v}
    aliases = {"pending": "waiting", "queued": "waiting"}
    known = {s.value for s in JobStatus}
    unknown = sorted(n for n in names if aliases.get(n, n) not in known)
    if unknown:
        listed = ", ".join(repr(n) for n in unknown)
        choices = ", ".join(s.value for s in JobStatus)
        raise ValidationError(f"unknown status {listed}; use one of: {choices} (or pending, queued).")
    return {JobStatus(aliases.get(n, n)) for n in names}
