"""Re-attaching, on start, the jobs an earlier engine left starting or running (DESIGN §5)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from engine.executors.base import Liveness, Outcome
from engine.models import SYSTEM, Attempt, Job, JobStatus, Reason

if TYPE_CHECKING:
    from engine.core.engine import Engine

log = logging.getLogger(__name__)


async def reattach(engine: Engine, job: Job, attempt: Attempt | None) -> None:
    """Take back a job that was active when the last engine stopped: follow it, finish it, or relaunch it."""
    executor = engine.executors.get(attempt.node) if attempt else None
    if attempt is None or executor is None:
        why = "its attempt was never recorded" if attempt is None else f"node {attempt.node!r} is no longer configured"
        engine.store.queue(engine.update(job, SYSTEM, "lost", status=JobStatus.FAILED, reason=Reason.LOST, message=why))
        return
    engine.attempts[job.id] = attempt
    engine.ledger.occupy(job, attempt)
    liveness = await executor.probe(attempt)
    if liveness == Liveness.LOST and attempt.pid is None and attempt.external_id is None:
        engine.ledger.release(job, engine.attempts.pop(job.id))
        job.attempts -= 1
        msg = "the engine stopped before the launch; launching again"
        engine.store.queue(engine.update(job, SYSTEM, "relaunch", status=JobStatus.WAITING, message=msg))
        return
    if liveness == Liveness.LOST:
        engine.attempt_finished(
            job.id, attempt, Outcome(None, Reason.LOST, "the job's process vanished without an exit code")
        )
        return
    if job.status == JobStatus.STARTING:
        engine.store.queue(engine.update(job, SYSTEM, "running", status=JobStatus.RUNNING))
    engine.spawn_runner(job, attempt, None)
    log.info("re-attached job %s (pid %s, %s)", job.id, attempt.pid, liveness.value)
