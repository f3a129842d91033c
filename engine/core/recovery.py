"""Re-attaching, on start, the jobs an earlier engine left starting or running (DESIGN §5)."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from engine.executors.base import Executor, LaunchSpec, Liveness, Outcome
from engine.models import SYSTEM, Actor, Attempt, Job, JobStatus, Reason

log = logging.getLogger(__name__)


class RecoveryHost(Protocol):
    """What recovery may ask of the engine."""

    def executor_of(self, job: Job, node: str) -> Executor | None: ...
    def transition(self, job: Job, actor: Actor, kind: str, status: JobStatus | None = None, **fields: Any) -> None: ...
    def hold(self, job: Job, attempt: Attempt) -> None: ...
    def let_go(self, job: Job) -> None: ...
    def attempt_finished(self, job_id: int, attempt: Attempt, outcome: Outcome) -> None: ...
    def spawn_runner(self, job: Job, attempt: Attempt, spec: LaunchSpec | None) -> None: ...


async def reattach(host: RecoveryHost, job: Job, attempt: Attempt | None) -> None:
    """Take back a job that was active when the last engine stopped: follow it, finish it, or relaunch it."""
    executor = host.executor_of(job, attempt.node) if attempt else None
    if attempt is None or executor is None:
        why = "its attempt was never recorded" if attempt is None else f"node {attempt.node!r} is no longer configured"
        host.transition(job, SYSTEM, "lost", JobStatus.FAILED, reason=Reason.LOST, message=why)
        return
    host.hold(job, attempt)
    liveness = await executor.probe(attempt)
    never_ran = attempt.pid is None and attempt.external_id is None and attempt.status != "running"
    if liveness == Liveness.LOST and never_ran:
        host.let_go(job)
        job.attempts -= 1
        msg = "the engine stopped before the launch; launching again"
        host.transition(job, SYSTEM, "relaunch", JobStatus.WAITING, message=msg)
        return
    if liveness == Liveness.LOST:
        gone = "the job's process vanished without an exit code"
        if attempt.pid is None and attempt.external_id is None:  # it ran in the engine (an http request)
            gone = "the engine stopped while the attempt ran in it; its result is unknown"
        vanished = Outcome(None, Reason.LOST, gone)
        host.attempt_finished(job.id, attempt, vanished)
        return
    if job.status == JobStatus.STARTING:
        host.transition(job, SYSTEM, "running", JobStatus.RUNNING)
    host.spawn_runner(job, attempt, None)
    log.info("re-attached job %s (pid %s, %s)", job.id, attempt.pid, liveness.value)
