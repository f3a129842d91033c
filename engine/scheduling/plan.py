"""Pure scheduling: `plan()` decides which ready jobs start where. No I/O, no clock, no mutation."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase

from engine.models import Job
from engine.scheduling.queue_index import QueueIndex

CLUSTER_KINDS = frozenset({"slurm", "sge", "pbs"})


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
    kind: str = "local"  # the config's node kind: local, ssh, slurm, sge, pbs
    devices: list[int] | None = None  # every GPU index; None: not known yet (or a cluster's, which it places)
    used_gpus: int = 0

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
        if not self.gpus_free_for(job):
            return False
        return self.matches(job)

    def gpus_free_for(self, job: Job) -> bool:
        """Are the GPUs `job` asks for free here now: its devices (`gpu_ids`), else as many as it asks for?"""
        res = job.resources
        if res.gpu_ids:
            return all(g in self.gpus for g in res.gpu_ids)
        if self.places_gpus_itself:
            return True
        return res.gpus <= len(self.gpus)

    @property
    def places_gpus_itself(self) -> bool:
        """A cluster whose GPUs the config leaves unset: its own scheduler counts them (`--gres`, `-l gpu`)."""
        return self.devices is None and self.kind in CLUSTER_KINDS

    def matches(self, job: Job) -> bool:
        if job.node_request and not fnmatchcase(self.name, job.node_request):
            return False
        target = job.extra.get("target")
        if (target == "local" and self.kind != "local") or (target == "remote" and self.kind == "local"):
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
    local_gpu_max: int | None = None  # GPUs held by jobs on local nodes at once (None: no limit)
    local_job_max: int | None = None  # jobs on local nodes at once (None: no limit)
    user_bonus: dict[str, int] | None = None  # fair share over time: priority points per user (None: off)
    bonus_default: int = 0  # the points of a user not in `user_bonus` (one who has used nothing yet)


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
    passed: list[int] | None = None,
) -> list[Start]:
    """Pick jobs to start now, best first, within every limit.

    Cost: O((starts + scan_limit) · log users); users at their limit are never looked at, and at most
    `scan_limit` jobs that fit no node are passed over before giving up until the next change. With fair
    share, each user's jobs rank by priority plus the user's `Policy.user_bonus`. The ids of the jobs passed
    over are added to `passed` (their waiting reason is worth recomputing).
    """
    free = policy.max_concurrent - usage.total
    if free <= 0 or not ready.by_user:
        return []
    by_user = dict(usage.by_user)
    by_team = dict(usage.by_team)
    by_workflow = dict(usage.by_workflow)
    licenses = dict(usage.licenses)
    nodes = [replace(n, gpus=list(n.gpus), labels=n.labels) for n in nodes]
    bonus, default = policy.user_bonus or {}, policy.bonus_default
    heads = [
        ((queue[0][0] - bonus.get(user, default), queue[0][1]) if bonus or default else queue[0], user, 0)
        for user, queue in ready.by_user.items()
        if by_user.get(user, 0) < policy.user_max_concurrent
    ]
    heapq.heapify(heads)
    starts: list[Start] = []
    passed_over = 0
    most_cores, most_gpus = _most_room(nodes)  # a job asking more than the roomiest node has is passed at once
    while heads and len(starts) < free and passed_over < scan_limit:
        key, user, pos = heapq.heappop(heads)
        job = ready.jobs[key[1]]
        res = job.resources
        too_big = res.cpus > most_cores or max(res.gpus, len(res.gpu_ids)) > most_gpus
        node = None if too_big or _at_a_cap(job, by_team, by_workflow, policy) else _place(job, nodes, licenses, policy)
        if node is None:
            passed_over += 1
            if passed is not None:
                passed.append(job.id)
            _push_next(heads, ready, user, pos, bonus.get(user, default))
            continue
        starts.append(Start(job.id, node.name, _occupy(node, job, licenses)))
        most_cores, most_gpus = _most_room(nodes)
        by_user[user] = by_user.get(user, 0) + 1
        if job.team:
            by_team[job.team] = by_team.get(job.team, 0) + 1
        if job.workflow_id is not None:
            by_workflow[job.workflow_id] = by_workflow.get(job.workflow_id, 0) + 1
        if by_user[user] < policy.user_max_concurrent:
            _push_next(heads, ready, user, pos, bonus.get(user, default))
    return starts


def _most_room(nodes: list[NodeState]) -> tuple[float, float]:
    """The most free cores, and free GPUs, of any node that may take a job now (inf: a cluster counts GPUs)."""
    cores: float = 0
    gpus: float = 0
    for n in nodes:
        if not n.reachable or (n.max_jobs is not None and n.running >= n.max_jobs):
            continue
        cores = max(cores, n.cores - n.used_cores)
        gpus = max(gpus, float("inf") if n.places_gpus_itself else len(n.gpus))
    return cores, gpus


def _at_a_cap(job: Job, by_team: dict[str, int], by_workflow: dict[int, int], policy: Policy) -> bool:
    """Is `job` held back by its team's share (with fair share) or by its workflow's cap?"""
    if policy.fair_share and job.team and by_team.get(job.team, 0) >= policy.team_max_concurrent:
        return True
    workflow = job.workflow_id
    return workflow in policy.workflow_caps and by_workflow.get(workflow, 0) >= policy.workflow_caps[workflow]


def _occupy(node: NodeState, job: Job, licenses: dict[str, int]) -> tuple[int, ...]:
    """Take what `job` needs on `node` (and of the licence pools) for this plan; the GPUs it gets."""
    gpus = take_gpus(node, job)
    node.used_cores += job.resources.cpus
    node.used_mem_mb += job.resources.mem_mb
    node.running += 1
    for name, tokens in job.resources.licenses.items():
        licenses[name] = licenses.get(name, 0) + tokens
    return gpus


def take_gpus(node: NodeState, job: Job) -> tuple[int, ...]:
    """The devices `job` gets on `node` (its `gpu_ids`, else the first free ones), taken off the free list."""
    res = job.resources
    if res.gpu_ids:
        gpus = tuple(res.gpu_ids)
    elif node.places_gpus_itself:
        gpus = ()
    else:
        gpus = tuple(node.gpus[: res.gpus])
    node.gpus = [g for g in node.gpus if g not in gpus]
    node.used_gpus += res.gpus
    return gpus


def _push_next(heads: list, ready: QueueIndex, user: str, pos: int, shift: int = 0) -> None:
    queue = ready.by_user[user]
    if pos + 1 < len(queue):
        key = queue[pos + 1]
        heapq.heappush(heads, ((key[0] - shift, key[1]) if shift else key, user, pos + 1))


def _place(job: Job, nodes: list[NodeState], licenses: dict[str, int], policy: Policy) -> NodeState | None:
    for name, tokens in job.resources.licenses.items():
        pool = policy.license_pools.get(name, 0)
        if licenses.get(name, 0) + tokens > pool:
            return None
    local_room = _local_room(job, nodes, policy)
    # Least-loaded first, so jobs spread over nodes.
    candidates = [n for n in nodes if n.fits(job) and (local_room or n.kind != "local")]
    if not candidates:
        return None
    return min(candidates, key=lambda n: (n.running / max(n.cores, 1), n.name))


def _local_room(job: Job, nodes: list[NodeState], policy: Policy) -> bool:
    """May `job` start on a local node under the local job and GPU limits (`local_*_max_concurrent`)?"""
    if policy.local_job_max is None and policy.local_gpu_max is None:
        return True
    return local_limit_reached(job, nodes, policy) is None


def local_limit_reached(job: Job, nodes: list[NodeState], policy: Policy) -> str | None:
    """Which local limit keeps `job` off the local nodes now (as a phrase), or None."""
    local = [n for n in nodes if n.kind == "local"]
    running = sum(n.running for n in local)
    if policy.local_job_max is not None and running + 1 > policy.local_job_max:
        return f"local jobs: {running} run, the most at once is {policy.local_job_max} (local_job_max_concurrent)"
    held = sum(n.used_gpus for n in local)
    if policy.local_gpu_max is not None and job.resources.gpus and held + job.resources.gpus > policy.local_gpu_max:
        return (
            f"local GPUs: {held} held, it needs {job.resources.gpus}, the most at once is {policy.local_gpu_max} "
            "(local_gpu_max_concurrent)"
        )
    return None


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
        return "no configured node matches its node/label/target request"
    if not any(res.cpus <= n.cores for n in matching):
        best = max(matching, key=lambda n: n.cores)
        return f"it asks for {res.cpus} cores; the largest node ({best.name}) has {best.cores} cores"
    if not any(res.cpus <= n.cores and (not n.mem_mb or res.mem_mb <= n.mem_mb) for n in matching):
        best = max(matching, key=lambda n: n.mem_mb)
        return f"it asks for {res.mem_mb} MB of memory; the largest node ({best.name}) has {best.mem_mb} MB"
    why = gpus_never_fit(job, matching)
    if why:
        return why
    for name, tokens in res.licenses.items():
        if tokens > policy.license_pools.get(name, 0):
            return f"it needs {tokens} '{name}' licence tokens; the pool has {policy.license_pools.get(name, 0)}"
    return None


def gpus_never_fit(job: Job, nodes: list[NodeState]) -> str | None:
    """Why none of `nodes` (those the job may run on) could ever give `job` its GPUs, or None.

    A node whose devices are not known yet (an SSH node not sampled yet, a cluster that counts its own) may."""
    res = job.resources
    if not (res.gpus or res.gpu_ids) or any(n.devices is None for n in nodes):
        return None
    known = [n for n in nodes if n.devices is not None]
    if res.gpu_ids:
        if any(all(g in (n.devices or []) for g in res.gpu_ids) for n in known):
            return None
        have = "; ".join(f"{n.name} has {_device_list(n.devices or [])}" for n in known)
        wanted = ",".join(map(str, res.gpu_ids))
        return f"no node has GPU devices {wanted} ({have})"
    best = max(known, key=lambda n: (len(n.devices or []), n.name))
    count = len(best.devices or [])
    if res.gpus <= count:
        return None
    asked = f"{res.gpus} GPU" + ("s" if res.gpus != 1 else "")
    if count == 0:
        where = "this machine has none" if all(n.kind == "local" for n in known) else "none of them has any"
        return f"no node has {asked}; {where} (nodes: {', '.join(n.name for n in known)})"
    return f"no node has {asked}; the largest has {count} (node {best.name})"


def _device_list(devices: list[int]) -> str:
    return f"devices {','.join(map(str, devices))}" if devices else "no GPUs"
