"""Supervises one attempt: launch, follow output from stored offsets and the job's progress files, parse
progress, enforce the timeout, flag an overrun or a stall, and report the outcome. It never owns job state: it
reports to a `RunnerSink` (the engine).

Progress files (`progress_files`, e.g. Abaqus's `job.sta`) are read with the executor's own reads, from the
start after a restart (their parsers need the whole file), in the same tick as the output streams.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from engine.clock import Clock
from engine.core.abaqus import AbaqusRun, kind_of
from engine.core.progress import LastProgress, LineSplitter, Pattern, last_progress, with_eta
from engine.core.watch import Flag, Watcher
from engine.errors import JobTuiError
from engine.executors.base import Executor, LaunchSpec, Outcome
from engine.executors.results import Declared
from engine.executors.wrapper import STDERR, STDOUT
from engine.models import Attempt, Job, Progress, Reason

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 20
PROGRESS_INTERVAL = 0.1  # at most 10 progress updates a second per job


class RunnerSink(Protocol):
    def attempt_running(self, job_id: int, attempt: Attempt) -> None: ...

    def attempt_progress(self, job_id: int, attempt: Attempt, progress: Progress) -> None: ...

    def attempt_finished(self, job_id: int, attempt: Attempt, outcome: Outcome) -> None: ...

    def attempt_flagged(self, job_id: int, attempt: Attempt, flag: Flag) -> None: ...


class Runner:
    def __init__(
        self,
        job: Job,
        attempt: Attempt,
        executor: Executor,
        sink: RunnerSink,
        clock: Clock,
        patterns: tuple[Pattern, ...] = (),
        poll_interval: float = 0.5,
        cancel_grace: float = 10.0,
        files: tuple[str, ...] = (),
        watcher: Watcher | None = None,
        declared: Declared | None = None,
    ) -> None:
        self.job_id = job.id
        self.timeout = job.timeout
        self.attempt = attempt
        self.executor = executor
        self.sink = sink
        self.clock = clock
        self.patterns = patterns
        self.poll_interval = poll_interval
        self.cancel_grace = cancel_grace
        self._streams = {STDOUT: LastProgress(), STDERR: LastProgress()}
        self._stop: tuple[Reason, str] | None = None
        self._pending_progress: Progress | None = None
        self._last_progress_at = 0.0
        self._killer: asyncio.Task[None] | None = None
        self.files = files  # progress files, as paths the executor reads (relative to the run directory or absolute)
        self._file_offsets = dict.fromkeys(files, 0)
        self._file_splitters = {path: LineSplitter() for path in files}
        self.abaqus = AbaqusRun() if any(kind_of(path) for path in files) else None
        self.watcher = watcher
        self.declared = declared  # inputs looked for before the launch, outputs after an exit 0

    async def run(self, spec: LaunchSpec | None) -> None:
        """Launch (with `spec`) or re-attach (without), follow to the end, report the outcome.

        Cancelling this coroutine detaches: the attempt keeps running for the next engine.
        """
        if spec is not None:
            try:
                problem = await self.declared.launch_problem() if self.declared is not None else None
                if problem is not None:
                    raise problem
                await self.executor.launch(spec)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # whatever a launch raises, the attempt ends: it never stays `starting`
                if not isinstance(e, OSError | JobTuiError):
                    log.exception("launching job %s failed", self.job_id)
                reason = getattr(e, "reason", None) or Reason.LAUNCH_ERROR
                self.sink.attempt_finished(self.job_id, self.attempt, Outcome(None, reason, f"could not launch: {e}"))
                return
            if self._stop is not None:  # stopped while launching, before there was anything to signal
                self._killer = asyncio.get_running_loop().create_task(
                    self.executor.cancel(self.attempt, self.cancel_grace)
                )
            self.sink.attempt_running(self.job_id, self.attempt)
        try:
            outcome = await self._follow()
            await self._read_new()
            outcome = self._checked(outcome)
            if self.declared is not None:
                outcome = await self.declared.outcome(outcome)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # one job's trouble never takes the engine down
            log.exception("supervising job %s failed", self.job_id)
            outcome = Outcome(None, Reason.NODE_FAILURE, f"jobtui lost track of the attempt: {e}")
        self._flush_progress(force=True)
        if self._stop is not None:
            reason, message = self._stop
            outcome = Outcome(outcome.exit_code, reason, message)
        self.sink.attempt_finished(self.job_id, self.attempt, outcome)

    def stop(self, reason: Reason, message: str) -> None:
        """Kill the attempt's process tree; the outcome will carry `reason`."""
        if self._stop is None:
            self._stop = (reason, message)
            self._killer = asyncio.get_running_loop().create_task(self.executor.cancel(self.attempt, self.cancel_grace))

    async def _follow(self) -> Outcome:
        waiter = asyncio.ensure_future(self.executor.wait(self.attempt))
        try:
            while True:
                timeout = self.poll_interval
                deadline = self._deadline()
                if deadline is not None:
                    timeout = max(0.0, min(timeout, deadline - self.clock.now()))
                done, _ = await asyncio.wait({waiter}, timeout=timeout)
                if done:
                    return waiter.result()
                await self._read_new()
                self._check_flags()
                if deadline is not None and self.clock.now() >= deadline:
                    self.stop(Reason.TIMEOUT, f"ran longer than its timeout of {self.timeout:g} s")
        finally:
            if not waiter.done():
                waiter.cancel()

    def _deadline(self) -> float | None:
        if self.timeout is None or self.attempt.running_since is None or self._stop is not None:
            return None
        return self.attempt.running_since + self.timeout

    async def _read_new(self) -> None:
        got = progressed = False
        for stream, attr in ((STDOUT, "stdout_offset"), (STDERR, "stderr_offset")):
            while True:
                offset = getattr(self.attempt, attr)
                data = await self.executor.read(self.attempt, stream, offset, READ_CHUNK)
                if not data:
                    break
                got = True
                setattr(self.attempt, attr, offset + len(data))
                found = self._streams[stream].feed(data, self.patterns)
                if found is not None and (self.abaqus is None or self.abaqus.step is None):
                    self._pending_progress, progressed = found, True
                if len(data) < READ_CHUNK:
                    break
        for path in self.files:
            file_got, file_progressed = await self._read_file(path)
            got, progressed = got or file_got, progressed or file_progressed
        if got and self.watcher is not None:
            flag = self.watcher.activity(self.clock.now(), progressed)
            if flag is not None:
                self.sink.attempt_flagged(self.job_id, self.attempt, flag)
        self._flush_progress()

    async def _read_file(self, path: str) -> tuple[bool, bool]:
        """Read what a progress file gained since the last tick: (bytes came, progress changed)."""
        kind = kind_of(path)
        got = progressed = False
        while True:
            offset = self._file_offsets[path]
            try:
                data = await self.executor.read(self.attempt, path, offset, READ_CHUNK)
            except (OSError, JobTuiError) as e:  # a progress file is optional: its trouble never ends the job
                log.debug("job %s: reading progress file %s: %s", self.job_id, path, e)
                break
            if not data:
                break
            got = True
            self._file_offsets[path] = offset + len(data)
            lines = self._file_splitters[path].feed(data)
            if kind is not None and self.abaqus is not None:
                if getattr(self.abaqus, kind)(lines) and (found := self.abaqus.progress()) is not None:
                    self._pending_progress, progressed = found, True
            elif (found := last_progress(lines, self.patterns)) is not None:
                self._pending_progress, progressed = found, True
            if len(data) < READ_CHUNK:
                break
        return got, progressed

    def _check_flags(self) -> None:
        if self.watcher is None:
            return
        if self.attempt.running_since is None:  # still queued by a cluster's scheduler: nothing to expect yet
            self.watcher.last_activity = self.clock.now()
            return
        for flag in self.watcher.check(self.clock.now(), self.attempt.running_since):
            self.sink.attempt_flagged(self.job_id, self.attempt, flag)

    def _checked(self, outcome: Outcome) -> Outcome:
        """An exit 0 whose Abaqus status file says the analysis was not completed is a failure."""
        run = self.abaqus
        if outcome.reason is not None or outcome.exit_code != 0 or run is None or run.completed is not False:
            return outcome
        sta = next((p for p in self.files if kind_of(p) == "sta"), "the .sta file")
        errors = f"; {run.errors} error(s) in the .msg file" if run.errors else ""
        message = f"exited 0 but {sta.rsplit('/', 1)[-1]} says THE ANALYSIS HAS NOT BEEN COMPLETED{errors}"
        return Outcome(0, Reason.ANALYSIS_NOT_COMPLETED, message)

    def _flush_progress(self, force: bool = False) -> None:
        progress = self._pending_progress
        if progress is None:
            return
        now = self.clock.monotonic()
        if force or now - self._last_progress_at >= PROGRESS_INTERVAL:
            self._pending_progress = None
            self._last_progress_at = now
            with_eta(progress, self.attempt.started_at, self.clock.now())
            self.sink.attempt_progress(self.job_id, self.attempt, progress)
