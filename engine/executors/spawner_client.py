"""The engine's side of the spawner (`spawner.py`): one spawner process per local executor, started on the
first launch and again after it died; launches are requests over its pipe, ends come back as reports.

If the spawner dies, the launches it had not answered are resolved from what exists (the wrapper found by its
argv, or its exit journal line), never by spawning again, and the attempts it was reaping are watched by pidfd instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import marshal
import os
import sys
from dataclasses import dataclass
from typing import Any

from engine.containment.group import Usage
from engine.executors import spawner
from engine.executors.local_containment import GroupEnd, GroupPlan

log = logging.getLogger(__name__)

# How the spawner is started: `python -I -S -c LAUNCH ROOT`, ROOT the directory the `engine` package is in.
LAUNCH = "import sys; sys.path.insert(0, sys.argv[1]); from engine.executors.spawner import main; main()"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(spawner.__file__))))


@dataclass(frozen=True, slots=True)
class Ended:
    """A wrapper's end as the spawner reaped it, with what its cgroup told (None without one)."""

    status: int
    cpu_seconds: float
    max_rss_kb: int
    cgroup: GroupEnd | None = None
    output_sizes: tuple[int, int] | None = None  # of `stdout` and `stderr` as the wrapper left them


class SpawnerGone(Exception):
    """The spawner ended before it answered: what happened to the launch must be found out."""


class SpawnFailed(OSError):
    """The spawner could not make the attempt's cgroup (`stage` "cgroup") or spawn its wrapper ("spawn")."""

    def __init__(self, errno: int, text: str, stage: str) -> None:
        if errno:
            super().__init__(errno, text)
        else:
            super().__init__(text)
        self.stage = stage


class SpawnerClient:
    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()
        self._seq = 0
        self._launches: dict[int, asyncio.Future[int]] = {}
        self._ends: dict[int, asyncio.Future[Ended | None]] = {}  # by pid, for each wrapper this spawner started
        self._closed = False

    async def spawn(
        self,
        run_dir: str,
        files: list[tuple[str, bytes, int, int]],
        argv: list[str],
        env: dict[str, str],
        actions: list[tuple[Any, ...]],
        cgroup: GroupPlan | None,
    ) -> int:
        """Make `run_dir`, write `files` into it, make the attempt's `cgroup` and spawn `argv` detached: its pid.
        SpawnFailed when that failed; SpawnerGone when the spawner died before it answered (the launch may or may
        not have happened)."""
        process = await self._running()
        assert process.stdin is not None
        self._seq += 1
        seq = self._seq
        done = asyncio.get_running_loop().create_future()
        self._launches[seq] = done
        process.stdin.write(spawner.frame(("spawn", seq, run_dir, files, argv, env, actions, cgroup)))
        try:
            return await done
        finally:
            self._launches.pop(seq, None)

    async def ended(self, pid: int) -> Ended | None:
        """The end of a wrapper the spawner now running started; None for another process, or if the spawner died
        first (watch it another way)."""
        end = self._ends.get(pid)
        if end is None:
            return None
        try:
            return await asyncio.shield(end)
        finally:
            if end.done():
                self._ends.pop(pid, None)

    async def close(self) -> None:
        """End the spawner (what it started runs on)."""
        self._closed = True
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
        if self._reader is not None:
            await self._reader

    async def _running(self) -> asyncio.subprocess.Process:
        async with self._starting:
            if self._process is None or self._process.returncode is not None:
                if self._closed:
                    raise OSError("the local executor is closed")
                self._process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-I",
                    "-S",
                    "-c",
                    LAUNCH,
                    ROOT,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    env={},
                    close_fds=True,
                )
                self._reader = asyncio.get_running_loop().create_task(self._read(self._process))
            return self._process

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        stream = process.stdout
        try:
            while True:
                header = await stream.readexactly(spawner.HEADER.size)
                (size,) = spawner.HEADER.unpack(header)
                self._dispatch(marshal.loads(await stream.readexactly(size)))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception:  # a garbled reply: the spawner is of no more use, its children are watched otherwise
            log.exception("the spawner's reply could not be read")
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        finally:
            self._gone(process)

    def _dispatch(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "spawned":
            _, seq, pid = message
            self._ends[pid] = asyncio.get_running_loop().create_future()
            launch = self._launches.pop(seq, None)
            if launch is not None and not launch.done():
                launch.set_result(pid)
        elif kind == "failed":
            _, seq, errno, text, stage = message
            launch = self._launches.pop(seq, None)
            if launch is not None and not launch.done():
                launch.set_exception(SpawnFailed(errno, text, stage))
        elif kind == "exited":
            _, pid, status, user, system, max_rss, cgroup, sizes = message
            end = self._ends.get(pid)
            if end is not None and not end.done():
                group_end = None
                if cgroup is not None:
                    cpu, peak, oom_kills, removed = cgroup
                    group_end = (Usage(cpu, peak), oom_kills, removed)
                end.set_result(Ended(status, user + system, max_rss, group_end, sizes))

    def _gone(self, process: asyncio.subprocess.Process) -> None:
        """The spawner ended: unanswered launches raise SpawnerGone, awaited ends resolve to None."""
        if self._process is process:
            self._process = None
        if not self._closed:
            log.warning(
                "the spawner process ended (status %s); it is started again at the next launch", process.returncode
            )
        for launch in self._launches.values():
            if not launch.done():
                launch.set_exception(SpawnerGone("the spawner ended before it answered"))
        self._launches.clear()
        for end in self._ends.values():
            if not end.done():
                end.set_result(None)
        self._ends.clear()
