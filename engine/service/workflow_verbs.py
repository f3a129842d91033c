"""The verbs on a whole workflow: cancel it, and run its failed part again. Each checks that the caller may act
on every job it would change (`auth.require_manage`, as `cancel` and `requeue` of one job do) before it changes
any, then hands the engine every change at once (no await in between, one commit, one event per job).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine.core.dependencies import blocked_by
from engine.core.engine import Engine
from engine.errors import Conflict
from engine.models import QUEUED, REQUEUABLE, Actor, Job, JobStatus
from engine.service.auth import capabilities, require_manage
from engine.service.verbs import JobService
from engine.service.workflow_reads import summary_of, workflow_jobs
from engine.wire import workflow_action_result, workflow_summary


async def cancel_workflow(service: JobService, actor: Actor, workflow_id: int) -> dict[str, Any]:
    """Cancel every job of the workflow not ended yet: what waits at once, what runs is asked to stop."""
    engine = service.engine
    record, jobs = workflow_jobs(engine, workflow_id)
    live = [job for job in jobs if not job.is_terminal]
    if not live:
        status = workflow_summary(record, jobs)["status"]
        raise Conflict(f"workflow {workflow_id} ({record.name}) has already ended ({status}); nothing to cancel.")
    for job in live:
        require_manage(actor, job, "cancel")
    # What waits first, children before parents, so that no parent's end releases or skips one of them (each
    # is cancelled, by the caller); then what runs is asked to stop.
    queued = sorted((job for job in live if job.status in QUEUED), key=lambda job: -job.id)
    await engine.cancel_all([*queued, *(job for job in live if job.status not in QUEUED)], actor)
    return workflow_action_result(summary_of(service, workflow_id), live)


def failed_part(engine: Engine, jobs: list[Job]) -> list[Job]:
    """What `requeue wf:ID --failed` runs again, parents first: every job that ended without completing
    (failed, missing, cancelled, skipped; never a rejected one), less those that would be skipped again at
    once: a job whose edge to a job kept as it is (one that completed, was rejected, or is outside the
    workflow) is not met by that job's end, and so on down. Edges to kept jobs that completed count as met."""
    again = {job.id: job for job in jobs if job.status in REQUEUABLE and job.status != JobStatus.COMPLETED}
    changed = True
    while changed:
        changed = False
        for job in list(again.values()):
            kept = (engine.find(p) for p in job.after if p not in again)
            if any(parent is not None and blocked_by(job, parent) is not None for parent in kept):
                del again[job.id]
                changed = True
    return sorted(again.values(), key=lambda job: job.id)


async def requeue_workflow(service: JobService, actor: Actor, workflow_id: int) -> dict[str, Any]:
    """Run the failed, cancelled and skipped part of an ended workflow again, keeping what completed: those
    jobs go back to waiting (blocked, when one needs approval and the caller is no approver, as `requeue`)."""
    engine = service.engine
    record, jobs = workflow_jobs(engine, workflow_id)
    if any(not job.is_terminal for job in jobs):
        status = workflow_summary(record, jobs)["status"]
        raise Conflict(
            f"workflow {workflow_id} ({record.name}) is {status}; only an ended workflow's failed part is requeued: "
            f"wait for it (`jobtui wait wf:{workflow_id}`) or cancel it first."
        )
    again = failed_part(engine, jobs)
    if not again:
        raise Conflict(
            f"workflow {workflow_id} ({record.name}) has nothing to requeue: every job completed, or was skipped by "
            "a condition that its kept parents still decide."
        )
    for job in again:
        require_manage(actor, job, "requeue")
    approver = capabilities(actor)["approve"]
    changes: list[tuple[Job, str, JobStatus | None, dict[str, Any]]] = []
    for job in again:  # parents first (lower ids): a child requeued after its parent waits for it
        blocked = job.requires_approval and not approver
        message = f"requeued by {actor.user} with workflow {workflow_id}" + ("; awaiting approval again" * blocked)
        fields = {
            "reason": None,
            "exit_code": None,
            "not_before": None,
            "message": message,
            "retry": replace(job.retry, max_attempts=max(job.retry.max_attempts, job.attempts + 1)),
        }
        changes.append((job, "requeued", JobStatus.BLOCKED if blocked else JobStatus.WAITING, fields))
    await engine.act_all(changes, actor)
    return workflow_action_result(summary_of(service, workflow_id), again)
