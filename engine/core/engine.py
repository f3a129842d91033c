"""The Engine: the single owner of live job state.

Every state change goes through `_update` (one store write, then one event). The scheduling loop
is event-driven: it wakes on a change or on the next timer (retry back-off, ageing), asks the pure
`plan()` what to start, records the launch intents durably, then launches.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import os
import uuid
from pathlib import Path
from typing import Any

from engine.clock import Clock, SystemClock
from engine.config import Config
from engine.core.node_monitor import NodeMonitor
from engine.core.outcomes import decide
from engine.core.progress import compile_patterns
from engine.core.recovery import reattach
from engine.core.runner import Runner
from engine.errors import NotFound, StoreError
from engine.events import EventBus
from engine.executors.base import Executor, LaunchSpec, Outcome
from engine.executors.registry import make_executors
from engine.models import (
    ACTIVE,
    SYSTEM,
    TERMINAL,
    UNSUCCESSFUL,
    Actor,
    Attempt,
    Job,
    JobEvent,
    JobStatus,
    Progress,
    Reason,
    can_transition,
)
from engine.scheduling.ledger import Ledger
from engine.scheduling.plan import NodeState, Policy, Start, Usage, plan
from engine.scheduling.queue_index import QueueIndex
from engine.store import Statement, Store

log = logging.getLogger(__name__)
PROGRESS_SAVE_INTERVAL = 5.0


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
    ) -> None:
        self.config = config
        self.state_dir = state_dir
        self.owner = owner
        self.clock = clock or SystemClock()
        self.store = Store(state_dir / "jobtui.db")
        self.bus = EventBus()
        self.instance = uuid.uuid4().hex[:12]
        self.jobs: dict[int, Job] = {}
        self.attempts: dict[int, Attempt] = {}
        self.ready = QueueIndex()
        self.ledger = Ledger(config)
        self.monitor = NodeMonitor(self)
        self._executors = executors
        self.runners: dict[int, Runner] = {}
        self.limits: dict[str, Any] = config.limits.model_dump()
        self.poll_interval = poll_interval
        self.cancel_grace = cancel_grace
        self.patterns = compile_patterns([(p.marker, p.regex) for p in config.progress_patterns])
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._to_launch: list[tuple[Job, Attempt]] = []
        self._launch_wake = asyncio.Event()
        self._launcher_task: asyncio.Task[None] | None = None
        self._children: dict[int, set[int]] = {}
        self._waiting_on: dict[int, set[int]] = {}
        self._timers: list[tuple[float, int, str]] = []
        self._progress_saved: dict[int, float] = {}
        self._next_id = 1
        self._event_seq = 0
        self._base_env = dict(os.environ)
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def executors(self) -> dict[str, Executor]:
        """The executor of each node, by node name: given to the constructor, or made by start()."""
        if self._executors is None:
            raise RuntimeError("the engine has no executors yet: they are made by start()")
        return self._executors

    # -- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        await self.store.open()
        self.limits.update((await self.store.load_settings()).get("limits", {}))
        self._event_seq = await self.store.max_event_seq()
        if self._executors is None:
            self._executors = make_executors(self.config, self.state_dir)
        for executor in self.executors.values():
            executor.attach(self.monitor)
        jobs = await self.store.load_jobs()
        self.jobs = {job.id: job for job in jobs}
        self._next_id = (jobs[-1].id + 1) if jobs else 1
        active = {a.job_id: a for a in await self.store.load_attempts_of([j.id for j in jobs if j.status in ACTIVE])}
        for job in jobs:
            if job.status == JobStatus.WAITING:
                self._enqueue(job)
            elif job.status in ACTIVE:
                await reattach(self, job, active.get(job.id))
        self._loop_task = asyncio.get_running_loop().create_task(self._loop())
        self._launcher_task = asyncio.get_running_loop().create_task(self._launcher())

    async def stop(self) -> None:
        """Stop supervising; running jobs keep running and are re-attached by the next engine."""
        if self._loop_task:
            self._loop_task.cancel()
        if self._launcher_task:
            self._launcher_task.cancel()
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        for _job_id, attempt in self.attempts.items():
            self.store.queue([Store.save_attempt(attempt)])
        await self.store.close()
        for executor in (self._executors or {}).values():
            await executor.close()

    # -- the one way state changes ---------------------------------------------------------------------

    def update(
        self, job: Job, actor: Actor, kind: str, status: JobStatus | None = None, **fields: Any
    ) -> list[Statement]:
        old = job.status
        now = self.clock.now()
        for name, value in fields.items():
            setattr(job, name, value)
        job.updated_at = now
        if status is not None and status != old:
            if not can_transition(old, status):
                raise AssertionError(f"illegal transition {old} -> {status} for job {job.id}")
            job.status = status
            self._on_status_change(job, old)
        self._event_seq += 1
        event = JobEvent(
            self._event_seq,
            job.id,
            now,
            actor.user,
            kind,
            old.value,
            job.status.value,
            job.reason.value if job.reason else None,
            job.message,
        )
        self.bus.publish("job_changed", job.to_dict(), job.id)
        return [Store.save_job_state(job), Store.add_event(event)]

    def submission_event(self, job: Job, actor: Actor) -> JobEvent:
        self._event_seq += 1
        return JobEvent(self._event_seq, job.id, job.created_at, actor.user, "submitted", None, job.status.value)

    def admit(self, job: Job) -> None:
        """Take a newly submitted (and already saved) job into the live state."""
        self.jobs[job.id] = job
        if job.status == JobStatus.WAITING:
            self._enqueue(job)
            self._wake.set()
        self.bus.publish("job_changed", job.to_dict(), job.id)

    def _on_status_change(self, job: Job, old: JobStatus) -> None:
        new = job.status
        if old == JobStatus.WAITING:
            self.ready.remove(job.id)
            for parent in self._waiting_on.pop(job.id, ()):
                self._children.get(parent, set()).discard(job.id)
        if old in ACTIVE and new not in ACTIVE and job.id in self.attempts:
            self.ledger.release(job, self.attempts[job.id])
        if new in TERMINAL:
            job.finished_at = self.clock.now()
            self._resolve_children(job)
        if new == JobStatus.WAITING:
            job.finished_at = None
            self._enqueue(job)
        self._wake.set()

    def _enqueue(self, job: Job) -> None:
        """A waiting job goes to the ready queue, waits for its parents or back-off, or is skipped."""
        parents = [self.jobs[p] for p in job.after if p in self.jobs]
        failed = next((p for p in parents if p.status in UNSUCCESSFUL), None)
        if failed is not None:
            msg = f"dependency job {failed.id} ({failed.name}) ended {failed.status.value}"
            self.store.queue(
                self.update(
                    job, SYSTEM, "skipped", status=JobStatus.SKIPPED, reason=Reason.DEPENDENCY_FAILED, message=msg
                )
            )
            return
        pending = {p.id for p in parents if p.status != JobStatus.COMPLETED}
        if pending:
            self._waiting_on[job.id] = pending
            for parent in pending:
                self._children.setdefault(parent, set()).add(job.id)
        elif job.not_before is not None and job.not_before > self.clock.now():
            heapq.heappush(self._timers, (job.not_before, job.id, "ready"))
        else:
            self.ready.add(job, self._effective_priority(job))
            age_at = job.updated_at + self.limits["starvation_minutes"] * 60
            heapq.heappush(self._timers, (age_at, job.id, "age"))

    def _resolve_children(self, parent: Job) -> None:
        for child_id in sorted(self._children.pop(parent.id, ())):
            child = self.jobs.get(child_id)
            if child is None or child.status != JobStatus.WAITING:
                continue
            waiting = self._waiting_on.get(child_id, set())
            waiting.discard(parent.id)
            if parent.status in UNSUCCESSFUL or not waiting:
                self._waiting_on.pop(child_id, None)
                self._enqueue(child)

    def _effective_priority(self, job: Job) -> int:
        return job.priority + (self.limits["starvation_boost"] if job.extra.get("aged") else 0)

    # -- the scheduling loop -----------------------------------------------------------------------------

    @property
    def nodes(self) -> dict[str, NodeState]:
        return self.ledger.nodes

    @property
    def usage(self) -> Usage:
        return self.ledger.usage

    def wake(self) -> None:
        self._wake.set()

    def policy(self) -> Policy:
        lim = self.limits
        pools = {name: pool.tokens for name, pool in self.config.licenses.items()}
        return Policy(
            lim["max_concurrent"], lim["user_max_concurrent"], lim["team_max_concurrent"], lim["fair_share"], pools
        )

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            self._fire_timers()
            starts = plan(self.ready, self.usage, list(self.nodes.values()), self.policy())
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
            job = self.jobs.get(job_id)
            if job is None or job.status != JobStatus.WAITING:
                continue
            if kind == "ready" and job_id not in self.ready and job_id not in self._waiting_on:
                self._enqueue(job)
            elif kind == "age" and job_id in self.ready and not job.extra.get("aged"):
                job.extra["aged"] = True
                self.ready.add(job, self._effective_priority(job))

    def _record_starts(self, starts: list[Start]) -> list[tuple[Job, Attempt]]:
        """Take the planned starts: resources held, jobs `starting`, intents queued for the store."""
        statements: list[Statement] = []
        launches: list[tuple[Job, Attempt]] = []
        for start in starts:
            job = self.jobs[start.job_id]
            executor = self.executors[start.node]
            number = job.attempts + 1
            attempt = Attempt(
                job.id,
                number,
                start.node,
                executor.run_dir(job.id, number),
                uuid.uuid4().hex[:16],
                gpus=list(start.gpus),
            )
            statements += self.update(
                job,
                SYSTEM,
                "starting",
                status=JobStatus.STARTING,
                node=start.node,
                attempts=number,
                reason=None,
                message="",
                exit_code=None,
                not_before=None,
                progress=Progress(),
            )
            self.attempts[job.id] = attempt
            self.ledger.occupy(job, attempt)
            statements.append(Store.save_attempt(attempt))
            launches.append((job, attempt))
        self.store.queue(statements)
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
            await self.store.commit(durable=False)
        except StoreError as e:
            log.error("could not save launch intents; the jobs wait for another try: %s", e)
            for job, attempt in launches:
                if job.status == JobStatus.STARTING and self.attempts.get(job.id) is attempt:
                    msg = f"not started: the state directory could not be written ({e.message})"
                    retry_at = self.clock.now() + 5.0
                    self.store.queue(
                        self.update(
                            job, SYSTEM, "start_failed", status=JobStatus.WAITING, message=msg, not_before=retry_at
                        )
                    )
                    self.attempts.pop(job.id)
                    job.attempts -= 1
            return
        for job, attempt in launches:
            if job.status == JobStatus.STARTING and self.attempts.get(job.id) is attempt:  # not cancelled meanwhile
                self.spawn_runner(job, attempt, self._launch_spec(job, attempt))

    def _launch_spec(self, job: Job, attempt: Attempt) -> LaunchSpec:
        env = {**self._base_env, **job.env}
        env["JOBTUI_JOB_ID"] = str(job.id)
        env["JOBTUI_ATTEMPT"] = str(attempt.number)
        if attempt.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, attempt.gpus))
        return LaunchSpec(job, attempt, env, job.workdir or str(Path.home()))

    def spawn_runner(self, job: Job, attempt: Attempt, spec: LaunchSpec | None) -> None:
        attempt.started_at = attempt.started_at or self.clock.now()
        runner = Runner(
            job,
            attempt,
            self.executors[attempt.node],
            self,
            self.clock,
            self.patterns,
            self.poll_interval,
            self.cancel_grace,
        )
        self.runners[job.id] = runner
        task = asyncio.get_running_loop().create_task(runner.run(spec))
        self._tasks[job.id] = task
        job_id = job.id

        def forget(t: asyncio.Task[None]) -> None:
            if self._tasks.get(job_id) is t:
                self._tasks.pop(job_id, None)

        task.add_done_callback(forget)

    # -- runner sink -------------------------------------------------------------------------------------

    def attempt_running(self, job_id: int, attempt: Attempt) -> None:
        job = self.jobs[job_id]
        attempt.status = "running"
        if not getattr(self.executors[attempt.node], "queues_jobs", False):
            attempt.running_since = attempt.running_since or self.clock.now()
        started = job.started_at or self.clock.now()
        if job.status == JobStatus.STARTING:
            statements = self.update(job, SYSTEM, "running", status=JobStatus.RUNNING, started_at=started)
            self.store.queue([*statements, Store.save_attempt(attempt)])

    def attempt_progress(self, job_id: int, attempt: Attempt, progress: Progress) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            return
        job.progress = progress
        self.bus.publish("job_changed", job.to_dict(), job.id)
        now = self.clock.monotonic()
        if now - self._progress_saved.get(job_id, 0.0) >= PROGRESS_SAVE_INTERVAL:
            self._progress_saved[job_id] = now
            self.store.queue([Store.save_job_state(job), Store.save_attempt(attempt)])

    def attempt_finished(self, job_id: int, attempt: Attempt, outcome: Outcome) -> None:
        job = self.jobs.get(job_id)
        self.runners.pop(job_id, None)
        self._progress_saved.pop(job_id, None)
        if job is None or job.status not in ACTIVE or self.attempts.get(job_id) is not attempt:
            return
        attempt.status = "finished"
        attempt.finished_at = self.clock.now()
        attempt.exit_code = outcome.exit_code
        decision = decide(job, outcome, self.clock.now())
        attempt.reason = decision.reason.value if decision.reason else None
        attempt.message = decision.message
        statements = [Store.save_attempt(attempt)]
        statements += self.update(
            job,
            SYSTEM,
            decision.kind,
            status=decision.status,
            reason=decision.reason,
            message=decision.message,
            exit_code=outcome.exit_code,
            not_before=decision.not_before,
        )
        self.attempts.pop(job_id, None)
        self.store.queue(statements)

    # -- lookups -------------------------------------------------------------------------------------------

    def get(self, job_id: int) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id} does not exist; `jobtui list` shows the jobs there are.")
        return job

    async def history(self, job_id: int) -> tuple[list[Attempt], list[JobEvent]]:
        self.get(job_id)
        await self.store.flush()
        return await self.store.load_attempts(job_id), await self.store.load_events(job_id)

    async def attempt_of(self, job_id: int, number: int | None) -> Attempt | None:
        current = self.attempts.get(job_id)
        if current is not None and number in (None, current.number):
            return current
        attempts, _ = await self.history(job_id)
        if number is None:
            return attempts[-1] if attempts else None
        return next((a for a in attempts if a.number == number), None)
