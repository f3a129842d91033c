"""The verbs users call: each checks the caller's role and ownership, validates, and is durable
before it returns. Both the HTTP API and the in-process client go through here.
"""

from __future__ import annotations

import builtins
import os
import shutil
import socket
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.accounts import account_named
from engine.config import MAX_LIMIT, Limits
from engine.core.engine import Engine
from engine.core.environment import (
    ENV_KEY,
    StoredEnvironment,
    check_sent_environment,
    passed_environment,
    split_environment,
)
from engine.errors import Conflict, PermissionDenied, ValidationError
from engine.executors.results import input_path
from engine.models import (
    ACTIVE,
    QUEUED,
    REQUEUABLE,
    TERMINAL,
    Actor,
    Job,
    JobStatus,
    Reason,
    Resources,
    RetryPolicy,
    SharedParts,
    Submission,
    WorkflowRecord,
)
from engine.scheduling.capacity import abaqus_tokens
from engine.scheduling.plan import local_limit_reached, unplaceable_reason
from engine.service.approval_rules import apply_rules, may_approve
from engine.service.auth import capabilities, require, require_manage
from engine.service.devices import LocalGpuSamples, local_summary, node_devices, system_status
from engine.service.jobspec import (
    JobSpec,
    WorkflowInfo,
    batch_digest,
    batch_order,
    check_idempotency_key,
    reaches,
    typed_command,
)
from engine.service.node_measures import node_measures
from engine.service.selection import queue_stats, select_jobs
from engine.wire import me_result, node_record

NO_LIMIT_WHEN_NONE = frozenset({"local_gpu_max_concurrent", "local_job_max_concurrent"})


