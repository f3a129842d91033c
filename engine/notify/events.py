"""Pure: the hook event a job's change is, the JSON an event is delivered as, and which hooks take it."""

from __future__ import annotations

import fnmatch
from typing import Any

from engine.config_hooks import HOOK_EVENTS, Hook
from engine.models import Job, JobStatus

# History kinds that are hook events under a shorter name (a history row may use either spelling).
_ALIASES = {"overrun": "job_overrun", "stalled": "job_stalled", "milestone": "progress_milestone"}
_ENDED = {
    JobStatus.COMPLETED: "job_completed",
    JobStatus.FAILED: "job_failed",
    JobStatus.MISSING: "job_failed",
    JobStatus.SKIPPED: "job_skipped",
    JobStatus.CANCELLED: "job_cancelled",
}


def hook_event_of(kind: str, old: JobStatus, job: Job) -> str | None:
    """The hook event a history row of `kind` (the job moved from `old` to its status now) is, if any."""
    if kind in HOOK_EVENTS:
        return kind
    if kind in _ALIASES:
        return _ALIASES[kind]
    new = job.status
    if new == old:
        return None
    if new in _ENDED:
        return _ENDED[new]
    if new == JobStatus.RUNNING:
        return "job_started"
    if new == JobStatus.WAITING and kind == "retry":
        return "job_retrying"
    if new == JobStatus.BLOCKED and job.requires_approval:
        return "approval_needed"
    return None


def job_summary(job: Job, workflow: str | None) -> dict[str, Any]:
    """What a hook learns of a job: no command line, environment or extras (they may hold secrets)."""
    return {
        "id": job.id,
        "name": job.name,
        "user": job.user,
        "team": job.team,
        "status": job.status.value,
        "reason": job.reason.value if job.reason else None,
        "message": job.message,
        "exit_code": job.exit_code,
        "node": job.node,
        "tags": list(job.tags),
        "attempts": job.attempts,
        "workflow_id": job.workflow_id,
        "workflow": workflow,
        "progress_percent": job.progress.percent,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def job_event(name: str, job: Job, workflow: str | None, at: float, message: str = "") -> dict[str, Any]:
    return {"event": name, "at": at, "message": message or job.message, "job": job_summary(job, workflow)}


def node_event(name: str, node: str, at: float, message: str) -> dict[str, Any]:
    return {"event": name, "at": at, "message": message, "node": node}


def workflow_event(workflow_id: int, name: str, counts: dict[str, int], at: float) -> dict[str, Any]:
    failed = sum(n for status, n in counts.items() if status != JobStatus.COMPLETED.value)
    return {
        "event": "workflow_finished",
        "at": at,
        "message": f"workflow {name} finished: {counts.get('completed', 0)} completed, {failed} not",
        "workflow": {"id": workflow_id, "name": name, "counts": counts},
    }


def takes(hook: Hook, payload: dict[str, Any]) -> bool:
    """Does `hook` receive this event? Its filter applies to the job (or workflow) the event is about."""
    if payload["event"] not in hook.events:
        return False
    wanted = hook.filter
    if wanted.is_empty:
        return True
    job = payload.get("job")
    if job is None:
        workflow = payload.get("workflow")
        if workflow is None:
            return True  # a node's event: no job to filter on
        return not (wanted.user or wanted.tags) and _workflow_matches(wanted.workflow, workflow["name"])
    if wanted.user and job["user"] not in wanted.user:
        return False
    if wanted.tags and not set(wanted.tags) & set(job["tags"]):
        return False
    return not wanted.workflow or (job["workflow"] is not None and _workflow_matches(wanted.workflow, job["workflow"]))


def _workflow_matches(patterns: list[str], name: str) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)
