"""Waiting jobs that wait for files (`Job.extra["wait_for_files"]`): looked for on their node until all exist.

A job whose parents let it start and whose files are not known to be there is held here instead of the ready
queue. One task per node looks at every file of every job held for that node in one batched question to the node's
executor (`missing_files`: a stat each on this machine, one command on an SSH node, the cluster's own queue
listing on a cluster, which reads the paths when it starts, so a job held meanwhile is in it), then waits the
executor's `file_check_interval` and asks again. The engine hears what
each look found (`files_checked`): a job whose files all exist goes to the ready queue, one still missing some
shows them (reason `waiting_for_files`). The paths are the job's working directory joined with each file
(checked to stay below it when the job was submitted).
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
from collections.abc import Callable, Sequence
from typing import Any

from engine.executors.file_checks import missing_here
from engine.models import Job

log = logging.getLogger(__name__)
RETRY_AFTER = 2.0  # seconds before asking a node again after it could not answer


def waited_files(job: Job) -> list[str]:
    """The files `job` waits for, relative to its working directory (none for most jobs)."""
    files = job.extra.get("wait_for_files")
    return [f for f in files if isinstance(f, str)] if isinstance(files, list) else []


def waited_paths(job: Job) -> list[str]:
    """Where on its node each file `job` waits for is: below its working directory."""
    workdir = job.workdir or "."
    return [posixpath.normpath(posixpath.join(workdir, name)) for name in waited_files(job)]


class FileWaits:
    """The jobs waiting for files, by node, and the task that looks at each node's files."""

    def __init__(
        self,
        executor_of: Callable[[str], Any],
        checked: Callable[[int, list[str]], None],
        retry_after: float = RETRY_AFTER,
    ) -> None:
        self._executor_of = executor_of  # node name -> its executor (None: no such node)
        self._checked = checked  # (job id, the files of that job still missing, relative) -> None
        self._retry_after = retry_after
        self._nodes: dict[str, dict[int, Job]] = {}
        self._node_of: dict[int, str] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def __contains__(self, job_id: int) -> bool:
        return job_id in self._node_of

    def hold(self, job: Job, node: str) -> None:
        """Hold `job` until its files are found on `node`."""
        self.release(job.id)
        self._node_of[job.id] = node
        self._nodes.setdefault(node, {})[job.id] = job
        task = self._tasks.get(node)
        if task is None or task.done():
            self._tasks[node] = asyncio.get_running_loop().create_task(self._watch(node))

    def release(self, job_id: int) -> None:
        """`job_id` no longer waits for its files (found, or it left the queue)."""
        node = self._node_of.pop(job_id, None)
        if node is not None:
            self._nodes.get(node, {}).pop(job_id, None)

    def held(self, node: str) -> Sequence[Job]:
        return list(self._nodes.get(node, {}).values())

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()

    async def _watch(self, node: str) -> None:
        executor = self._executor_of(node)
        interval = float(getattr(executor, "file_check_interval", 1.0))

        def asked() -> list[str]:  # read when the node's query starts: jobs held until then are in it
            return sorted({path for job in self._nodes.get(node, {}).values() for path in waited_paths(job)})

        while self._nodes.get(node):
            try:
                paths, missing = await self._missing(executor, asked)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the node does not answer now: the jobs keep waiting, asked again soon
                log.warning("looking for waited-for files on %s failed: %s", node, e)
                await asyncio.sleep(max(interval, self._retry_after))
                continue
            looked = set(paths)
            for job in list(self._nodes.get(node, {}).values()):
                names, where = waited_files(job), waited_paths(job)
                if looked.issuperset(where):  # held before the query started (the others: at the next one)
                    self._checked(job.id, [n for n, p in zip(names, where, strict=True) if p in missing])
            await asyncio.sleep(interval)
        self._nodes.pop(node, None)

    @staticmethod
    async def _missing(executor: Any, paths: Callable[[], list[str]]) -> tuple[Sequence[str], set[str]]:
        ask = getattr(executor, "missing_files", None)  # an `executors.base.FileChecker`
        if ask is None:  # an executor that cannot look (a test's fake): this machine's files
            asked = paths()
            return asked, missing_here(asked)
        result: tuple[Sequence[str], set[str]] = await ask(paths)
        return result
