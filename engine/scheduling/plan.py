"""Pure scheduling: `plan()` decides which ready jobs start where. No I/O, no clock, no mutation."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase

from engine.models import Job
from engine.scheduling.queue_index import QueueIndex


@dataclass(slots=True)
class NodeState:
    """What the scheduler knows of one node: its capacity and what is in use now."""

    name: str
    cores: int
    mem_mb: int
    gpus: list[int] = field(default_factory=list)  # free device indices
    max_jobs: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    reachable: bool = True
    sample: dict | None = None  # last sampled load/GPUs, for display
    used_cores: int = 0
    used_mem_mb: int = 0
    running: int = 0

    def fits(self, job: Job) -> bool:
        res = job.resources
        if not self.reachable:
            return False
        if self.max_jobs is not None and self.running >= self.max_jobs:
            return False
        if self.used_cores + res.cpus > self.cores:
            return False
        if self.mem_mb and self.used_mem_mb + res.mem_mb > self.mem_mb:
            return False
        if res.gpus > len(self.gpus):
            return False
        return self.matches(job)

    def matches(self, job: Job) -> bool:
        if job.node_request and not fnmatchcase(self.name, job.node_request):
            return False
        wanted = job.extra.get("labels") or {}
        return all(fnmatchcase(self.labels.get(k, ""), pattern) for k, pattern in wanted.items())


@dataclass(slots=True)
class Usage:
    """Running (and starting) jobs counted by user and team, and licence tokens in use."""

    total: int = 0
    by_user: dict[str, int] = field(default_factory=dict)
    by_team: dict[str, int] = field(default_factory=dict)
    by_workflow: dict[int, int] = field(default_factory=dict)
    licenses: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class Policy:
    max_concurrent: int = 5
    user_max_concurrent: int = 2
    team_max_concurrent: int = 10
    fair_share: bool = False
    license_pools: dict[str, int] = field(default_factory=dict)
    workflow_caps: dict[int, int] = field(default_factory=dict)  # workflow id -> jobs of it running at once


@dataclass(slots=True, frozen=True)
class Start:
    job_id: int
    node: str
    gpus: tuple[int, ...] = ()


def plan(
    ready: QueueIndex,
    usage: Usage,
    nodes: list[NodeState],
    policy: Policy,
    scan_limit: int = 256,
) -> list[Start]:
    """Pick jobs to start now, best first, within every limit.

    Cost: O((starts + scan_limit) · log users); users at their limit are never looked at, and at most
    `scan_limit` jobs that fit no node are passed over before giving up until the next change.
    """
    free = policy.max_concurrent - usage.total
    if free <= 0 or not ready.by_user:
        return []
    by_user = dict(usage.by_user)
    by_team = dict(usage.by_team)
    by_workflow = dict(usage.by_workflow)
    licenses = dict(usage.licenses)
    nodes = [replace(n, gpus=list(n.gpus), labels=n.labels) for n in nodes]
    heads = [
        (queue[0], user, 0)
        for user, queue in ready.by_user.items()
        if by_user.get(user, 0) < policy.user_max_concurrent
    ]
    heapq.heapify(heads)
    starts: list[Start] = []
    passed_over = 0
    while heads and len(starts) < free and passed_over < scan_limit:
        key, user, pos = heapq.heappop(heads)
        job = ready.jobs[key[1]]
        node = None if _at_a_cap(job, by_team, by_workflow, policy) else _place(job, nodes, licenses, policy)
        if node is None:
            passed_over += 1
            _push_next(heads, ready, user, pos)
            continue
        starts.append(Start(job.id, node.name, _occupy(node, job, licenses)))
        by_user[user] = by_user.get(user, 0) + 1
        if job.team:
            by_team[job.team] = by_team.get(job.team, 0) + 1
        if job.workflow_id is not None:
            by_workflow[job.workflow_id] = by_workflow.get(job.workflow_id, 0) + 1
        if by_user[user] < policy.user_max_concurrent:
            _push_next(heads, ready, user, pos)
    return starts


def _at_a_cap(job: Job, by_team: dict[str, int], by_workflow: dict[int, int], policy: Policy) -> bool:
    """Is `job` held back by its team's share (with fair share) or by its workflow's cap?"""
    if policy.fair_share and job.team and by_team.get(job.team, 0) >= policy.team_max_concurrent:
        return True
    workflow = job.workflow_id
    return workflow in policy.workflow_caps and by_workflow.get(workflow, 0) >= policy.workflow_caps[workflow]


def _occupy(node: NodeState, job: Job, licenses: dict[str, int]) -> tuple[int, ...]:
    """Take what `job` needs on `node` (and of the licence pools) for this plan; the GPUs it gets."""
    gpus = tuple(node.gpus[: job.resources.gpus])
    del node.gpus[: job.resources.gpus]
    node.used_cores += job.resources.cpus
    node.used_mem_mb += job.resources.mem_mb
    node.running += 1
    for name, tokens in job.resources.licenses.items():
        licenses[name] = licenses.get(name, 0) + tokens
    return gpus


def _push_next(heads: list, ready: QueueIndex, user: str, pos: int) -> None:
    queue = ready.by_user[user]
    if pos + 1 < len(queue):
        heapq.heappush(heads, (queue[pos + 1], user, pos + 1))


def _place(job: Job, nodes: list[NodeState], licenses: dict[str, int], policy: Policy) -> NodeState | None:
    for name, tokens in job.resources.licenses.items():
        pool = policy.license_pools.get(name, 0)
        if licenses.get(name, 0) + tokens > pool:
            return None
    # Least-loaded first, so jobs spread over nodes.
    candidates = [n for n in nodes if n.fits(job)]
    if not candidates:
        return None
    return min(candidates, key=lambda n: (n.running / max(n.cores, 1), n.name))


def placement(job: Job, nodes: list[NodeState], usage: Usage, policy: Policy) -> str | None:
    """The node `plan()` would start `job` on now, by the same rule (licences in use, least-loaded node that
    fits), or None; limits on running jobs are not looked at. Nothing is changed (a dry run asks this)."""
    node = _place(job, nodes, dict(usage.licenses), policy)
    return node.name if node is not None else None


def unplaceable_reason(job: Job, nodes: list[NodeState], policy: Policy) -> str | None:
    """Why no configured node could ever run this job (checked at submission), or None."""
    res = job.resources
    matching = [n for n in nodes if n.matches(job)]
    if not matching:
        return "no configured node matches its node/label request"
    if not any(res.cpus <= n.cores and (not n.mem_mb or res.mem_mb <= n.mem_mb) for n in matching):
        best = max(matching, key=lambda n: n.cores)
        return f"it asks for {res.cpus} cores / {res.mem_mb} MB; the largest node ({best.name}) has {best.cores} cores"
    for name, tokens in res.licenses.items():
        if tokens > policy.license_pools.get(name, 0):
            return f"it needs {tokens} '{name}' licence tokens; the pool has {policy.license_pools.get(name, 0)}"
    return None
