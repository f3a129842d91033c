"""The event bridge: one task reading the engine's typed events, coalescing them per job, and posting a
Textual message a few times a second; it re-fetches the snapshot on `Resync` (the client sends one when a
different engine answers, too), or after the engine went away and came back.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable
from typing import Any

from textual.message import Message

from engine.api.client import EngineClient
from engine.errors import EngineUnavailable, JobTuiError
from engine.events import Event, JobChanged, JobRemoved, LimitsChanged, NodesSampled, Resync
from engine.wire import JobRow, check_columns, row_from_record, row_from_values

log = logging.getLogger(__name__)
FLUSH_INTERVAL = 0.25  # at most 4 repaints a second from engine events
HEARTBEAT = 3.0  # an event stream can stay open after its engine died (half-open socket): probe it
RETRY_DELAYS = (0.5, 1.0, 2.0, 3.0)
FIRST_PAGE = 500  # jobs fetched first, to paint a screen while a large queue loads


class SnapshotLoaded(Message):
    """Every job (or a first page while the rest loads), the limits and the nodes: replace what is shown."""

    def __init__(
        self, rows: list[JobRow], limits: dict[str, Any], nodes: list[dict[str, Any]], loading: int | None = None
    ) -> None:
        super().__init__()
        self.rows, self.limits, self.nodes = rows, limits, nodes
        self.loading = loading  # a first page only: this many jobs in all, the rest still loading


class JobsChanged(Message):
    """The latest state of each job that changed since the last message (one entry per job), and the jobs
    deleted meanwhile (never one of `rows`)."""

    def __init__(self, rows: list[JobRow], removed: list[int] | None = None) -> None:
        super().__init__()
        self.rows = rows
        self.removed = removed or []


class SettingsChanged(Message):
    """New limits (or None), and whether a node was sampled (re-read the nodes)."""

    def __init__(self, limits: dict[str, Any] | None, nodes_sampled: bool) -> None:
        super().__init__()
        self.limits, self.nodes_sampled = limits, nodes_sampled


class EngineStatus(Message):
    """The engine connection went down (with the reason) or came back."""

    def __init__(self, connected: bool, detail: str = "") -> None:
        super().__init__()
        self.connected, self.detail = connected, detail


class _Resync(Exception):
    pass


@contextlib.contextmanager
def _no_gc():
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class EventBridge:
    """Runs as two tasks (reader and flusher) on the app's loop; `post` is the app's `post_message`."""

    def __init__(self, client: EngineClient, post: Callable[[Message], Any], interval: float = FLUSH_INTERVAL) -> None:
        self.client = client
        self.post = post
        self.interval = interval
        self.connected = False
        self._pending: dict[int, dict[str, Any]] = {}
        self._removed: set[int] = set()
        self._limits: dict[str, Any] | None = None
        self._nodes_sampled = False
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._reader = loop.create_task(self._read_forever())
        self._tasks = [self._reader, loop.create_task(self._flush_forever()), loop.create_task(self._heartbeat())]

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            if not self.connected:
                continue
            try:
                await self.client.limits()
            except JobTuiError as e:
                self._reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._reader
                self._lost(e.message)
                self._reader = asyncio.get_running_loop().create_task(self._read_forever())
                self._tasks[0] = self._reader

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _read_forever(self) -> None:
        failures = 0
        while True:
            try:
                await self._follow()
            except _Resync:
                continue
            except EngineUnavailable as e:
                self._lost(e.message)
            except JobTuiError as e:
                self._lost(f"{e.title}: {e.message}")
            except Exception as e:  # a bug must not silently stop the live view: show it, then retry
                log.exception("the event bridge failed")
                self._lost(f"internal error in the event bridge: {e!r}")
            failures = failures + 1 if not self.connected else 1
            await asyncio.sleep(RETRY_DELAYS[min(failures, len(RETRY_DELAYS)) - 1])

    async def _rows_snapshot(self, limit: int | None) -> dict[str, Any]:
        """A snapshot in the compact table form, its rows turned into `JobRow`s."""
        with _no_gc():  # 100k fresh rows would trigger many full collections, each walking all of them
            snapshot = await self.client.snapshot(view="rows", limit=limit)
            check_columns(snapshot["columns"])
            snapshot["rows"] = [row_from_values(values) for values in snapshot["rows"]]
            if limit is None:
                gc.freeze()  # the rows live long: keep them out of every later collection (less jank)
        return snapshot

    def _lost(self, detail: str) -> None:
        if self.connected:
            self.connected = False
            self.post(EngineStatus(False, detail))

    async def _follow(self) -> None:
        if not self.connected:  # a first screen at once; the whole set follows
            first = await self._rows_snapshot(FIRST_PAGE)
            if first["total"] > len(first["rows"]):
                self.post(
                    SnapshotLoaded(
                        first["rows"], first.get("limits") or {}, first.get("nodes") or [], loading=first["total"]
                    )
                )
        snapshot = await self._rows_snapshot(None)
        self._pending.clear()
        self._removed.clear()
        self.post(SnapshotLoaded(snapshot["rows"], snapshot.get("limits") or {}, snapshot.get("nodes") or []))
        if not self.connected:
            self.connected = True
            self.post(EngineStatus(True))
        async for event in self.client.events(snapshot["seq"]):
            self._take(event)

    def _take(self, event: Event) -> None:
        if isinstance(event, JobChanged):
            job_id = event.record["id"]
            self._pending[job_id] = event.record
            self._removed.discard(job_id)  # ids can come back: an engine numbers on from its highest job
        elif isinstance(event, JobRemoved):
            for job_id in event.job_ids:
                self._pending.pop(job_id, None)
                self._removed.add(job_id)
        elif isinstance(event, Resync):
            raise _Resync
        elif isinstance(event, LimitsChanged):
            self._limits = event.limits or self._limits
        elif isinstance(event, NodesSampled):
            self._nodes_sampled = True

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.flush()

    def flush(self) -> None:
        """Post what accumulated since the last flush (a no-op when nothing did)."""
        if self._pending or self._removed:
            jobs, self._pending = self._pending, {}
            removed, self._removed = sorted(self._removed), set()
            self.post(JobsChanged([row_from_record(job) for job in jobs.values()], removed))
        if self._limits is not None or self._nodes_sampled:
            self.post(SettingsChanged(self._limits, self._nodes_sampled))
            self._limits, self._nodes_sampled = None, False
