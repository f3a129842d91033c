"""Pure decision: what an attempt's outcome means for its job (done, retry later, or failed)."""

from __future__ import annotations

import signal
from dataclasses import dataclass

from engine.executors.base import Outcome
from engine.executors.wrapper import EXIT_CANNOT_CD, EXIT_NOT_FOUND
from engine.models import Job, JobStatus, Reason

# Failures a person caused or that rerunning cannot fix are never retried automatically.
_NOT_RETRIED = frozenset({Reason.CANCELLED, Reason.DEPENDENCY_FAILED, Reason.REJECTED})


@dataclass(slots=True, frozen=True)
class Decision:
    status: JobStatus
    reason: Reason | None
    message: str
    not_before: float | None = None
    kind: str = "finished"


def decide(job: Job, outcome: Outcome, now: float) -> Decision:
    if outcome.reason == Reason.CANCELLED:
        return Decision(JobStatus.CANCELLED, Reason.CANCELLED, outcome.message or "cancelled")
    if outcome.reason is None and outcome.exit_code == 0:
        return Decision(JobStatus.COMPLETED, None, "")
    if outcome.reason == Reason.RESULTS_MISSING:
        return Decision(JobStatus.MISSING, Reason.RESULTS_MISSING, outcome.message)
    reason, message = _failure(outcome)
    if reason not in _NOT_RETRIED and job.attempts < job.retry.max_attempts:
        delay = job.retry.delay_after(job.attempts)
        note = f"{message}; retry {job.attempts + 1} of {job.retry.max_attempts} in {delay:g} s"
        return Decision(JobStatus.WAITING, reason, note, not_before=now + delay, kind="retry")
    return Decision(JobStatus.FAILED, reason, message)


def _failure(outcome: Outcome) -> tuple[Reason, str]:
    code = outcome.exit_code
    if outcome.reason is not None:
        return outcome.reason, outcome.message or outcome.reason.value
    if code == EXIT_NOT_FOUND:
        return Reason.LAUNCH_ERROR, "exit code 127: the command was not found on the node (see stderr)"
    if code == EXIT_CANNOT_CD:
        return Reason.LAUNCH_ERROR, "exit code 126: the working directory or command could not be used (see stderr)"
    if code is not None and code > 128:
        sig = code - 128
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        if sig == signal.SIGKILL:
            return Reason.SIGNAL, f"killed by {name} (exit code {code}; out of memory is a common cause)"
        return Reason.SIGNAL, f"killed by {name} (exit code {code})"
    return Reason.EXIT_CODE, f"exited with code {code}"
