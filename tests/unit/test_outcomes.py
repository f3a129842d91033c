"""What an attempt's outcome means for its job: done, retry later (with back-off), or failed."""

from __future__ import annotations

from engine.core.outcomes import decide
from engine.executors.base import Outcome
from engine.models import Job, JobStatus, Reason, RetryPolicy

NOW = 1000.0


def job(attempts: int = 1, max_attempts: int = 1) -> Job:
    return Job(
        id=1,
        name="j",
        command=["x"],
        user="u",
        attempts=attempts,
        retry=RetryPolicy(max_attempts=max_attempts, initial_delay=5.0, backoff_factor=2.0),
    )


def test_exit_zero_completes() -> None:
    d = decide(job(), Outcome(0), NOW)
    assert (d.status, d.reason, d.not_before) == (JobStatus.COMPLETED, None, None)


def test_non_zero_exit_fails_with_the_code() -> None:
    d = decide(job(), Outcome(3), NOW)
    assert d.status == JobStatus.FAILED and d.reason == Reason.EXIT_CODE
    assert "exited with code 3" in d.message


def test_exit_127_means_command_not_found() -> None:
    d = decide(job(), Outcome(127), NOW)
    assert d.status == JobStatus.FAILED and d.reason == Reason.LAUNCH_ERROR
    assert "not found" in d.message and "127" in d.message


def test_exit_126_means_cannot_use_workdir_or_command() -> None:
    d = decide(job(), Outcome(126), NOW)
    assert d.reason == Reason.LAUNCH_ERROR and "working directory" in d.message


def test_signals_are_named() -> None:
    d = decide(job(), Outcome(128 + 15), NOW)
    assert d.reason == Reason.SIGNAL and "SIGTERM" in d.message
    d = decide(job(), Outcome(137), NOW)
    assert d.reason == Reason.SIGNAL and "SIGKILL" in d.message and "out of memory" in d.message


def test_failure_with_attempts_left_retries_after_back_off() -> None:
    d = decide(job(attempts=1, max_attempts=3), Outcome(1), NOW)
    assert d.status == JobStatus.WAITING and d.kind == "retry" and d.reason == Reason.EXIT_CODE
    assert d.not_before == NOW + 5.0
    assert "retry 2 of 3" in d.message
    d = decide(job(attempts=2, max_attempts=3), Outcome(1), NOW)
    assert d.not_before == NOW + 10.0


def test_last_attempt_fails_for_good() -> None:
    d = decide(job(attempts=3, max_attempts=3), Outcome(1), NOW)
    assert d.status == JobStatus.FAILED and d.not_before is None


def test_cancelled_is_never_retried() -> None:
    d = decide(job(attempts=1, max_attempts=5), Outcome(None, Reason.CANCELLED, "cancelled by ann"), NOW)
    assert d.status == JobStatus.CANCELLED and d.message == "cancelled by ann"


def test_executor_reasons_pass_through() -> None:
    d = decide(job(), Outcome(None, Reason.TIMEOUT, "ran longer than its timeout of 5 s"), NOW)
    assert d.status == JobStatus.FAILED and d.reason == Reason.TIMEOUT and "timeout" in d.message
    d = decide(job(), Outcome(None, Reason.LOST, "vanished"), NOW)
    assert d.reason == Reason.LOST
    d = decide(job(), Outcome(0, Reason.RESULTS_MISSING, "out.dat was not produced"), NOW)
    assert d.status == JobStatus.MISSING and "out.dat" in d.message


def test_infrastructure_failures_are_retried() -> None:
    d = decide(job(attempts=1, max_attempts=2), Outcome(None, Reason.NODE_FAILURE, "node down"), NOW)
    assert d.status == JobStatus.WAITING and d.reason == Reason.NODE_FAILURE
