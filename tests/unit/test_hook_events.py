"""Which job changes are which hook events, and which hooks take an event (pure)."""

from __future__ import annotations

from engine.config_hooks import Hook
from engine.models import Job, JobStatus
from engine.notify.events import hook_event_of, job_event, node_event, takes, workflow_event

S = JobStatus


def job(status: JobStatus, **kw) -> Job:
    return Job(7, "solve", ["true"], "ann", status=status, **kw)


def test_history_rows_become_hook_events() -> None:
    assert hook_event_of("running", S.STARTING, job(S.RUNNING)) == "job_started"
    assert hook_event_of("finished", S.RUNNING, job(S.COMPLETED)) == "job_completed"
    assert hook_event_of("finished", S.RUNNING, job(S.MISSING)) == "job_failed"
    assert hook_event_of("retry", S.RUNNING, job(S.WAITING)) == "job_retrying"
    assert hook_event_of("skipped", S.WAITING, job(S.SKIPPED)) == "job_skipped"
    assert hook_event_of("cancelled", S.WAITING, job(S.CANCELLED)) == "job_cancelled"
    assert hook_event_of("requeued", S.FAILED, job(S.BLOCKED, requires_approval=True)) == "approval_needed"
    assert hook_event_of("overrun", S.RUNNING, job(S.RUNNING)) == "job_overrun"  # a flag: no state change
    assert hook_event_of("job_stalled", S.RUNNING, job(S.RUNNING)) == "job_stalled"
    assert hook_event_of("priority", S.WAITING, job(S.WAITING)) is None
    assert hook_event_of("requeued", S.FAILED, job(S.WAITING)) is None


def test_filters_pick_the_jobs_and_let_node_events_through() -> None:
    hook = Hook(name="h", events=["job_failed", "node_unreachable", "workflow_finished"], command=["x"],
                filter={"user": "ann", "tags": ["fea", "cfd"], "workflow": ["night*"]})  # fmt: skip
    tagged = job(S.FAILED, tags=["cfd"])
    assert takes(hook, job_event("job_failed", tagged, "nightly", 0.0))
    assert not takes(hook, job_event("job_failed", tagged, "daily", 0.0))
    assert not takes(hook, job_event("job_failed", tagged, None, 0.0))
    assert not takes(hook, job_event("job_failed", job(S.FAILED, tags=["x"]), "nightly", 0.0))
    assert not takes(hook, job_event("job_completed", tagged, "nightly", 0.0))  # not one of its events
    assert takes(hook, node_event("node_unreachable", "n1", 0.0, "down"))
    assert not takes(hook, workflow_event(1, "nightly", {"completed": 2}, 0.0))  # user and tags name no workflow
    by_workflow = Hook(name="w", events=["workflow_finished"], command=["x"], filter={"workflow": "night*"})
    assert takes(by_workflow, workflow_event(1, "nightly", {"completed": 2}, 0.0))
    assert not takes(by_workflow, workflow_event(2, "daily", {"completed": 2}, 0.0))
