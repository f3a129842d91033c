"""Who may do what: roles, ownership and team leads. The service checks these for every caller.

`ROLES_FOR` is the one table of which roles may use each capability; the verbs check it, and `me()`
reports it to clients as `capabilities` (engine.wire.CAPABILITIES names them), so a client never keeps
its own copy of these rules.
"""

from __future__ import annotations

from engine.errors import PermissionDenied
from engine.models import Actor, Job

_MAY_ACT = ("admin", "lead", "researcher")  # every role but viewer acts on its own jobs

ROLES_FOR: dict[str, tuple[str, ...]] = {
    "submit": _MAY_ACT,
    "cancel_own": _MAY_ACT,
    "cancel_any": ("admin",),  # a lead cancels the jobs of their team only (`may_manage`)
    "approve": ("admin",),
    "reject": ("admin",),
    "priority": ("admin", "lead"),
    "requeue": _MAY_ACT,
    "set_limits": ("admin",),
    "cleanup": ("admin",),
    "issue_tokens": ("admin",),
}


def capabilities(actor: Actor) -> dict[str, bool]:
    """What `actor`'s role may do, by capability; ownership is checked per job on top."""
    return {name: actor.role in roles for name, roles in ROLES_FOR.items()}


def require(actor: Actor, capability: str, action: str) -> None:
    """Refuse unless `actor`'s role has `capability`; `action` says what was refused."""
    require_role(actor, action, *ROLES_FOR[capability])


def require_role(actor: Actor, action: str, *roles: str) -> None:
    if actor.role not in roles:
        allowed = " or ".join(roles)
        raise PermissionDenied(f"{actor.user} ({actor.role}) may not {action}: it needs the {allowed} role.")


def may_manage(actor: Actor, job: Job) -> bool:
    """Owner, an admin, or a lead of the job's team."""
    if actor.is_admin or job.user == actor.user:
        return actor.role in _MAY_ACT
    return actor.role == "lead" and job.team is not None and job.team == actor.team


def require_manage(actor: Actor, job: Job, action: str) -> None:
    if not may_manage(actor, job):
        raise PermissionDenied(
            f"{actor.user} ({actor.role}) may not {action} job {job.id}, which belongs to {job.user}: "
            "only its owner, an admin or a lead of its team may."
        )
