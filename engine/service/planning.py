"""A dry run of a submission (`POST /api/queue/plan`, `jobtui run --dry-run`): where each job of a batch would
start now, or why it cannot. Nothing is queued, stored or announced.

Each job goes through the checks a submission makes (`JobService._build`: role, priority, resources against
every node, working directory, command on PATH, who it runs as; the batch's keys and cycles as a whole),
then through the engine's own placement rule (`scheduling.plan.placement`: the licences in use, the
least-loaded node that fits now) and its limits on running jobs. Jobs are placed one by one against the
nodes as they are now: the jobs of the batch take no room from each other (most of them wait for their
parents anyway), and a job's dependencies do not hold it back here (the caller has the graph for that).

Per job: `index` (in the batch), `key`, `name`, `node` (where it would start now, else None), `gpus` (the
devices it would get there), `reason` (why it would not start now, or never; None when it would), `position`
(where it would wait in the queue when it would not start now: 1 is next), `runnable` (False: it can never
start, so the submission would be refused). `ok` is True when every job is runnable.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.errors import JobTuiError, ValidationError
from engine.models import Actor
from engine.scheduling.blocking import held_by_limits, no_room
from engine.scheduling.plan import placement, take_gpus
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
            "gpus": [],
            "reason": None,
            "position": None,
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
        held = held_by_limits(job, usage, policy)  # the code a queued job's waiting reason uses too
        if node is None:
            entry["reason"] = f"no room now: {no_room(job, nodes, usage, policy)[1]}"
        elif held:
            entry["reason"] = f"{held[1]} (it fits {node})"
        else:
            state = engine.node_states()[node]
            entry["node"] = node
            entry["gpus"] = list(take_gpus(replace(state, gpus=list(state.gpus)), job))
        if entry["reason"] is not None:
            entry["position"] = engine.queue_place(job.priority)
        jobs.append(entry)
    return {"ok": all(j["runnable"] for j in jobs), "jobs": jobs}


def _check_dependencies(service: JobService, spec: JobSpec, keys: set[str]) -> None:
    for dep in spec.after:
        if isinstance(dep, str) and dep in keys:
            continue
        if service.engine.find(int(dep)) is None:
            raise ValidationError(f"it depends on job {dep}, which does not exist; check the id with `jobtui list`.")
