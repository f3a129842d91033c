"""Job states: the one legal-transition function, retry back-off, records round-tripping."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from engine.models import (
    ACTIVE,
    QUEUED,
    TERMINAL,
    Job,
    JobStatus,
    Progress,
    Reason,
    Resources,
    RetryPolicy,
    SharedParts,
    can_transition,
)

S = JobStatus
LEGAL = {
    (S.BLOCKED, S.WAITING),
    (S.BLOCKED, S.REJECTED),
    (S.BLOCKED, S.CANCELLED),
    (S.BLOCKED, S.SKIPPED),
    (S.WAITING, S.STARTING),
    (S.WAITING, S.CANCELLED),
    (S.WAITING, S.SKIPPED),
    (S.WAITING, S.BLOCKED),
    (S.STARTING, S.RUNNING),
    (S.STARTING, S.FAILED),
    (S.STARTING, S.CANCELLED),
    (S.STARTING, S.WAITING),
    (S.RUNNING, S.COMPLETED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.MISSING),
    (S.RUNNING, S.CANCELLED),
    (S.RUNNING, S.WAITING),
    # requeue / rerun by a person: every ended state but rejected goes back to the queue
    *(
        (end, back)
        for end in (S.COMPLETED, S.FAILED, S.MISSING, S.CANCELLED, S.SKIPPED)
        for back in (S.WAITING, S.BLOCKED)
    ),
}


@pytest.mark.parametrize("old,new", sorted(LEGAL))
def test_legal_transitions_are_allowed(old: JobStatus, new: JobStatus) -> None:
    assert can_transition(old, new)


@pytest.mark.parametrize("old,new", [pair for pair in itertools.product(JobStatus, JobStatus) if pair not in LEGAL])
def test_every_other_transition_is_refused(old: JobStatus, new: JobStatus) -> None:
    assert not can_transition(old, new)


def test_named_illegal_transitions() -> None:
    assert not can_transition(S.WAITING, S.COMPLETED)  # never ran
    assert not can_transition(S.BLOCKED, S.STARTING)  # approval first
    assert not can_transition(S.REJECTED, S.WAITING)  # a rejected job is submitted again, not requeued
    assert not can_transition(S.COMPLETED, S.RUNNING)


def test_state_sets_partition_the_states() -> None:
    assert set(JobStatus) == QUEUED | ACTIVE | TERMINAL
    assert not (QUEUED & ACTIVE) and not (QUEUED & TERMINAL) and not (ACTIVE & TERMINAL)


@pytest.mark.parametrize("attempt,expected", [(1, 5.0), (2, 10.0), (3, 20.0), (4, 40.0), (10, 600.0), (0, 5.0)])
def test_retry_delay_grows_exponentially_up_to_the_cap(attempt: int, expected: float) -> None:
    policy = RetryPolicy(max_attempts=20, initial_delay=5.0, backoff_factor=2.0, max_delay=600.0)
    assert policy.delay_after(attempt) == expected


def test_retry_delay_with_factor_one_is_constant() -> None:
    policy = RetryPolicy(max_attempts=5, initial_delay=3.0, backoff_factor=1.0)
    assert [policy.delay_after(n) for n in (1, 2, 3)] == [3.0, 3.0, 3.0]


def test_job_round_trips_through_its_dict() -> None:
    job = Job(
        id=7,
        name="fem",
        command=["abaqus", "job=x"],
        user="ann",
        team="fem",
        priority=20,
        status=S.FAILED,
        reason=Reason.TIMEOUT,
        message="ran too long",
        resources=Resources(cpus=4, mem_mb=2048, gpus=1, licenses={"abaqus": 8}),
        retry=RetryPolicy(max_attempts=3, initial_delay=1.0),
        after=[3, 4],
        env={"A": "1"},
        progress=Progress(percent=50.0, step=5, total=10, text="Step 5 of 10"),
        extra={"labels": {"os": "linux"}},
    )
    data = job.to_dict()
    assert data["status"] == "failed" and data["reason"] == "timeout"
    assert data["resources"]["licenses"] == {"abaqus": 8}
    back = Job.from_dict(data)
    assert back == job
    assert back.status is S.FAILED and back.reason is Reason.TIMEOUT
    data["resources"]["licenses"]["abaqus"] = 1  # a copy, not a view
    assert job.resources.licenses == {"abaqus": 8}


def _queued(job_id: int) -> Job:
    """A job as the service builds one: its own copies of every part, strings not interned."""
    return Job(
        id=job_id, name="".join(["sw", "eep"]), command=["".join(["tr", "ue"]), f"--case={job_id % 2}"],
        user="ann", resources=Resources(cpus=2, licenses={"abaqus": 5}), retry=RetryPolicy(max_attempts=3),
        env={"A": "1"}, tags=["t"], extra={"environment": "".join(["ab", "cd"])},
    )  # fmt: skip


def test_shared_parts_hold_equal_parts_once_and_change_no_value() -> None:
    jobs = [_queued(i) for i in range(4)]
    before = [job.to_dict() for job in jobs]
    shared = SharedParts()
    for job in jobs:
        shared.share(job)
    assert [job.to_dict() for job in jobs] == before  # the same values
    first, second, third = jobs[0], jobs[1], jobs[2]
    assert second.resources is first.resources and second.retry is first.retry and second.env is first.env
    assert second.tags is first.tags and second.after is first.after and second.name is first.name
    assert third.command is first.command and second.command is not first.command  # equal lists only
    assert second.command[0] is first.command[0] and second.extra["environment"] is first.extra["environment"]
    other = _queued(9)
    other.retry = RetryPolicy(max_attempts=1)
    assert shared.share(other).retry is not first.retry and other.retry == RetryPolicy(max_attempts=1)


def test_resources_and_retry_policy_are_frozen_so_sharing_them_is_safe() -> None:
    job = _queued(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.resources.cpus = 8  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.retry.max_attempts = 8  # type: ignore[misc]
