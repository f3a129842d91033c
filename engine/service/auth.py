"""Who may do what: roles, ownership and team leads. The service checks these for every caller."""

from __future__ import annotations

from engine.errors import PermissionDenied
from engine.models import Actor, Job


def require_role(actor: Actor, action: str, *roles: str) -> None:
    if actor.role not in roles:
        allowed = " or ".join(roles)
        raise PermissionDenied(f"{actor.user} ({actor.role}) may not {action}: it needs the {allowed} role.")


def may_manage(actor: Actor, job: Job) -> bool:
    """Owner, an admin, or a lead of the job's team."""
    if actor.is_admin or job.user == actor.user:
        return actor.role != "viewer"
    return actor.role == "lead" and job.team is not None and job.team == actor.team


def require_manage(actor: Actor, job: Job, action: str) -> None:
    if not may_manage(actor, job):
        raise PermissionDenied(
            f"{actor.user} ({actor.role}) may not {action} job {job.id}, which belongs to {job.user}: "
            "only its owner, an admin or a lead of its team may."
        )
