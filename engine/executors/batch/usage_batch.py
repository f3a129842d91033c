"""The CPU time and peak memory of ended cluster jobs, read from the scheduler's accounting in shared queries.

Jobs that end together (seen gone in the same queue listing) ask within a short window; one accounting query
answers all of them. A failed query, or a job the accounting does not (yet) know, gives no usage: usage is
shown when known and never holds a job back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from engine.executors.batch.records import FinishedRecord

log = logging.getLogger(__name__)

Query = Callable[[list[str], float], Awaitable[list[FinishedRecord]]]


class UsageBatch:
    """Collects the job ids asked for within `window` seconds and runs one query for them."""

    def __init__(self, query: Query, window: float = 0.05) -> None:
        self.query = query  # (scheduler job ids, seconds since the oldest of them was submitted) -> records
        self.window = window
        self._pending: dict[str, list[asyncio.Future[FinishedRecord | None]]] = {}
        self._age = 0.0
        self._flush: asyncio.Task[None] | None = None

    async def record(self, job_id: str, age: float) -> FinishedRecord | None:
        """The accounting's record of `job_id` (submitted `age` seconds ago), or None when it has none."""
        future: asyncio.Future[FinishedRecord | None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(job_id, []).append(future)
        self._age = max(self._age, age)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().create_task(self._answer())
        return await future

    async def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            await asyncio.gather(self._flush, return_exceptions=True)

    async def _answer(self) -> None:
        await asyncio.sleep(self.window)
        pending, age = self._pending, self._age
        self._pending, self._age, self._flush = {}, 0.0, None
        try:
            records = await self.query(sorted(pending), age)
        except asyncio.CancelledError:
            _settle(pending, {})
            raise
        except Exception as e:  # the accounting is optional: the jobs end without their usage
            log.debug("accounting usage of %d job(s): %s", len(pending), e)
            records = []
        _settle(pending, {r.job_id: r for r in records})  # a rerun job's last record wins


def _settle(pending: dict[str, list[asyncio.Future[FinishedRecord | None]]], found: dict[str, FinishedRecord]) -> None:
    for job_id, futures in pending.items():
        for future in futures:
            if not future.done():
                future.set_result(found.get(job_id))