class JobService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.config = engine.config
        self._which: dict[tuple[str, str | None], bool] = {}
        self._environments: dict[str, StoredEnvironment] = {}  # the distinct environments of the batch being built
        self._passed: dict[str, str] | None = None  # the batch's sent environment through the deny-list
        self._stored: dict[tuple[tuple[str, str], ...], str] = {}  # a job's secret variables -> its digest
        self._shared = SharedParts()  # the parts the batch's jobs have in common, held once
        self.local_gpus = LocalGpuSamples()  # NVML, at most every few seconds
        self.api_addresses: list[tuple[str, int]] = []  # the API's TCP addresses (`--listen`), set by its host

    def actor(self, user: str) -> Actor:
        return Actor(user, self.config.role_of(user, self.engine.owner), self.config.team_of(user))

    # -- submit ------------------------------------------------------------------------------------------

    async def submit(
        self,
        actor: Actor,
        specs: list[JobSpec],
        key: str | None = None,
        workflow: WorkflowInfo | None = None,
        environment: dict[str, str] | None = None,
    ) -> list[Job]:
        """Validate a batch as a whole, then hand it to the engine, which makes it durable: all or nothing.

        With an idempotency `key`, a batch this user already submitted with that key is not submitted again:
        its jobs are returned as they are now. The same key with other jobs is a Conflict. A batch that came
        from a workflow file says who it is in `workflow`: its record is saved with its jobs. `environment` is
        the submitter's (None: `--clean-env`): the jobs get it, less the config's `env_deny`.
        """
        require(actor, "submit", "submit jobs")
        if not specs:
            raise ValidationError("the submission holds no jobs; give a command or a file with at least one job.")
        engine = self.engine
        digest = ""
        if key is not None:
            check_idempotency_key(key)
            digest = batch_digest(specs)
            earlier = await engine.submission(actor.user, key)
            if earlier is not None:
                return self._submitted_before(earlier, digest)
        order = batch_order(specs)
        if environment is not None:
            check_sent_environment(environment)
        self._which = {}  # program lookups, for this batch only
        self._environments = {}
        self._passed = passed_environment(environment, self.config.env_deny)  # filtered once for the batch
        self._stored = {}
        self._shared = SharedParts()
        ids: dict[int, int] = {}
        keys = {spec.key: i for i, spec in enumerate(specs) if spec.key}
        now = engine.clock.now()
        first_id = engine.next_job_id  # no await from here to engine.submit: the ids stay ours
        jobs: list[Job] = []
        for index in order:
            job = self._build(actor, specs[index], first_id + len(jobs), now, self._passed)
            job.after = [self._resolve_dep(dep, keys, ids, index) for dep in specs[index].after]
            job.after_when = {  # only the edges that are not `success`, by parent id
                self._resolve_dep(dep, keys, ids, index): when
                for dep, when in specs[index].after_when.items()
                if when != "success"
            }
            job.status = JobStatus.BLOCKED if job.requires_approval else JobStatus.WAITING
            if specs[index].no_wait and job.status == JobStatus.WAITING:
                self._reject_if_gpus_busy(job, now)
            ids[index] = job.id
            jobs.append(job)
        record = None
        if workflow is not None and workflow.join is not None:
            self._join(actor, workflow.join, jobs)
        elif workflow is not None:  # numbered by the engine
            record = WorkflowRecord(
                0, workflow.name, workflow.version, workflow.description, workflow.digest, actor.user, now,
                workflow.max_concurrent,
            )  # fmt: skip
        await engine.submit(jobs, actor, key, digest, record, list(self._environments.values()))
        return sorted(jobs, key=lambda j: j.id)

    def _join(self, actor: Actor, workflow_id: int, jobs: list[Job]) -> None:
        """Put a batch's jobs in an existing workflow, whose submitter the actor must be (or an admin)."""
        record = self.engine.workflow(workflow_id)
        if record.submitter != actor.user and not actor.is_admin:
            raise PermissionDenied(
                f"workflow {workflow_id} ({record.name}) is {record.submitter}'s; only they or an admin may add jobs "
                "to it. Nothing was submitted."
            )
        for job in jobs:
            job.workflow_id = workflow_id

    def _reject_if_gpus_busy(self, job: Job, now: float) -> None:
        """`no_wait`: a job whose GPUs are not free now on any node it may run on ends `rejected` at once."""
        nodes = list(self.engine.node_states().values())
        local_limit = local_limit_reached(job, nodes, self.engine.policy())
        free = [
            n.name
            for n in nodes
            if n.reachable and n.matches(job) and n.gpus_free_for(job) and (n.kind != "local" or local_limit is None)
        ]
        if free:
            return
        wanted = f"GPU devices {','.join(map(str, job.resources.gpu_ids))}" if job.resources.gpu_ids else None
        asked = wanted or f"{job.resources.gpus} GPU" + ("s" if job.resources.gpus != 1 else "")
        busy = f"; {local_limit}" if local_limit else ""
        job.status, job.reason, job.finished_at = JobStatus.REJECTED, Reason.GPUS_BUSY, now
        job.message = (
            f"rejected at submission (--no-wait): {asked} not free now{busy}; submit without --no-wait to queue it"
        )

    def _submitted_before(self, earlier: Submission, digest: str) -> list[Job]:
        if earlier.digest != digest:
            ids = earlier.ids
            those = f"job {ids[0]}" if len(ids) == 1 else f"jobs {ids[0]} to {ids[-1]}"
            raise Conflict(
                f"idempotency key {earlier.key!r} was already used by {earlier.user} for other jobs ({those}); "
                "a retry must send the same jobs. Use a new key for a new submission.",
                title="Idempotency key already used",
            )
        return [job for job in map(self.engine.find, earlier.ids) if job is not None]

    def _build(self, actor: Actor, spec: JobSpec, job_id: int, now: float, passed: dict[str, str] | None = None) -> Job:
        """The job of `spec`, checked; `passed`: the submitter's environment through the deny-list (None: the
        engine's base)."""
        cfg = self.config
        priority = spec.priority if spec.priority is not None else actor.priority_level
        if spec.priority is not None and spec.priority > actor.priority_level and actor.role not in ("admin", "lead"):
            raise PermissionDenied(
                f"{actor.user} ({actor.role}) may not set priority {spec.priority}: the most for this role is "
                f"{actor.priority_level}; ask a lead or admin to raise it."
            )
        cpus = spec.cpus if spec.cpus is not None else 0 if spec.http else cfg.defaults.cpus  # http: no process
        licenses = {name: self._tokens(name, cpus) for name in spec.licenses}
        retries = spec.retries if spec.retries is not None else cfg.defaults.max_attempts - 1
        command = typed_command(None, spec.python, cfg.python_interpreter) if spec.python else list(spec.command)
        job = Job(
            id=job_id,
            name=spec.name or Path(spec.command[0]).name,
            command=command,
            user=actor.user,
            team=actor.team,
            priority=priority,
            priority_override=spec.priority is not None and spec.priority != actor.priority_level,
            status=JobStatus.BLOCKED,
            resources=Resources(
                cpus,
                spec.mem_mb if spec.mem_mb is not None else cfg.defaults.mem_mb,
                spec.gpus,
                licenses,
                list(spec.gpu_ids),
            ),
            retry=RetryPolicy(
                max_attempts=retries + 1,
                initial_delay=spec.retry_delay if spec.retry_delay is not None else cfg.defaults.initial_delay,
                backoff_factor=spec.backoff_factor or cfg.defaults.backoff_factor,
                max_delay=spec.max_delay if spec.max_delay is not None else cfg.defaults.max_delay,
            ),
            tags=list(spec.tags),
            env=dict(spec.env),
            workdir=spec.workdir,
            inputs=list(spec.inputs),
            outputs=list(spec.outputs),
            node_request=spec.node,
            timeout=spec.timeout,
            requires_approval=spec.requires_approval,
            created_at=now,
            updated_at=now,
            extra={"labels": dict(spec.labels)} if spec.labels else {},
        )
        if spec.target != "auto":  # where it may run: local nodes only, or remote ones only
            job.extra["target"] = spec.target
        if spec.http is not None:  # the request, or the code, travels on the job (persisted with it)
            job.extra["http"] = spec.http.model_dump()
        if spec.python is not None:
            job.extra["python_code"] = spec.python.code
        if spec.success_file is not None:  # checked where the attempt ends (engine.executors.wrapper)
            job.extra["success_file"] = spec.success_file
        if spec.wait_for_files:  # looked for on its node until all exist (engine.core.file_waits)
            job.extra["wait_for_files"] = list(spec.wait_for_files)
        if spec.copy_back is not None:  # done after it ends (engine.trees.results)
            job.extra["copy_back"] = spec.copy_back.model_dump()
        if spec.progress_files:  # followed besides its output while it runs (engine.core.job_watch)
            job.extra["progress_files"] = list(spec.progress_files)
        path = job.env.get("PATH")
        if path is None and passed is not None:
            path = passed.get("PATH")
        job.env, stored = split_environment(passed, job.env, cfg.env_deny)
        if stored is not None:
            secrets = tuple(sorted(stored.secret.items()))
            if secrets not in self._stored:  # one digest per distinct environment of the batch
                self._stored[secrets] = stored.digest
                self._environments[stored.digest] = stored
            job.extra[ENV_KEY] = self._stored[secrets]
        self._check_runnable(job, spec, path)
        self._check_runs_as_its_submitter(actor, job)
        apply_rules(job, actor, cfg.approval)
        return self._shared.share(job)

    def _tokens(self, name: str, cpus: int) -> int:
        pool = self.config.licenses.get(name)
        if pool is None:
            known = ", ".join(self.config.licenses) or "none configured"
            raise ValidationError(
                f"licence pool {name!r} is not in the config (known: {known}); add it under licenses:."
            )
        return abaqus_tokens(cpus) if pool.formula == "abaqus" else 1

    def _check_runnable(self, job: Job, spec: JobSpec, path: str | None) -> None:
        """Refuse a job that can never start; its program is looked for on `path` (the job's PATH)."""
        label = f"job {job.name!r}"
        why = unplaceable_reason(job, list(self.engine.node_states().values()), self.engine.policy())
        if why:
            raise ValidationError(f"{label} can never start: {why}. Lower its request or add a node that fits.")
        if spec.http is not None:
            self._check_http_target(label, spec.http.url)
            return  # the engine makes the request: no program, no working directory
        if spec.python is not None and not self._only_local(job):
            raise ValidationError(
                f"{label}: python code runs from a file the engine writes on this machine, so on local nodes only; "
                "send it to one (node: / --node), or put the code in a file given to the node as an input."
            )
        if spec.workdir is not None and not _exists(Path(spec.workdir), as_dir=True) and self._only_local(job):
            raise ValidationError(
                f"{label}: working directory {spec.workdir!r} does not exist; create it or fix --workdir."
            )
        if spec.wait_for_files:
            self._check_waits(label, job, spec)
        if spec.inputs and not spec.after and self._only_local(job):
            self._check_inputs(label, spec)
        if spec.copy_back is not None and spec.workdir is None:
            raise ValidationError(
                f"{label}: copy_back brings files back from its working directory, so it needs one; give workdir."
            )
        program = job.command[0]
        key = (program, path)
        if key not in self._which:
            self._which[key] = shutil.which(program, path=key[1]) is not None
        on_path = self._which[key]
        runnable = on_path or ("/" in program and _exists(Path(spec.workdir or ".", program)))
        if self._only_local(job) and not runnable:
            raise ValidationError(
                f"{label}: command {program!r} was not found on PATH; give its full path or install it."
            )

    def _check_inputs(self, label: str, spec: JobSpec) -> None:
        """A local job's inputs exist now (a job that runs after others may wait for them to write its inputs);
        they are looked for again when it launches (`executors.results`)."""
        workdir = spec.workdir or str(Path.home())
        missing = [p for p in spec.inputs if not os.path.exists(input_path(p, workdir))]
        if missing:
            listed = ", ".join(repr(p) for p in missing)
            raise ValidationError(
                f"{label}: input {listed} does not exist on this machine (looked for in {workdir}); create it or "
                "fix the job's inputs."
            )

    def _check_waits(self, label: str, job: Job, spec: JobSpec) -> None:
        """A job that waits for files says where they are: below its working directory, on its node."""
        if spec.workdir is None:
            raise ValidationError(
                f"{label}: it waits for files relative to its working directory, so it needs one; give workdir "
                "(--workdir)."
            )
        if job.node_request is None and not self._only_local(job):
            raise ValidationError(
                f"{label}: it waits for files, which are looked for on the node it runs on; name that node "
                "(node: / --node)."
            )

    def _check_http_target(self, label: str, url: str) -> None:
        """An http job may not call this engine's own API (its --listen address), unless the config allows it."""
        if self.config.http_jobs.allow_engine_api or not reaches(url, self.api_addresses, [socket.gethostname()]):
            return
        raise ValidationError(
            f"{label}: {url} is this engine's own API; an http job may not call it (set http_jobs: "
            "allow_engine_api: true in the config to allow it)."
        )

    def _check_runs_as_its_submitter(self, actor: Actor, job: Job) -> None:
        """A job runs with its submitter's rights, never the daemon's.

        Personal mode: a job of anyone but the owner never runs on this machine: the daemon runs as its owner,
        so it would run with the owner's rights and could read the owner's token, the store and everyone's
        output. Shared mode: it runs as the submitter's Unix account, which must exist. SSH nodes and clusters
        run jobs as their configured remote user, away from the state directory.
        """
        if actor.user == self.engine.owner:
            return
        states = self.engine.node_states()
        local = [
            n.name for n in self.config.nodes if n.kind == "local" and n.name in states and states[n.name].matches(job)
        ]
        if local and self.config.mode == "shared":
            if account_named(actor.user) is None:
                raise PermissionDenied(
                    f"{actor.user} has no Unix account on this machine, and a job here runs as its submitter's "
                    "account. Send it to an SSH node or a cluster with --node, or ask the admin for an account."
                )
            return
        if local:
            raise PermissionDenied(
                f"{actor.user}: this engine runs as {self.engine.owner} (personal mode), so a job of yours on "
                f"this machine ({', '.join(local)}) would run with {self.engine.owner}'s rights. Send it to an "
                "SSH node or a cluster with --node, or ask for a shared engine, where jobs run as their submitter."
            )

    def _only_local(self, job: Job) -> bool:
        states = self.engine.node_states()
        nodes = [n for n in self.config.nodes if n.name in states and states[n.name].matches(job)]
        return bool(nodes) and all(n.kind == "local" for n in nodes)

    def _resolve_dep(self, dep: int | str, keys: dict[str, int], ids: dict[int, int], index: int) -> int:
        if isinstance(dep, str) and dep in keys:
            return ids[keys[dep]]
        job_id = int(dep)
        if self.engine.find(job_id) is None:
            raise ValidationError(
                f"job #{index + 1} depends on job {job_id}, which does not exist; check the id with `jobtui list`."
            )
        return job_id

    # -- actions on one job --------------------------------------------------------------------------------

    async def cancel(self, actor: Actor, job_id: int) -> Job:
        job = self.engine.get(job_id)
        require_manage(actor, job, "cancel")
        if job.status in TERMINAL:
            raise Conflict(f"job {job_id} has already ended ({job.status.value}); nothing to cancel.")
        await self.engine.cancel(job, actor)
        return job

    async def approve(self, actor: Actor, job_id: int) -> Job:
        job = self._blocked(actor, job_id, "approve")
        return await self._act(job, actor, "approved", JobStatus.WAITING, message=f"approved by {actor.user}")

    async def reject(self, actor: Actor, job_id: int, reason: str) -> Job:
        if not reason.strip():
            raise ValidationError("a rejection needs a reason; give one with --reason.")
        job = self._blocked(actor, job_id, "reject")
        return await self._act(
            job,
            actor,
            "rejected",
            status=JobStatus.REJECTED,
            reason=Reason.REJECTED,
            message=f"rejected by {actor.user}: {reason}",
        )

    def _blocked(self, actor: Actor, job_id: int, verb: str) -> Job:
        job = self.engine.get(job_id)
        if not may_approve(actor, job):  # an admin; a lead for their team's jobs held by a team_lead rule
            require(actor, verb, f"{verb} jobs")
        if job.status != JobStatus.BLOCKED:
            done = {"approve": "approved", "reject": "rejected"}.get(verb, f"{verb}ed")
            raise Conflict(
                f"job {job_id} is {job.status.value}, not awaiting approval; only blocked jobs can be {done}."
            )
        return job

    async def requeue(self, actor: Actor, job_id: int) -> Job:
        job = self.engine.get(job_id)
        require_manage(actor, job, "requeue")
        if job.status not in REQUEUABLE:
            hint = "cancel it first" if job.status in ACTIVE else "it has not ended"
            if job.status == JobStatus.REJECTED:
                hint = "a rejected job must be submitted again"
            raise Conflict(f"job {job_id} is {job.status.value}; only ended jobs can be requeued ({hint}).")
        job.retry = replace(job.retry, max_attempts=max(job.retry.max_attempts, job.attempts + 1))
        # A job that needed approval needs it again, unless an approver requeues it: cancel-and-requeue
        # is no way around approval.
        again = job.requires_approval and not capabilities(actor)["approve"]
        status, message = JobStatus.WAITING, f"requeued by {actor.user}"
        if again:
            status, message = JobStatus.BLOCKED, f"requeued by {actor.user}; awaiting approval again"
        return await self._act(
            job, actor, "requeued", status=status, reason=None, exit_code=None, not_before=None, message=message
        )

    async def set_priority(self, actor: Actor, job_id: int, priority: int) -> Job:
        job = self.engine.get(job_id)
        require(actor, "priority", "change priorities")
        require_manage(actor, job, "reprioritise")
        if not 0 <= priority <= 100:
            raise ValidationError(f"priority {priority} is out of range; use 0 to 100.")
        if job.status not in QUEUED:
            raise Conflict(f"job {job_id} is {job.status.value}; only queued jobs can be reprioritised.")
        await self.engine.set_priority(job, actor, priority)
        return job

    async def _act(self, job: Job, actor: Actor, kind: str, status: JobStatus | None = None, **fields: Any) -> Job:
        await self.engine.act(job, actor, kind, status, **fields)
        return job

    # -- queue-wide ---------------------------------------------------------------------------------------

    def limits(self) -> dict[str, Any]:
        return self.engine.limits()

    async def set_limits(self, actor: Actor, changes: dict[str, Any]) -> dict[str, Any]:
        require(actor, "set_limits", "change concurrency limits")
        too_big = [f"{k} {v}" for k, v in changes.items() if type(v) is int and v > MAX_LIMIT]
        if too_big:
            raise ValidationError(
                f"invalid limits: {', '.join(too_big)} is more than {MAX_LIMIT}. Limits are whole numbers from 1 "
                f"to {MAX_LIMIT}."
            )
        # None leaves a limit as it is, except where None means "no limit" (the local GPU and job limits).
        changes = {k: v for k, v in changes.items() if v is not None or k in NO_LIMIT_WHEN_NONE}
        merged = {**self.engine.all_limits(), **changes}
        try:
            validated = Limits.model_validate(merged).model_dump()
        except Exception as e:
            raise ValidationError(f"invalid limits: {e}. Limits are whole numbers of at least 1.") from e
        persisted = {k: validated[k] for k in changes}
        await self.engine.set_limits(validated, persisted)
        return self.limits()

    async def cleanup(self, actor: Actor, days: float) -> int:
        require(actor, "cleanup", "clean up old jobs")
        if days < 0:
            raise ValidationError(f"--days {days} is negative; give the age in days (0 or more).")
        cutoff = self.engine.clock.now() - days * 86400
        old = [j.id for j in self.engine.jobs() if j.status in TERMINAL and (j.finished_at or 0) <= cutoff]
        await self.engine.remove_jobs(old)
        return len(old)

    # -- queries ------------------------------------------------------------------------------------------

    def list(
        self,
        status: set[JobStatus] | None = None,
        user: str | None = None,
        include_completed: bool = True,
        limit: int | None = None,
    ) -> list[Job]:
        return select_jobs(self.engine.jobs(), status, user, include_completed, limit)

    def stats(self) -> dict[str, Any]:
        """The queue's figures, and under `local` (the seed's) the local nodes' jobs and GPUs."""
        stats = queue_stats(self.engine.jobs(), self.limits())
        states = self.engine.node_states()
        local = [states[n.name] for n in self.config.nodes if n.kind == "local"]
        limits = self.limits()
        stats["local"] = local_summary(
            local,
            self.engine.gpu_holders,
            pending=sum(j.status == JobStatus.WAITING and any(n.matches(j) for n in local) for j in self.engine.jobs()),
            max_gpus=limits["local_gpu_max_concurrent"],
            max_jobs=limits["local_job_max_concurrent"],
        )
        return stats

    def waiting(self, jobs: Iterable[Job]) -> dict[int, dict[str, Any]]:
        """Why each queued job of `jobs` waits, by id (`Engine.waiting_of`): worked out now, for these only, with
        no queue positions (each costs O(users))."""
        context = None
        found = {}
        for job in jobs:
            if job.status in QUEUED:
                context = context or self.engine.waiting_context()
                if (reason := self.engine.waiting_of(job, context, exact=False)) is not None:
                    found[job.id] = reason
        return found

    def fairshare(self) -> dict[str, Any]:
        return self.engine.fairshare()

    def approvals(self, actor: Actor) -> builtins.list[Job]:
        """The jobs awaiting approval that `actor` may approve, oldest first."""
        return [j for j in self.engine.jobs() if j.status == JobStatus.BLOCKED and may_approve(actor, j)]

    def position(self, job_id: int) -> int | None:
        self.engine.get(job_id)
        return self.engine.queue_position(job_id)

    def me(self, actor: Actor) -> dict[str, Any]:
        mine = [j for j in self.engine.jobs() if j.user == actor.user]
        pending = [j for j in mine if j.status == JobStatus.WAITING]
        positions = [p for p in (self.engine.queue_position(j.id) for j in pending) if p is not None]
        return me_result(
            actor,
            pending=pending,
            running=[j for j in mine if j.status in ACTIVE],
            blocked_count=sum(j.status == JobStatus.BLOCKED for j in mine),
            best_position=min(positions) if positions else None,
            capabilities=capabilities(actor),
        )

    def nodes(self) -> builtins.list[dict[str, Any]]:  # `list` in this class is the method above
        states = self.engine.node_states()
        out = []
        for cfg in self.config.nodes:
            state = states[cfg.name]
            out.append(
                node_record(
                    name=cfg.name,
                    kind=cfg.kind,
                    cores=state.cores,
                    used_cores=state.used_cores,
                    mem_mb=state.mem_mb,
                    used_mem_mb=state.used_mem_mb,
                    running=state.running,
                    reachable=state.reachable,
                    labels=state.labels,
                    gpu_holders=(holders := self.engine.gpu_holders(cfg.name)),
                    gpus=(devices := node_devices(state, holders, self.engine.find, self.local_gpus)),
                    measured=node_measures(
                        state, self.engine.node_watch.of(cfg.name), self.engine.attempts_on(cfg.name), devices
                    ),
                )
            )
        return out

    def system_status(self, include_allocation: bool) -> dict[str, Any]:
        """`GET /api/system/status`: this machine's load, memory and GPUs, and with `include_allocation` which
        devices jobs hold (engine.service.devices)."""
        states = self.engine.node_states()
        local = [n.name for n in self.config.nodes if n.kind == "local"]
        running = sum(states[name].running for name in local)
        nodes = self.nodes() if include_allocation else []
        return system_status(nodes, self.local_gpus(), running, include_allocation, self.engine.clock.now())


def _exists(path: Path, as_dir: bool = False) -> bool:
    """Whether `path` exists (as a directory); a path this machine cannot even look up (a name longer than
    the file system allows, a loop of links) does not."""
    try:
        return path.is_dir() if as_dir else path.exists()
    except OSError:
        return False
