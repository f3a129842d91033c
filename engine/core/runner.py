"""Supervises one attempt: launch, follow output from stored offsets, parse progress, enforce the
timeout, and report the outcome. It never owns job state: it reports to a `RunnerSink` (the engine).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from engine.clock import Clock
from engine.core.progress import LineSplitter, Pattern, last_progress, with_eta
from engine.errors import JobTuiError
from engine.executors.base import Executor, LaunchSpec, Outcome
from engine.executors.wrapper import STDERR, STDOUT
from engine.models import Attempt, Job, Progress, Reason

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 20
PROGRESS_INTERVAL = 0.1  # at most 10 progress updates a second per job


class RunnerSink(Protocol):
    def attempt_running(self, job_id: int, attempt: Attempt) -> None: ...

    def attempt_progress(self, job_id: int, attempt: Attempt, progress: Progress) -> None: ...

    def attempt_finished(self, job_id: int, attempt: Attempt, outcome: Outcome) -> None: ...


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
        self._splitters = {STDOUT: LineSplitter(), STDERR: LineSplitter()}
        self._stop: tuple[Reason, str] | None = None
        self._pending_progress: Progress | None = None
        self._last_progress_at = 0.0
        self._killer: asyncio.Task[None] | None = None

    async def run(self, spec: LaunchSpec | None) -> None:
        """Launch (with `spec`) or re-attach (without), follow to the end, report the outcome.

        Cancelling this coroutine detaches: the attempt keeps running for the next engine.
        """
        if spec is not None:
            try:
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
        for stream, attr in ((STDOUT, "stdout_offset"), (STDERR, "stderr_offset")):
            while True:
                offset = getattr(self.attempt, attr)
                data = await self.executor.read(self.attempt, stream, offset, READ_CHUNK)
                if not data:
                    break
                setattr(self.attempt, attr, offset + len(data))
                found = last_progress(self._splitters[stream].feed(data), self.patterns)
                if found is not None:
                    self._pending_progress = found
                if len(data) < READ_CHUNK:
                    break
        self._flush_progress()

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
