"""The Engine: the single owner of live job state.

Every change to a job goes through `transition`: its write is queued for the store, then its event is
published, then what follows from it happens (children skipped or released, the job queued again), each
consequence a transition of its own, so writes, history and events are always in causal order. Other
modules change state only through the public verbs here (`submit`, `cancel`, `act`, `set_priority`,
`remove_jobs`, `set_limits`, `save_setting`) and read it through the read methods. The scheduling loop is
event-driven: it wakes on a change or on the next timer (retry back-off, ageing), asks the pure `plan()`
what to start, records the launch intents durably, then launches.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.accounts import Account, account_named, login_environment
from engine.clock import Clock, SystemClock
from engine.config import Config
from engine.core.dependencies import Dependencies, blocked_by
from engine.core.environment import ENV_KEY, StoredEnvironment, for_root_wrapper, job_environment
from engine.core.estimates import Estimate
from engine.core.file_waits import FileWaits, waited_files
from engine.core.hook_feed import HookFeed
from engine.core.job_watch import JobWatch
from engine.core.node_monitor import NodeMonitor
from engine.core.node_watch import NodeWatch
from engine.core.outcomes import decide
from engine.core.progress import compile_patterns
from engine.core.recovery import reattach
from engine.core.runner import Runner
from engine.core.usage import UsageMonitor
from engine.core.waiting import ScanNotes, WaitContext, wait_context, waiting_reason
from engine.core.watch import Flag
from engine.errors import NotFound, PermissionDenied, StoreError
from engine.events import Event, EventBus, JobChanged, JobRemoved, LimitsChanged, NodesSampled, Subscription
from engine.executors.base import Executor, LaunchSpec, Outcome
from engine.executors.http import HttpExecutor
from engine.executors.local import attempt_dir_name
from engine.executors.registry import make_executors
from engine.executors.results import Declared, HereFiles
from engine.models import (
    ACTIVE,
    QUEUED,
    SYSTEM,
    TERMINAL,
    Actor,
    Attempt,
    Job,
    JobEvent,
    JobStatus,
    Progress,
    Reason,
    Submission,
    WorkflowRecord,
    can_transition,
)
from engine.notify.dispatcher import HookDispatcher
from engine.scheduling.fair_share import FairShareKeeper
from engine.scheduling.ledger import Ledger
from engine.scheduling.plan import NodeState, Policy, Start, Usage, plan
from engine.scheduling.queue_index import QueueIndex
from engine.store import Statement, Store

log = logging.getLogger(__name__)
FAIRSHARE_SETTING = "fairshare_usage"  # the decayed usage of fair share over time, saved at each charge
PROGRESS_SAVE_INTERVAL = 5.0
DELETE_BATCH = 500


class Engine:
    def __init__(
        self,
        config: Config,
        state_dir: Path,
        owner: str,
        clock: Clock | None = None,
        executors: dict[str, Executor] | None = None,
        poll_interval: float = 0.5,
        cancel_grace: float = 10.0,
        event_history: int = 10_000,
    ) -> None:
        self.config = config
        self.state_dir = state_dir
        self.owner = owner
        self.clock = clock or SystemClock()
        self.instance = uuid.uuid4().hex[:12]
        self.poll_interval = poll_interval
        self.cancel_grace = cancel_grace
        self._store = Store(state_dir / "jobtui.db")
        self._bus = EventBus(event_history)
        self._jobs: dict[int, Job] = {}
        self._attempts: dict[int, Attempt] = {}
        self._runners: dict[int, Runner] = {}
        self._ready = QueueIndex()
        self._ledger = Ledger(config)
        self._dependencies = Dependencies()
        self._file_waits = FileWaits(lambda node: self.executors.get(node), self._files_checked)
        self._files_found: set[int] = set()  # waiting jobs whose files were all found (they may start)
        self._monitor = NodeMonitor(self)
        self._executors = executors
        self._http = HttpExecutor(state_dir / "runs")  # http jobs' requests, made here (no node, no process)
        self._limits: dict[str, Any] = config.limits.model_dump()
        lines = [(p.marker, p.regex) for p in config.progress_patterns if p.regex and p.marker]
        self._patterns = compile_patterns(lines)
        self.watch = JobWatch(config, self.announce, self.note)  # estimates, progress files, flags, milestones
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._to_launch: list[tuple[Job, Attempt]] = []
        self._launch_wake = asyncio.Event()
        self._launcher_task: asyncio.Task[None] | None = None
        self._timers: list[tuple[float, int, str]] = []
        self._progress_saved: dict[int, float] = {}
        self._next_id = 1
        self._workflows: dict[int, WorkflowRecord] = {}  # by id; their jobs carry the id
        self._workflow_caps: dict[int, int] = {}  # workflow id -> its jobs running at once, where it caps them
        self._next_workflow_id = 1
        self._submissions: dict[tuple[str, str], Submission] = {}  # by (user, idempotency key)
        self._saving: dict[tuple[str, str], asyncio.Event] = {}  # keyed submissions being committed
        self._event_seq = 0
        self._base_env = dict(os.environ)
        self._environments: dict[str, StoredEnvironment] = {}  # by digest: what jobs were submitted with
        self._fair = FairShareKeeper(config.fairshare)  # fair share over time (used when enabled)
        self.scan_notes = ScanNotes()  # the jobs each scheduling pass looked at and could not place
        self._age_next: dict[int, float] = {}  # job id -> when its ageing is next due (older timers are stale)
        self._node_kinds = {node.name: node.kind for node in config.nodes}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self.hooks = HookDispatcher(config.hooks, config.hook_delivery, record=self.note)
        self.node_watch = NodeWatch()
        local_nodes = [node.name for node in config.nodes if node.kind == "local"]
        ssh_nodes = [node.name for node in config.nodes if node.kind == "ssh"]
        self._usage = UsageMonitor(self, config.usage, local_nodes, ssh_nodes)
        self._usage_task: asyncio.Task[None] | None = None
        self._hook_feed = None
        if config.hooks:
            self._hook_feed = HookFeed(self.hooks, self.clock, lambda w: self._workflows.get(w), self.jobs)

    @property
    def executors(self) -> dict[str, Executor]:
        """The executor of each node, by node name: given to the constructor, or made by start()."""
        if self._executors is None:
            raise RuntimeError("the engine has no executors yet: they are made by start()")
        return self._executors

    # -- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Whatever it was made with: the store, run directories, outputs and exit records are the owner's alone.
        self.state_dir.chmod(0o700)
        await self._store.open()
        try:
            await self._take_back_state()
        except BaseException:
            await self._store.close_unflushed()  # a start that fails leaves nothing open
            raise
        self.hooks.start()
        self._usage_task = asyncio.get_running_loop().create_task(self._usage.run())
        self._loop_task = asyncio.get_running_loop().create_task(self._loop())
        self._launcher_task = asyncio.get_running_loop().create_task(self._launcher())

    async def _take_back_state(self) -> None:
        """Settings, executors, jobs: waiting ones queued again, active ones re-attached."""
        saved = await self._store.load_settings()
        self._limits.update(saved.get("limits", {}))
        self._fair.book.load(saved.get(FAIRSHARE_SETTING) or {})
        self._submissions = {(s.user, s.key): s for s in await self._store.load_submissions()}
        self._workflows = {w.id: w for w in await self._store.load_workflows()}
        self._workflow_caps = {w.id: w.max_concurrent for w in self._workflows.values() if w.max_concurrent}
        self._next_workflow_id = max(self._workflows, default=0) + 1
        self._event_seq = await self._store.max_event_seq()
        if self._executors is None:
            self._executors = make_executors(self.config, self.state_dir)
        for executor in self.executors.values():
            executor.attach(self._monitor)
        stored = await self._store.load_environments()
        self._environments = {d: StoredEnvironment.from_dict(e) for d, e in stored.items()}
        jobs = await self._store.load_jobs()
        self.watch.learn(jobs)
        self._jobs = {job.id: job for job in jobs}
        self._next_id = (jobs[-1].id + 1) if jobs else 1
        active_ids = [j.id for j in jobs if j.status in ACTIVE]
        active = {a.job_id: a for a in await self._store.load_attempts_of(active_ids)}
        for job in jobs:
            if job.status == JobStatus.WAITING:
                self._enqueue(job)
            elif job.status in ACTIVE:
                await reattach(self, job, active.get(job.id))

    async def stop(self) -> None:
        """Stop supervising; running jobs keep running and are re-attached by the next engine."""
        if self._loop_task:
            self._loop_task.cancel()
        if self._launcher_task:
            self._launcher_task.cancel()
        if self._usage_task:
            self._usage_task.cancel()
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await self.hooks.close()
        for attempt in self._attempts.values():
            self._store.queue([Store.save_attempt(attempt)])
        await self._store.close()
        await self._file_waits.close()
        for executor in (self._executors or {}).values():
            await executor.close()
        await self._http.close()  # requests in flight are dropped: the next engine finds those attempts lost

    # -- the one way a job changes -------------------------------------------------------------------

    def transition(
        self,
        job: Job,
        actor: Actor,
        kind: str,
        status: JobStatus | None = None,
        *,
        also: Sequence[Statement] = (),
        **fields: Any,
    ) -> None:
        """Change `job`: queue its write (with `also`, in the same commit), publish its event, then what follows."""
        old = job.status
        now = self.clock.now()
        for name, value in fields.items():
            setattr(job, name, value)
        job.updated_at = now
        moved = status is not None and status != old
        if moved:
            assert status is not None
            if not can_transition(old, status):
                raise AssertionError(f"illegal transition {old} -> {status} for job {job.id}")
            job.status = status
            self._leave(job, old)
        self._event_seq += 1
        reason = job.reason.value if job.reason else None
        event = JobEvent(
            self._event_seq, job.id, now, actor.user, kind, old.value, job.status.value, reason, job.message
        )
        self._store.queue([Store.save_job_state(job), Store.add_event(event), *also])
        self._bus.publish(JobChanged(record=job.to_dict()))
        if self._hook_feed is not None:
            self._hook_feed.job_changed(job, kind, old)
        if moved:
            self._follow(job)

    def _leave(self, job: Job, old: JobStatus) -> None:
        """Bookkeeping for a job that leaves `old`; it changes no other job."""
        new = job.status
        if old == JobStatus.WAITING:
            self._ready.remove(job.id)
            self._dependencies.forget(job.id)
            self.scan_notes.forget(job.id)
            self._age_next.pop(job.id, None)
            self._file_waits.release(job.id)
            self._files_found.discard(job.id)
        if old in ACTIVE and new not in ACTIVE and job.id in self._attempts:
            self._ledger.release(job, self._attempts[job.id])
        if new in TERMINAL:
            job.finished_at = self.clock.now()
        if new == JobStatus.COMPLETED:
            self.watch.completed(job)  # its run time joins the history estimates are drawn from
        if new == JobStatus.WAITING:
            job.finished_at = None
        self._wake.set()

    def _follow(self, job: Job) -> None:
        """What follows once a job's own change is written and announced."""
        if job.status in TERMINAL:
            for child_id in self._dependencies.settle(job.id, lambda c: self._blocked_by(c, job)):
                child = self._jobs.get(child_id)
                if child is not None and child.status == JobStatus.WAITING:
                    self._enqueue(child)
        elif job.status == JobStatus.WAITING:
            self._enqueue(job)

    def _enqueue(self, job: Job) -> None:
        """A waiting job goes to the ready queue, waits for its parents or back-off, or is skipped."""
        parents = [self._jobs[p] for p in job.after if p in self._jobs]
        for parent in parents:  # an ended parent whose edge's condition is not met skips it (core/dependencies)
            blocked = blocked_by(job, parent)
            if blocked is not None:
                self.transition(job, SYSTEM, "skipped", JobStatus.SKIPPED, reason=blocked[0], message=blocked[1])
                return
        pending = {p.id for p in parents if not p.is_terminal}
        if pending:
            self._dependencies.wait(job.id, pending)
        elif job.not_before is not None and job.not_before > self.clock.now():
            heapq.heappush(self._timers, (job.not_before, job.id, "ready"))
        elif job.id not in self._files_found and waited_files(job):
            self._file_waits.hold(job, self._file_node(job))  # the ready queue once they are all there
        else:
            self._ready.add(job, self._effective_priority(job))
            age_at = job.updated_at + self._limits["starvation_minutes"] * 60
            heapq.heappush(self._timers, (age_at, job.id, "age"))

    def _file_node(self, job: Job) -> str:
        """Where the files `job` waits for are looked for: its node, or this machine (the service checked that a
        job with no node can only run here)."""
        if job.node_request is not None:
            return job.node_request
        return next((n.name for n in self.config.nodes if n.kind == "local"), self.config.nodes[0].name)

    def _files_checked(self, job_id: int, missing: list[str]) -> None:
        """The files `job_id` waits for were looked for: `missing` are not there yet. With none missing it goes to
        the ready queue; else it shows what it waits for (reason waiting_for_files), when that changed."""
        job = self._jobs.get(job_id)
        if job is None or job.status != JobStatus.WAITING:
            self._file_waits.release(job_id)
            return
        if missing:
            if job.reason != Reason.WAITING_FOR_FILES or job.extra.get("missing_files") != missing:
                shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                where = f" in {job.workdir}" if job.workdir else ""
                self.transition(
                    job, SYSTEM, "waiting_for_files", reason=Reason.WAITING_FOR_FILES,
                    message=f"waiting for {shown}{where}", extra={**job.extra, "missing_files": missing},
                )  # fmt: skip
            return
        self._file_waits.release(job_id)
        self._files_found.add(job_id)
        if job.reason == Reason.WAITING_FOR_FILES:
            extra = {k: v for k, v in job.extra.items() if k != "missing_files"}
            self.transition(job, SYSTEM, "files_found", reason=None, message="files found", extra=extra)
        self._enqueue(job)
        self._wake.set()

    def _blocked_by(self, child_id: int, parent: Job) -> bool:
        """Does `parent`'s end skip this child now, whatever its other parents do?"""
        child = self._jobs.get(child_id)
        return child is not None and blocked_by(child, parent) is not None

    def _effective_priority(self, job: Job) -> int:
        """Its priority plus what it gained by waiting (`age_boost`, grown by each starvation interval)."""
        return job.priority + job.extra.get("age_boost", 0)

    # -- verbs (the service checks who may; these do it) -----------------------------------------------

    @property
    def next_job_id(self) -> int:
        """The id the next submitted job gets (a batch takes consecutive ids from here)."""
        return self._next_id

    async def submit(
        self,
        jobs: list[Job],
        actor: Actor,
        key: str | None = None,
        digest: str = "",
        workflow: WorkflowRecord | None = None,
        environments: Sequence[StoredEnvironment] = (),
    ) -> WorkflowRecord | None:
        """Take a batch numbered from `next_job_id`: on disk before it returns, then queued and announced.

        With an idempotency `key` (one `submission` found unused, with no await in between), the key, the
        batch's `digest` and its ids are saved in the same commit as the jobs. So is `workflow`, the record of
        the workflow file the batch came from: numbered here, its id set on every job; it is returned. The
        `environments` its jobs refer to (by digest) are saved with them.
        """
        if not jobs or jobs[0].id != self._next_id:
            raise AssertionError("a batch must be numbered from next_job_id, with no await in between")
        keyed = None if key is None else (actor.user, key)
        if keyed is not None and (keyed in self._submissions or keyed in self._saving):
            raise AssertionError("an idempotency key is taken once: ask `submission` first, with no await in between")
        self._next_id += len(jobs)  # claimed now: a submission running alongside numbers after these
        if workflow is not None:
            workflow = replace(workflow, id=self._next_workflow_id)
            self._next_workflow_id += 1
            for job in jobs:
                job.workflow_id = workflow.id
        statements: list[Statement] = [] if workflow is None else [Store.save_workflow(workflow)]
        # the environments the jobs were submitted with, once each; each job carries its digest (`extra.environment`)
        statements += [Store.save_environment(e.digest, e.to_dict()) for e in environments]
        for job in jobs:
            self._event_seq += 1
            submitted = JobEvent(  # its message: why it is held (an approval rule), if it is
                self._event_seq, job.id, job.created_at, actor.user, "submitted", None, job.status.value, None,
                job.message,
            )  # fmt: skip
            statements += [Store.save_job(job), Store.add_event(submitted)]
        submission = None
        if keyed is not None:
            submission = Submission(*keyed, digest, tuple(job.id for job in jobs), self.clock.now())
            statements.append(Store.save_submission(submission))
            self._saving[keyed] = asyncio.Event()
        try:
            await self._store.commit(statements)  # acknowledged only once on disk
            if keyed is not None and submission is not None:
                self._submissions[keyed] = submission  # before the waiters of `submission` wake
        except StoreError:
            if self._next_id == jobs[0].id + len(jobs):  # nothing numbered after them: the ids are free again
                self._next_id = jobs[0].id
            if workflow is not None and self._next_workflow_id == workflow.id + 1:
                self._next_workflow_id = workflow.id
            raise
        finally:
            if keyed is not None:
                self._saving.pop(keyed).set()
        self._environments.update((e.digest, e) for e in environments)
        if workflow is not None:
            self._workflows[workflow.id] = workflow
            if workflow.max_concurrent:
                self._workflow_caps[workflow.id] = workflow.max_concurrent
        for job in jobs:
            self._jobs[job.id] = job
            self._bus.publish(JobChanged(record=job.to_dict()))
            if self._hook_feed is not None:
                self._hook_feed.submitted(job)
        for job in jobs:
            if job.status == JobStatus.WAITING:
                self._enqueue(job)
        self._wake.set()
        return workflow

    async def cancel(self, job: Job, actor: Actor) -> None:
        """Cancel a queued job at once, or ask a running one's runner to stop it; durable before it returns."""
        self._cancel(job, actor)
        await self._store.commit()

    async def cancel_all(self, jobs: Sequence[Job], actor: Actor) -> None:
        """`cancel` each of `jobs` not ended by its turn, in order, with no await in between; one commit."""
        for job in jobs:
            if not job.is_terminal:
                self._cancel(job, actor)
        await self._store.commit()

    def _cancel(self, job: Job, actor: Actor) -> None:
        message = f"cancelled by {actor.user}"
        runner = self._runners.get(job.id)
        if job.status in QUEUED or (job.status == JobStatus.STARTING and runner is None):
            # Queued, or its launch intent is still being saved: the engine will not launch it now.
            attempt = self._attempts.get(job.id)
            also = []
            if attempt is not None:
                attempt.status, attempt.reason, attempt.message = "finished", Reason.CANCELLED.value, message
                also.append(Store.save_attempt(attempt))
            self.transition(job, actor, "cancelled", JobStatus.CANCELLED, also=also,
                            reason=Reason.CANCELLED, message=message)  # fmt: skip
            self._attempts.pop(job.id, None)
        else:
            self.transition(job, actor, "cancel_requested", message=f"cancel requested by {actor.user}")
            if runner is not None:
                runner.stop(Reason.CANCELLED, message)

    async def act(self, job: Job, actor: Actor, kind: str, status: JobStatus | None = None, **fields: Any) -> None:
        """A person's change to one job (approve, reject, requeue, ...): durable before it returns."""
        self.transition(job, actor, kind, status, **fields)
        await self._store.commit()

    async def act_all(self, changes: Sequence[tuple[Job, str, JobStatus | None, dict[str, Any]]], actor: Actor) -> None:
        """`act` for several jobs (job, kind, status, fields), in order, with no await in between; one commit."""
        for job, kind, status, fields in changes:
            self.transition(job, actor, kind, status, **fields)
        await self._store.commit()

    async def set_priority(self, job: Job, actor: Actor, priority: int) -> None:
        message = f"priority set to {priority} by {actor.user}"
        await self.act(job, actor, "priority", priority=priority, priority_override=True, message=message)
        if job.id in self._ready:
            self._ready.add(job, self._effective_priority(job))
            self._wake.set()

    async def remove_jobs(self, job_ids: list[int]) -> None:
        """Delete ended jobs: their rows, history and run directories; announced as removed."""
        ended = [i for i in job_ids if i in self._jobs and self._jobs[i].status in TERMINAL]
        key_of = {i: k for k, s in self._submissions.items() for i in s.ids}  # their keys go with them
        emptied = self._workflows_emptied_by(ended)  # and a workflow's record with its last job
        for start in range(0, len(ended), DELETE_BATCH):
            batch = ended[start : start + DELETE_BATCH]
            keys = list(dict.fromkeys(key_of[i] for i in batch if i in key_of))
            last = start + DELETE_BATCH >= len(ended)
            workflows = [*Store.delete_workflows(emptied), Store.delete_unused_environments()] if last else []
            await self._store.commit([*Store.delete_jobs(batch), *Store.delete_submissions(keys), *workflows])
            for key in keys:
                self._submissions.pop(key, None)
        for workflow_id in emptied:
            self._workflows.pop(workflow_id, None)
            self._workflow_caps.pop(workflow_id, None)
        runs = self.state_dir / "runs"
        for job_id in ended:
            job = self._jobs.pop(job_id)
            shutil.rmtree(runs / str(job_id), ignore_errors=True)  # http attempts', and local ones of the older layout
            for number in range(1, job.attempts + 1):
                shutil.rmtree(runs / attempt_dir_name(job_id, number), ignore_errors=True)
        if ended and self._environments:
            used = {job.extra.get(ENV_KEY) for job in self._jobs.values()}
            self._environments = {d: e for d, e in self._environments.items() if d in used}
        if ended:
            self._bus.publish(JobRemoved(job_ids=ended))

    def _workflows_emptied_by(self, ended: list[int]) -> list[int]:
        """The workflows whose every job is in `ended`."""
        touched = {w for i in ended if (w := self._jobs[i].workflow_id) is not None}
        if not touched:
            return []
        going = set(ended)
        kept = {j.workflow_id for j in self._jobs.values() if j.workflow_id in touched and j.id not in going}
        return sorted(touched - kept)

    async def submission(self, user: str, key: str) -> Submission | None:
        """The submission `user` made with idempotency `key`, once on disk (one being saved is waited for)."""
        while (saving := self._saving.get((user, key))) is not None:
            await saving.wait()
        return self._submissions.get((user, key))

    async def set_limits(self, limits: dict[str, Any], persisted: dict[str, Any]) -> None:
        """Take validated limits; `persisted` (the ones a person set) outlive the engine."""
        settings = {**(await self._store.load_settings()).get("limits", {}), **persisted}
        await self._store.commit([Store.set_setting("limits", settings)])
        self._limits.update(limits)
        self._bus.publish(LimitsChanged(limits=self.limits()))
        self._wake.set()

    async def save_setting(self, key: str, value: Any) -> None:
        await self._store.commit([Store.set_setting(key, value)])

    async def settings(self) -> dict[str, Any]:
        return await self._store.load_settings()

    # -- reads ----------------------------------------------------------------------------------------

    def get(self, job_id: int) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id} does not exist; `jobtui list` shows the jobs there are.")
        return job

    def find(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    def workflow(self, workflow_id: int) -> WorkflowRecord:
        found = self._workflows.get(workflow_id)
        if found is None:
            raise NotFound(f"workflow {workflow_id} does not exist; `jobtui workflows` lists the workflows there are.")
        return found

    def workflows(self) -> Iterable[WorkflowRecord]:
        """Every workflow record, in id order; their jobs are the jobs whose `workflow_id` is theirs."""
        return sorted(self._workflows.values(), key=lambda w: w.id)

    def jobs(self) -> Iterable[Job]:
        """Every job, in id order (do not change them: use the verbs)."""
        return self._jobs.values()

    @property
    def job_count(self) -> int:
        return len(self._jobs)

    def queue_position(self, job_id: int) -> int | None:
        """1-based place among the jobs ready to start, or None when it is not ready."""
        return self._ready.position(job_id)

    def queue_place(self, priority: int) -> int:
        """The place in the ready queue a job of `priority` submitted now would take (1: first)."""
        return self._ready.place_of((-priority, self._next_id))

    def current_attempt(self, job_id: int) -> Attempt | None:
        return self._attempts.get(job_id)

    def is_live(self, attempt: Attempt) -> bool:
        """Is `attempt` its job's attempt in progress (not one that has ended)?"""
        return self._attempts.get(attempt.job_id) is attempt

    def executor_of(self, job: Job, node: str) -> Executor | None:
        """The executor of `job`'s attempts on `node` (None: no such node): the engine's own for an http job,
        which needs no node."""
        return self._http if "http" in job.extra else self.executors.get(node)

    def _executor(self, job: Job, node: str) -> Executor:
        """`executor_of` for a node the engine placed the job on, which exists."""
        executor = self.executor_of(job, node)
        assert executor is not None, f"job {job.id} is on {node!r}, which has no executor"
        return executor

    def node_states(self) -> dict[str, NodeState]:
        return self._ledger.nodes

    def gpu_holders(self, node: str) -> dict[int, int]:
        """GPU index -> the id of the job holding it, on `node`."""
        return {g: job_id for job_id, a in self._attempts.items() if a.node == node for g in a.gpus}

    def limits(self) -> dict[str, Any]:
        keys: tuple[str, ...] = ("max_concurrent", "user_max_concurrent", "team_max_concurrent", "fair_share")
        keys = (*keys, "local_gpu_max_concurrent", "local_job_max_concurrent")
        return {k: self._limits[k] for k in keys}

    def all_limits(self) -> dict[str, Any]:
        """Every limit, the starvation settings too (what a change is validated against)."""
        return dict(self._limits)

    @property
    def event_seq(self) -> int:
        """The number of the last event published (a snapshot is current as of it)."""
        return self._bus.seq

    def subscribe(self, since: int | None = None) -> Subscription:
        return self._bus.subscribe(since)

    def unsubscribe(self, subscription: Subscription) -> None:
        self._bus.unsubscribe(subscription)

    def usage(self) -> Usage:
        """Slots, licences and tokens held by the jobs running now."""
        return self._ledger.usage

    def is_idle(self) -> bool:
        """Has the scheduling loop taken every change so far (no wake-up pending)?"""
        return not self._wake.is_set()

    async def flush(self) -> None:
        """Write every queued change now (the engine's own transitions are otherwise group-committed)."""
        await self._store.flush()

    async def history(self, job_id: int) -> tuple[list[Attempt], list[JobEvent]]:
        self.get(job_id)
        await self._store.flush()
        return await self._store.load_attempts(job_id), await self._store.load_events(job_id)

    async def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Any]:
        """A read-only query over the store, once every queued change is written (reports: metrics)."""
        await self._store.flush()
        return await self._store.read(sql, params)

    async def attempt_of(self, job_id: int, number: int | None) -> Attempt | None:
        current = self._attempts.get(job_id)
        if current is not None and number in (None, current.number):
            return current
        attempts, _ = await self.history(job_id)
        if number is None:
            return attempts[-1] if attempts else None
        return next((a for a in attempts if a.number == number), None)

    # -- the scheduling loop ----------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def policy(self) -> Policy:
        lim = self._limits
        pools = {name: pool.tokens for name, pool in self.config.licenses.items()}
        bonus, default = None, 0
        if self._fair.enabled:  # worked out again after a charge, or once a minute: not at each pass
            bonus, default = self._fair.bonus(self._queued_teams, self.clock.now()), self.config.fairshare.weight
        return Policy(
            lim["max_concurrent"], lim["user_max_concurrent"], lim["team_max_concurrent"], lim["fair_share"], pools,
            self._workflow_caps, local_gpu_max=lim["local_gpu_max_concurrent"],
            local_job_max=lim["local_job_max_concurrent"], user_bonus=bonus, bonus_default=default,
        )  # fmt: skip

    def _queued_teams(self) -> dict[str, str | None]:
        """The users with jobs ready to start or with fair-share usage, and their teams."""
        users = [*self._ready.by_user, *self._fair.book.users]
        return {user: self.config.team_of(user) for user in users}

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            self._fire_timers()
            passed: list[int] = []
            nodes = list(self._ledger.nodes.values())
            starts = plan(self._ready, self._ledger.usage, nodes, self.policy(), passed=passed)
            self.scan_notes.note(passed, self.clock.now())
            if starts:
                # The launcher commits intents while the loop plans on: one commit carries every
                # start planned since the last one, and freed slots are refilled meanwhile.
                self._to_launch += self._record_starts(starts)
                self._launch_wake.set()
                continue
            delay = self._timers[0][0] - self.clock.now() if self._timers else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def _fire_timers(self) -> None:
        now = self.clock.now()
        while self._timers and self._timers[0][0] <= now:
            _, job_id, kind = heapq.heappop(self._timers)
            job = self._jobs.get(job_id)
            if job is None or job.status != JobStatus.WAITING:
                continue
            held = job_id in self._ready or job_id in self._dependencies or job_id in self._file_waits
            if kind == "ready" and not held:
                self._enqueue(job)
            elif kind == "age" and job_id in self._ready:
                self._age(job, now)

    def _age(self, job: Job, now: float) -> None:
        """Starvation ageing: each interval waited adds `starvation_boost`, up to `starvation_max_boost`."""
        if now < self._age_next.get(job.id, 0.0):
            return  # a timer of an earlier wait: this wait has its own
        step, cap = self._limits["starvation_boost"], self._limits["starvation_max_boost"]
        boost = min(cap, job.extra.get("age_boost", 0) + step)
        if boost != job.extra.get("age_boost", 0):
            job.extra["age_boost"] = boost
            self._ready.add(job, self._effective_priority(job))
        if boost < cap and step > 0:
            self._age_next[job.id] = due = now + self._limits["starvation_minutes"] * 60
            heapq.heappush(self._timers, (due, job.id, "age"))

    def _record_starts(self, starts: list[Start]) -> list[tuple[Job, Attempt]]:
        """Take the planned starts: resources held, jobs `starting`, intents queued for the store."""
        launches: list[tuple[Job, Attempt]] = []
        for start in starts:
            job = self._jobs[start.job_id]
            executor = self._executor(job, start.node)
            number = job.attempts + 1
            token = uuid.uuid4().hex[:16]
            attempt = Attempt(
                job.id, number, start.node, executor.run_dir(job.id, number), token, gpus=list(start.gpus)
            )
            self.transition(
                job, SYSTEM, "starting", JobStatus.STARTING, also=[Store.save_attempt(attempt)], node=start.node,
                attempts=number, reason=None, message="", exit_code=None, not_before=None, progress=Progress(),
            )  # fmt: skip
            self._attempts[job.id] = attempt
            self._ledger.occupy(job, attempt)
            launches.append((job, attempt))
        return launches

    async def _launcher(self) -> None:
        while True:
            await self._launch_wake.wait()
            self._launch_wake.clear()
            launches, self._to_launch = self._to_launch, []
            if launches:
                await self._launch_when_saved(launches)

    async def _launch_when_saved(self, launches: list[tuple[Job, Attempt]]) -> None:
        """Launch once the intents are saved, so a crash never leaves a launch without its record."""
        try:
            await self._store.commit(durable=False)
        except StoreError as e:
            log.error("could not save launch intents; the jobs wait for another try: %s", e)
            for job, attempt in launches:
                if job.status == JobStatus.STARTING and self._attempts.get(job.id) is attempt:
                    msg = f"not started: the state directory could not be written ({e.message})"
                    retry_at = self.clock.now() + 5.0
                    self.transition(job, SYSTEM, "start_failed", JobStatus.WAITING, message=msg, not_before=retry_at)
                    self._attempts.pop(job.id)
                    job.attempts -= 1
            return
        for job, attempt in launches:
            if job.status == JobStatus.STARTING and self._attempts.get(job.id) is attempt:  # not cancelled meanwhile
                try:
                    spec = self._launch_spec(job, attempt)
                except PermissionDenied as e:
                    self.attempt_finished(job.id, attempt, Outcome(None, Reason.LAUNCH_ERROR, f"not launched: {e}"))
                    continue
                self.spawn_runner(job, attempt, spec)

    def _launch_spec(self, job: Job, attempt: Attempt) -> LaunchSpec:
        run_as = self._account_to_run(job, attempt.node)
        base = login_environment(run_as) if run_as else self._base_env
        env = job_environment(base, self._environments.get(job.extra.get(ENV_KEY, "")), job.env, run_as is not None)
        if run_as is not None:  # the wrapper is root until setpriv: nothing in the env may steer it
            env = for_root_wrapper(env)
        env["JOBTUI_JOB_ID"] = str(job.id)
        env["JOBTUI_ATTEMPT"] = str(attempt.number)
        if attempt.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, attempt.gpus))
        workdir = job.workdir or (run_as.home if run_as else str(Path.home()))
        return LaunchSpec(job, attempt, env, workdir, run_as)

    def _account_to_run(self, job: Job, node: str) -> Account | None:
        """Shared mode: a job on this machine runs as its submitter's account, unless that is the daemon's own.

        Elsewhere (SSH nodes, clusters) a job runs as the node's configured remote user.
        """
        if self.config.mode != "shared" or job.user == self.owner or self._node_kinds.get(node) != "local":
            return None
        account = account_named(job.user)
        if account is None:
            raise PermissionDenied(f"{job.user} has no Unix account on this machine, so no job of theirs runs here")
        return account

    def spawn_runner(self, job: Job, attempt: Attempt, spec: LaunchSpec | None) -> None:
        attempt.started_at = attempt.started_at or self.clock.now()
        executor = self._executor(job, attempt.node)
        runner = Runner(
            job, attempt, executor, self, self.clock, self._patterns, self.poll_interval, self.cancel_grace,
            files=self.watch.files(job, self._progress_workdir(job, attempt, spec)),
            watcher=self.watch.watcher(job, self.clock.now()), declared=self._declared(job, attempt, spec, executor),
        )  # fmt: skip
        self._runners[job.id] = runner
        task = asyncio.get_running_loop().create_task(runner.run(spec))
        self._tasks[job.id] = task
        job_id = job.id

        def forget(t: asyncio.Task[None]) -> None:
            if self._tasks.get(job_id) is t:
                self._tasks.pop(job_id, None)

        task.add_done_callback(forget)

    def _progress_workdir(self, job: Job, attempt: Attempt, spec: LaunchSpec | None) -> str:
        """Where an attempt's progress files are, for its executor's reads: absolute, or relative to its run dir
        (an SSH node's default working directory is the attempt's `work`)."""
        if self._node_kinds.get(attempt.node) == "ssh":
            return job.workdir or "work"
        return spec.workdir if spec is not None else job.workdir or str(Path.home())

    def _declared(self, job: Job, attempt: Attempt, spec: LaunchSpec | None, executor: Executor) -> Declared | None:
        """How a job's inputs and outputs are checked where it runs: local and cluster nodes here (an SSH node
        stages and collects them itself; an http job has none)."""
        if not (job.inputs or job.outputs) or "http" in job.extra:
            return None
        kind = self._node_kinds.get(attempt.node)
        files = HereFiles() if kind == "local" else getattr(executor, "result_files", None)
        if files is None:
            return None
        workdir = spec.workdir if spec is not None else job.workdir or str(Path.home())
        return Declared(files, workdir, tuple(job.inputs), tuple(job.outputs))

    def estimate(self, job: Job) -> Estimate | None:
        """How long `job` should run, from the history of completed jobs like it (None without enough)."""
        return self.watch.estimate(job)

    # -- what runners, recovery and the node monitor report --------------------------------------------

    def attempt_running(self, job_id: int, attempt: Attempt) -> None:
        job = self._jobs[job_id]
        attempt.status = "running"
        if not getattr(self._executor(job, attempt.node), "queues_jobs", False):
            attempt.running_since = attempt.running_since or self.clock.now()
        started = job.started_at or self.clock.now()
        if job.status == JobStatus.STARTING:
            also = [Store.save_attempt(attempt)]
            self.transition(job, SYSTEM, "running", JobStatus.RUNNING, also=also, started_at=started)

    def attempt_progress(self, job_id: int, attempt: Attempt, progress: Progress) -> None:
        job = self._jobs.get(job_id)
        if job is None:
            return
        self.watch.progressed(job, progress)  # flags carried over, milestones announced
        job.progress = progress
        self._bus.publish(JobChanged(record=job.to_dict()))
        now = self.clock.monotonic()
        if now - self._progress_saved.get(job_id, 0.0) >= PROGRESS_SAVE_INTERVAL:
            self._progress_saved[job_id] = now
            self._store.queue([Store.save_job_state(job), Store.save_attempt(attempt)])

    def attempt_flagged(self, job_id: int, attempt: Attempt, flag: Flag) -> None:
        """A runner flagged its attempt (overrun, stalled, resumed): shown on the job, announced, in its history."""
        job = self._jobs.get(job_id)
        live = job is not None and self._attempts.get(job_id) is attempt
        if live and job is not None and self.watch.flagged(job, flag, self.clock.now()):
            self._bus.publish(JobChanged(record=job.to_dict()))
            self._store.queue([Store.save_job_state(job)])

    def attempt_finished(self, job_id: int, attempt: Attempt, outcome: Outcome) -> None:
        job = self._jobs.get(job_id)
        self._runners.pop(job_id, None)
        self._progress_saved.pop(job_id, None)
        self._usage.forget(job_id)
        self.watch.forget(job_id)
        if job is None or job.status not in ACTIVE or self._attempts.get(job_id) is not attempt:
            return
        attempt.status = "finished"
        attempt.finished_at = self.clock.now()
        attempt.exit_code = outcome.exit_code
        decision = decide(job, outcome, self.clock.now())
        self._account(job, attempt)
        attempt.reason = decision.reason.value if decision.reason else None
        attempt.message = decision.message
        self.transition(
            job, SYSTEM, decision.kind, decision.status, also=[Store.save_attempt(attempt)], reason=decision.reason,
            message=decision.message, exit_code=outcome.exit_code, not_before=decision.not_before,
        )  # fmt: skip
        self._attempts.pop(job_id, None)
        executor = self.executor_of(job, attempt.node)
        if executor is not None:  # what the node kept to tell the end (an exit journal line) may go once it is saved
            self._store.after_commit(functools.partial(executor.settled, attempt))

    def _account(self, job: Job, attempt: Attempt) -> None:
        """An ended attempt's run, charged to its user's and team's fair-share usage."""
        now = self.clock.now()
        seconds = now - (attempt.running_since or attempt.started_at or now)
        if self._fair.enabled:
            res = job.resources
            self._fair.charge(job.user, job.team, res.cpus, res.gpus, seconds, now)
            self._store.queue([Store.set_setting(FAIRSHARE_SETTING, self._fair.book.to_dict())])

    def waiting_context(self) -> WaitContext:
        """What reading waiting reasons needs, gathered once (`waiting_of`'s `context`, for a listing)."""
        running = [(self._jobs[i], a) for i, a in self._attempts.items()]
        nodes = list(self._ledger.nodes.values())
        usage, now = self._ledger.usage, self.clock.now()
        return wait_context(self._jobs.get, usage, self.policy(), nodes, running, self._typical_run, now)

    def _typical_run(self, job: Job) -> float | None:
        """A job's typical run time: its run-time estimate's median (by name, tags or command), if it has one."""
        estimate = self.watch.estimate(job)
        return estimate.seconds if estimate is not None else None

    def waiting_of(self, job: Job, context: WaitContext | None = None, exact: bool = True) -> dict[str, Any] | None:
        """Why a queued job waits and its estimated start (`core.waiting`); None for any other job. `exact`
        works out its queue position too (O(users)); a listing leaves it out."""
        if job.status not in QUEUED:
            return None
        queued = job.id in self._ready
        position = self._ready.position(job.id) if exact and queued else None
        found = waiting_reason(job, context or self.waiting_context(), queued, position)
        if found is not None and job.id in self.scan_notes.looked_at:
            found["looked_at"] = self.scan_notes.looked_at[job.id]
        return found

    def fairshare(self) -> dict[str, Any]:
        """Fair share over time: per user and team, the share, decayed usage, factor and priority bonus."""
        return self._fair.report(self._queued_teams(), self.clock.now())

    def hold(self, job: Job, attempt: Attempt) -> None:
        """Recovery: `attempt` is this job's attempt in progress; its resources are held."""
        self._attempts[job.id] = attempt
        self._ledger.occupy(job, attempt)

    def let_go(self, job: Job) -> None:
        """Recovery: the job's attempt never launched; its resources are free again."""
        attempt = self._attempts.pop(job.id, None)
        if attempt is not None:
            self._ledger.release(job, attempt)

    def attempts_on(self, node: str) -> list[tuple[Job, Attempt]]:
        return [(self._jobs[j], a) for j, a in self._attempts.items() if a.node == node]

    def adopt_capacity(self, node: str, sample: dict[str, Any]) -> None:
        held = {g for a in self._attempts.values() if a.node == node for g in a.gpus}
        self._ledger.adopt_capacity(node, sample, held)
        self._wake.set()

    def announce(self, event: Event) -> None:
        """Publish an event that changes no job (a node sampled)."""
        self._bus.publish(event)
        if isinstance(event, NodesSampled):
            self.node_watch.saw(event.node, event.reachable, event.sample is not None, event.reason, self.clock.now())
            if self._hook_feed is not None:
                self._hook_feed.node_sampled(event.node, event.reachable)
        elif self._hook_feed is not None and event.key is not None and (job := self._jobs.get(event.key)):
            self._hook_feed.job_announced(event.kind, job, event.data())  # job_overrun, job_stalled, milestones

    def local_sampled(self, node: str, sample: dict[str, Any]) -> None:
        """This machine's measured load and memory, for a local node (the usage monitor)."""
        self._monitor.node_changed(node, True, sample)

    def attempt_usage(self, job_id: int, attempt: Attempt, usage: dict[str, Any]) -> None:
        """The measured CPU time and memory of a running attempt (`Job.extra["usage"]`), shown and saved."""
        job = self._jobs.get(job_id)
        if job is None or not self.is_live(attempt):
            return
        job.extra["usage"] = usage
        self._bus.publish(JobChanged(record=job.to_dict()))
        self._store.queue([Store.save_job_state(job)])

    def note(self, job_id: int, kind: str, message: str) -> None:
        """Add a row to a job's history that changes nothing (a hook delivered, a usage warning, a flag)."""
        job = self._jobs.get(job_id)
        if job is None:
            return
        self._event_seq += 1
        status = job.status.value
        event = JobEvent(self._event_seq, job_id, self.clock.now(), SYSTEM.user, kind, status, status, None, message)
        self._store.queue([Store.add_event(event)])
