"""Results back as each job ends: a job's `copy_back` (`service.jobspec.CopyBack`; a staged tree's jobs carry one)
done by the engine's host, off the engine's loop.

`ResultsBack` follows the engine's events. When a job with a `copy_back` ends (any end, after at least one
attempt), it copies the files of the job's working directory on its node that match `copy_back.files` into
`copy_back.to` on this machine (over the node's SSH connection, with `staging.Staging`'s SFTP `Stager`, or a plain
copy when the node sees this machine's files), and the last attempt's stdout/stderr, read through the node's
executor, as `{output}.stdout`/`.stderr` there. Nothing there is ever deleted; only files whose size or time
differ move. At most COPIES_AT_ONCE copies run at once, each bounded by COPY_TIMEOUT. A copy that worked is
recorded on the job (`extra.copied_back`: the attempt it copied, event `results_copied`), so a restarted engine
copies only what was not; one that failed is a `results_not_copied` note in the job's history and never changes
the job's state. Only jobs of the engine's own account are copied: the engine writes with that account's rights
(a shared engine runs as root), so another user's job gets a note saying to use `jobtui tree sync` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import shutil
from pathlib import Path

from engine.core.engine import Engine
from engine.errors import JobTuiError
from engine.events import JobChanged, Resync, Subscription
from engine.models import SYSTEM, TERMINAL, Job
from engine.remote.transfer import check_relative
from engine.trees.staging import Staging, remote_of

log = logging.getLogger(__name__)
COPIES_AT_ONCE = 4
COPY_TIMEOUT = 600.0
OUTPUT_CHUNK = 1 << 20
OUTPUT_LIMIT = 256 << 20  # bytes of one stream brought back at most
STREAMS = ("stdout", "stderr")


def copy_due(job: Job) -> bool:
    """Has `job` ended with a `copy_back` whose last attempt was not copied yet?"""
    return (
        job.status in TERMINAL
        and job.attempts > 0
        and isinstance(job.extra.get("copy_back"), dict)
        and job.extra.get("copied_back") != job.attempts
    )


class ResultsBack:
    """Copies back each ended job's results; `start()` after the engine starts, `close()` before it stops."""

    def __init__(self, engine: Engine, copies_at_once: int = COPIES_AT_ONCE, timeout: float = COPY_TIMEOUT) -> None:
        self.engine = engine
        self.timeout = timeout
        self._slots = asyncio.Semaphore(copies_at_once)
        self._copying: dict[int, asyncio.Task[None]] = {}
        self._stagings: dict[str, Staging] = {}
        self._follower: asyncio.Task[None] | None = None

    def start(self) -> None:
        subscription = self.engine.subscribe()
        self._follower = asyncio.get_running_loop().create_task(self._follow(subscription))
        self._catch_up()  # what ended while no engine ran, or before this one copied it

    async def close(self) -> None:
        tasks = [t for t in (self._follower, *self._copying.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for staging in self._stagings.values():
            with contextlib.suppress(Exception):
                await staging.close()
        self._stagings.clear()

    async def idle(self) -> None:
        """Wait until no copy is running (for tests and a clean stop)."""
        while self._copying:
            await asyncio.gather(*self._copying.values(), return_exceptions=True)

    async def _follow(self, subscription: Subscription) -> None:
        try:
            while True:
                event = await subscription.queue.get()
                if isinstance(event, Resync):
                    self._catch_up()
                elif isinstance(event, JobChanged) and event.record.get("status") in _TERMINAL_NAMES:
                    job = self.engine.find(int(event.record["id"]))
                    if job is not None and copy_due(job):
                        self._copy_soon(job)
        finally:
            self.engine.unsubscribe(subscription)

    def _catch_up(self) -> None:
        for job in list(self.engine.jobs()):
            if copy_due(job):
                self._copy_soon(job)

    def _copy_soon(self, job: Job) -> None:
        if job.id in self._copying:
            return
        task = asyncio.get_running_loop().create_task(self._copy(job.id, job.attempts))
        self._copying[job.id] = task
        job_id = job.id

        def done(_: asyncio.Task[None]) -> None:
            self._copying.pop(job_id, None)

        task.add_done_callback(done)

    async def _copy(self, job_id: int, attempt: int) -> None:
        async with self._slots:
            job = self.engine.find(job_id)
            if job is None or not copy_due(job) or job.attempts != attempt:
                return
            if job.user != self.engine.owner:
                self.engine.note(
                    job.id, "results_not_copied", f"results not copied back: the engine runs as {self.engine.owner} "
                    f"and writes no files for {job.user}; bring them back with `jobtui tree sync`",
                )  # fmt: skip
                return
            try:
                copied = await asyncio.wait_for(self._copy_job(job), self.timeout)
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                self._failed(job, f"it took longer than {self.timeout:g} s")
                return
            except Exception as e:  # never fails the job: said on it, tried again by a restarted engine
                self._failed(job, _why(e))
                return
            if self.engine.find(job.id) is job and job.attempts == attempt and job.status in TERMINAL:
                to = job.extra["copy_back"]["to"]
                self.engine.transition(
                    job, SYSTEM, "results_copied", extra={**job.extra, "copied_back": attempt, "copied_files": copied}
                )
                log.debug("job %s: %d file(s) copied back to %s", job.id, copied, to)

    def _failed(self, job: Job, why: str) -> None:
        to = job.extra["copy_back"]["to"]
        log.warning("job %s: results not copied back to %s: %s", job.id, to, why)
        text = f"results not copied back to {to}: {why}"[:2000]
        self.engine.note(job.id, "results_not_copied", f"{text}; they stay on the node (a restart tries again)")

    async def _copy_job(self, job: Job) -> int:
        """Copy `job`'s files and output; the number of files written."""
        spec = job.extra["copy_back"]
        to = Path(spec["to"])
        to.mkdir(parents=True, exist_ok=True)
        patterns = [check_relative(p) for p in spec.get("files") or []]
        copied = 0
        if patterns and job.node is not None and job.workdir is not None:
            remote = remote_of(self.engine.config, job.node)
            if remote is None:
                copied += await asyncio.to_thread(copy_here, job.workdir, patterns, to)
            else:
                staging = self._stagings.get(job.node) or Staging(remote)
                self._stagings[job.node] = staging
                result = await staging.stager.collect(await staging.absolute(job.workdir), patterns, to)
                copied += len(result.fetched)
        if spec.get("output"):
            copied += await self._save_output(job, to, spec["output"])
        return copied

    async def _save_output(self, job: Job, to: Path, stem: str) -> int:
        attempt = await self.engine.attempt_of(job.id, None)
        executor = self.engine.executor_of(job, attempt.node) if attempt is not None else None
        if attempt is None or executor is None:
            return 0
        written = 0
        for stream in STREAMS:
            target = to / f"{stem}.{stream}"
            partial = to / f".{stem}.{stream}.part"
            offset = 0
            with open(partial, "wb") as f:
                while offset < OUTPUT_LIMIT:
                    data = await executor.read(attempt, stream, offset, OUTPUT_CHUNK)
                    if not data:
                        break
                    f.write(data)
                    offset += len(data)
            if offset:
                os.replace(partial, target)
                written += 1
            else:
                partial.unlink()
        return written


_TERMINAL_NAMES = frozenset(status.value for status in TERMINAL)


def _why(error: Exception) -> str:
    if isinstance(error, JobTuiError):
        return error.message
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror} ({error.filename})" if error.filename else error.strerror
    return f"{type(error).__name__}: {error}"


def copy_here(workdir: str, patterns: list[str], to: Path) -> int:
    """The files below `workdir` on this machine matching `patterns`, copied into `to` when their size or time
    differ (a directory matched: the files below it); none when `to` is `workdir` itself. The number copied."""
    root = Path(workdir).expanduser().resolve()
    if root == to.resolve():
        return 0
    copied = 0
    for pattern in patterns:
        for match in sorted(glob.glob(pattern, root_dir=root)):
            source = (root / match).resolve()
            if not source.is_relative_to(root):
                continue  # a symlink out of the directory
            files = [source] if source.is_file() else [p for p in source.rglob("*") if p.is_file()]
            for path in files:
                if not path.resolve().is_relative_to(root):
                    continue
                rel = path.relative_to(root)
                target = to / rel
                if target.exists() and _same(path.stat(), target.stat()):
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
                copied += 1
    return copied


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return a.st_size == b.st_size and int(a.st_mtime) == int(b.st_mtime)
