"""One queue listing per cluster per interval, shared by every attempt that follows a job there.

`wait()` calls subscribe and await the next snapshot; the poller runs one scheduler query for all of
them, backs off while the scheduler is down or slow, and stops when nobody is subscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from engine.clock import Clock, SystemClock
from engine.executors.batch.records import QueueEntry, parse_tag

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Snapshot:
    """The scheduler's queue as one listing saw it; `ok` False when the listing failed."""

    at: float
    ok: bool
    by_id: dict[str, QueueEntry] = field(default_factory=dict)
    by_tag: dict[str, QueueEntry] = field(default_factory=dict)
    error: str = ""

    @classmethod
    def of(cls, entries: list[QueueEntry], at: float) -> Snapshot:
        by_tag = {}
        for entry in entries:
            tag = parse_tag(entry.name)
            if tag is not None:
                by_tag[f"jt-{tag[0]}-{tag[1]}-{tag[2]}"] = entry
        return cls(at, True, {e.job_id: e for e in entries}, by_tag)


class QueuePoller:
    def __init__(
        self,
        fetch: Callable[[], Awaitable[list[QueueEntry]]],
        interval: float,
        on_health: Callable[[bool, str], None] | None = None,
        max_backoff: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.fetch = fetch
        self.interval = interval
        self.max_backoff = max_backoff or max(60.0, 8 * interval)
        self.on_health = on_health
        self.latest: Snapshot | None = None
        self.polls = 0
        self._subscribers = 0
        self._generation = 0
        self._changed = asyncio.Condition()
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failures = 0

    async def next(self) -> Snapshot:
        """Wait for the next listing (subscribed callers keep the poller running)."""
        self._ensure_running()
        async with self._changed:
            seen = self._generation
            await self._changed.wait_for(lambda: self._generation > seen)
            snap = self.latest
        if snap is None:  # the generation moves only once a listing is stored in `latest`
            raise RuntimeError("the queue poller moved on without a listing")
        return snap

    async def recent(self, max_age: float) -> Snapshot:
        """A listing no older than `max_age`, taking one now if needed (probes after a restart)."""
        snap = self.latest
        if snap is not None and snap.ok and self.clock.monotonic() - snap.at <= max_age:
            return snap
        self.subscribe()
        try:
            self._kick.set()
            return await self.next()
        finally:
            self.unsubscribe()

    def subscribe(self) -> None:
        self._subscribers += 1
        self._ensure_running()

    def unsubscribe(self) -> None:
        self._subscribers -= 1

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self._subscribers > 0:
            self._kick.clear()
            started = self.clock.monotonic()
            snap = await self._poll_once(started)
            async with self._changed:
                self.latest = snap
                self._generation += 1
                self._changed.notify_all()
            delay = self._delay(snap, self.clock.monotonic() - started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), delay)

    async def _poll_once(self, started: float) -> Snapshot:
        self.polls += 1
        try:
            entries = await self.fetch()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the scheduler is down or answered nonsense: keep the last view, back off
            self._failures += 1
            log.warning("cluster queue listing failed (%d in a row): %s", self._failures, e)
            if self._failures == 2 and self.on_health:
                self.on_health(False, str(e))
            last = self.latest or Snapshot(started, False)
            return Snapshot(started, False, last.by_id, last.by_tag, str(e))
        if self._failures >= 2 and self.on_health:
            self.on_health(True, "")
        self._failures = 0
        return Snapshot.of(entries, started)

    def _delay(self, snap: Snapshot, took: float) -> float:
        """The interval; doubled per failure in a row; never less than twice what a slow query took."""
        if not snap.ok:
            return min(self.interval * 2 ** min(self._failures, 10), self.max_backoff)
        return max(self.interval, 2 * took)
