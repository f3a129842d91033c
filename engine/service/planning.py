"""A dry run of a submission (`POST /api/queue/plan`, `jobtui run --dry-run`): where each job of a batch would
start now, or why it cannot. Nothing is queued, stored or announced.

Each job goes through the checks a submission makes (`JobService._build`: role, priority, resources against
every node, working directory, command on PATH, who it runs as; the batch's keys and cycles as a whole),
then through the engine's own placement rule (`scheduling.plan.placement`: the licences in use, the
least-loaded node that fits now) and its limits on running jobs. Jobs are placed one by one against the
nodes as they are now: the jobs of the batch take no room from each other (most of them wait for their
parents anyway), and a job's dependencies do not hold it back here (the caller has the graph for that).

Per job: `index` (in the batch), `key`, `name`, `node` (where it would start now, else None), `reason` (why
it would not start now, or never; None when it would), `runnable` (False: it can never start, so the
submission would be refused). `ok` is True when every job is runnable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.errors import JobTuiError, ValidationError
from engine.models import Actor, Job
from engine.scheduling.plan import NodeState, Policy, Usage, placement
from engine.service.auth import require
from engine.service.jobspec import JobSpec, batch_order
from engine.service.verbs import JobService


def plan_batch(service: JobService, actor: Actor, specs: list[JobSpec]) -> dict[str, Any]:
    """The dry run of submitting `specs` as `actor` (the module's rule), as JSON-ready data."""
    require(actor, "submit", "submit jobs")
    if not specs:
        raise ValidationError("the submission holds no jobs; give a command or a file with at least one job.")
    batch_order(specs)  # unknown or duplicate keys, a cycle: the batch as a whole is refused, as by submit
    engine = service.engine
    nodes = list(engine.node_states().values())
    usage, policy, now = engine.usage(), engine.policy(), engine.clock.now()
    keys = {spec.key for spec in specs if spec.key}
    service._which = {}  # program lookups, for this batch only (as submit does)
    jobs = []
    for index, spec in enumerate(specs):
        entry: dict[str, Any] = {
            "index": index,
            "key": spec.key,
            "name": spec.name or Path(spec.command[0]).name,
            "node": None,
            "reason": None,
            "runnable": True,
        }
        try:
            job = service._build(actor, spec, 0, now)
            _check_dependencies(service, spec, keys)
        except JobTuiError as e:
            entry.update(reason=e.message, runnable=False)
            jobs.append(entry)
            continue
        entry["name"] = job.name
        node = placement(job, nodes, usage, policy)
        held = _held_by_limits(job, usage, policy)
        if node is None:
            entry["reason"] = f"no room now: {_no_room(job, nodes, usage, policy)}"
        elif held:
            entry["reason"] = f"{held} (it fits {node})"
        else:
            entry["node"] = node
        jobs.append(entry)
    return {"ok": all(j["runnable"] for j in jobs), "jobs": jobs}


def _check_dependencies(service: JobService, spec: JobSpec, keys: set[str]) -> None:
    for dep in spec.after:
        if isinstance(dep, str) and dep in keys:
            continue
        if service.engine.find(int(dep)) is None:
            raise ValidationError(f"it depends on job {dep}, which does not exist; check the id with `jobtui list`.")


def _held_by_limits(job: Job, usage: Usage, policy: Policy) -> str | None:
    """Why the engine's limits on running jobs would keep `job` waiting now, or None."""
    if usage.total >= policy.max_concurrent:
        return f"waits for a slot: {usage.total} jobs run, the most at once is {policy.max_concurrent}"
    mine = usage.by_user.get(job.user, 0)
    if mine >= policy.user_max_concurrent:
        return f"waits for a slot: {job.user} runs {mine} jobs, the most per user is {policy.user_max_concurrent}"
    team = usage.by_team.get(job.team, 0) if job.team else 0
    if policy.fair_share and job.team and team >= policy.team_max_concurrent:
        return f"waits for a slot: team {job.team} runs {team} jobs, its most is {policy.team_max_concurrent}"
    return None


def _no_room(job: Job, nodes: list[NodeState], usage: Usage, policy: Policy) -> str:
    """What keeps a job that could run on some node from starting on any now."""
    res = job.resources
    for name, tokens in res.licenses.items():
        used, pool = usage.licenses.get(name, 0), policy.license_pools.get(name, 0)
        if used + tokens > pool:
            return f"it needs {tokens} '{name}' licence tokens, {pool - used} of {pool} are free"
    why = []
    for n in nodes:
        if not n.matches(job):
            continue
        if not n.reachable:
            why.append(f"{n.name} is unreachable")
        elif n.max_jobs is not None and n.running >= n.max_jobs:
            why.append(f"{n.name} runs its most jobs ({n.max_jobs})")
        elif n.used_cores + res.cpus > n.cores:
            why.append(f"{n.name} has {n.cores - n.used_cores} of {n.cores} cores free, it needs {res.cpus}")
        elif n.mem_mb and n.used_mem_mb + res.mem_mb > n.mem_mb:
            why.append(f"{n.name} has {n.mem_mb - n.used_mem_mb} MB free, it needs {res.mem_mb} MB")
        elif res.gpus > len(n.gpus):
            why.append(f"{n.name} has {len(n.gpus)} free GPUs, it needs {res.gpus}")
    return "; ".join(why) or "no matching node has room"
