"""Why a job that may start (by its dependencies, approval and back-off) does not start now: the engine's limits
on running jobs, a licence pool, or no node with room. Pure: read from the usage and the nodes as they are.

Each answer is `(code, text)`: the code a client may sort or filter by (`global_limit`, `user_limit`,
`team_limit`, `workflow_limit`, `local_limit`, `licence`, `gpus`, `queue_full`, `resources`), the text what a
person reads.
A dry run (`service.planning`) and the waiting reason of a queued job (`core.waiting`) both ask here.
"""

from __future__ import annotations

from engine.models import Job
from engine.scheduling.plan import CLUSTER_KINDS, NodeState, Policy, Usage, local_limit_reached

Blocking = tuple[str, str]


def held_by_limits(job: Job, usage: Usage, policy: Policy) -> Blocking | None:
    """Which of the engine's limits on running jobs keeps `job` waiting now, or None."""
    if usage.total >= policy.max_concurrent:
        text = f"waits for a slot: {usage.total} jobs run, the most at once is {policy.max_concurrent}"
        return "global_limit", text
    mine = usage.by_user.get(job.user, 0)
    if mine >= policy.user_max_concurrent:
        text = f"waits for a slot: {job.user} runs {mine} jobs, the most per user is {policy.user_max_concurrent}"
        return "user_limit", text
    team = usage.by_team.get(job.team, 0) if job.team else 0
    if policy.fair_share and job.team and team >= policy.team_max_concurrent:
        text = f"waits for a slot: team {job.team} runs {team} jobs, its most is {policy.team_max_concurrent}"
        return "team_limit", text
    workflow = job.workflow_id
    if workflow in policy.workflow_caps and usage.by_workflow.get(workflow, 0) >= policy.workflow_caps[workflow]:
        cap = policy.workflow_caps[workflow]
        return "workflow_limit", f"waits for a slot: its workflow {workflow} runs its most jobs at once ({cap})"
    return None


def no_room(job: Job, nodes: list[NodeState], usage: Usage, policy: Policy) -> Blocking:
    """What keeps a job that could run on some node from starting on any now: the licence pool, else per
    matching node the first thing it lacks (the code is the best node's: the one closest to fitting)."""
    res = job.resources
    for name, tokens in res.licenses.items():
        used, pool = usage.licenses.get(name, 0), policy.license_pools.get(name, 0)
        if used + tokens > pool:
            return "licence", f"it needs {tokens} '{name}' licence tokens, {pool - used} of {pool} are free"
    why: list[tuple[int, str, str]] = []  # (how far from fitting, code, text)
    local_limit = local_limit_reached(job, nodes, policy)
    for n in nodes:
        if not n.matches(job):
            continue
        if n.kind == "local" and local_limit:
            why.append((4, "local_limit", f"{n.name}: {local_limit}"))
        elif not n.reachable:
            why.append((9, "resources", f"{n.name} is unreachable"))
        elif n.max_jobs is not None and n.running >= n.max_jobs:
            code = "queue_full" if n.kind in CLUSTER_KINDS else "resources"
            why.append((3, code, f"{n.name} runs its most jobs ({n.max_jobs})"))
        elif n.used_cores + res.cpus > n.cores:
            text = f"{n.name} has {n.cores - n.used_cores} of {n.cores} cores free, it needs {res.cpus}"
            why.append((2, "resources", text))
        elif n.mem_mb and n.used_mem_mb + res.mem_mb > n.mem_mb:
            why.append((2, "resources", f"{n.name} has {n.mem_mb - n.used_mem_mb} MB free, it needs {res.mem_mb} MB"))
        elif res.gpu_ids and not n.gpus_free_for(job):
            busy = [g for g in res.gpu_ids if g not in n.gpus]
            why.append((1, "gpus", f"{n.name}: GPU devices {','.join(map(str, busy))} are busy or absent"))
        elif not n.gpus_free_for(job):
            why.append((1, "gpus", f"{n.name} has {len(n.gpus)} free GPUs, it needs {res.gpus}"))
    if not why:
        return "resources", "no matching node has room"
    best = min(why, key=lambda w: w[0])
    return best[1], "; ".join(text for _, _, text in why)
