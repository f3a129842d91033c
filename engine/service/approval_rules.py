"""The config's approval rules, applied to a job at submission: the first rule whose condition the job meets
decides: it waits for an approver (an admin, or a lead of its team), or it is refused with the rule's message.

A job held by a rule carries the rule's name (`extra["approval_rule"]`) and who may approve it
(`extra["approver"]`); its `submitted` history row says so.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from engine.errors import ValidationError
from engine.models import Actor, Job
from engine.policy import Approval, ApprovalRule, RuleCondition

RULE_KEY = "approval_rule"
APPROVER_KEY = "approver"


def core_hours(job: Job, approval: Approval) -> float:
    """Cores x hours: its timeout, or the config's assumed run time when it has none."""
    hours = job.timeout / 3600 if job.timeout else approval.hours_without_timeout
    return max(job.resources.cpus, 1) * hours


def matches(condition: RuleCondition, job: Job, actor: Actor, approval: Approval) -> bool:
    """Does `job`, submitted by `actor`, meet every part of `condition` that is given?"""
    c, res = condition, job.resources
    hours = core_hours(job, approval)
    checks = (
        c.gpus_at_least is None or res.gpus >= c.gpus_at_least,
        c.cpus_at_least is None or res.cpus >= c.cpus_at_least,
        c.mem_mb_at_least is None or res.mem_mb >= c.mem_mb_at_least,
        not c.licenses or any(name in res.licenses for name in c.licenses),
        not c.nodes or any(fnmatchcase(job.node_request or "", pattern) for pattern in c.nodes),
        c.core_hours_at_least is None or hours >= c.core_hours_at_least,
        c.cost_at_least is None or hours * approval.cost_per_core_hour >= c.cost_at_least,
        not c.users or job.user in c.users,
        not c.teams or (job.team or "") in c.teams,
        not c.roles or actor.role in c.roles,
        not c.tags or any(tag in job.tags for tag in c.tags),
    )
    return all(checks)


def apply_rules(job: Job, actor: Actor, approval: Approval) -> ApprovalRule | None:
    """Apply the first matching rule to `job`: refuse it (ValidationError), or mark it for approval."""
    rule = next((r for r in approval.rules if matches(r.when, job, actor, approval)), None)
    if rule is None:
        return None
    if rule.action == "reject":
        said = f": {rule.message}" if rule.message else ""
        raise ValidationError(
            f"job {job.name!r} is refused by approval rule {rule.name!r}{said}. Change the request (resources, "
            "timeout) or ask an admin."
        )
    who = "an admin" if rule.approver == "admin" else f"a lead of team {job.team or '(none)'} or an admin"
    job.requires_approval = True
    job.extra[RULE_KEY] = rule.name
    job.extra[APPROVER_KEY] = rule.approver
    job.message = f"awaiting approval by {who} (rule {rule.name})" + (f": {rule.message}" if rule.message else "")
    return rule


def may_approve(actor: Actor, job: Job) -> bool:
    """An admin approves any job; a lead, the jobs of their team held by a `team_lead` rule."""
    if actor.is_admin:
        return True
    return (
        actor.role == "lead"
        and job.extra.get(APPROVER_KEY) == "team_lead"
        and job.team is not None
        and job.team == actor.team
    )
