"""Running hooks off the engine loop: a bounded queue and a few worker tasks.

`offer` never blocks and never raises: an event no hook takes costs a set lookup, and one that finds the
queue full is dropped, counted and logged. Workers deliver each event to its hook within the hook's timeout
and tries; the outcome is logged when it fails and handed to `record` (the job's history) either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from engine.config_hooks import Hook, HookDelivery
from engine.notify.delivery import Delivery, deliver
from engine.notify.events import takes

log = logging.getLogger(__name__)
Recorder = Callable[[int, str, str], None]  # job id, history kind, message
DROP_LOG_EVERY = 100


@dataclass(slots=True)
class HookCounts:
    delivered: int = 0
    failed: int = 0
    dropped: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"delivered": self.delivered, "failed": self.failed, "dropped": self.dropped}


class HookDispatcher:
    def __init__(
        self, hooks: Sequence[Hook], settings: HookDelivery, record: Recorder | None = None, backoff: float = 0.5
    ) -> None:
        self.hooks = list(hooks)
        self.settings = settings
        self.counts = HookCounts()
        self.last_failure: dict[str, str] = {}  # hook name -> what went wrong last
        self._record = record
        self._backoff = backoff
        self._wanted = frozenset(e for h in self.hooks for e in h.events)
        self._queue: asyncio.Queue[tuple[Hook, dict[str, Any], int | None]] = asyncio.Queue(settings.queue)
        self._workers: list[asyncio.Task[None]] = []
        self._http: httpx.AsyncClient | None = None

    def wants(self, event: str) -> bool:
        """Does any hook take events of this name? (Check before building the event.)"""
        return event in self._wanted

    def start(self) -> None:
        if self._workers or not self.hooks:
            return
        self._http = httpx.AsyncClient(follow_redirects=False)
        loop = asyncio.get_running_loop()
        self._workers = [loop.create_task(self._work()) for _ in range(self.settings.workers)]

    def offer(self, payload: dict[str, Any], job_id: int | None = None) -> None:
        """Queue `payload` for every hook that takes it; never waits."""
        for hook in self.hooks:
            if not takes(hook, payload):
                continue
            try:
                self._queue.put_nowait((hook, payload, job_id))
            except asyncio.QueueFull:
                self.counts.dropped += 1
                if self.counts.dropped % DROP_LOG_EVERY == 1:
                    log.warning(
                        "hooks: %d events dropped so far, the queue of %d is full (hook %s, %s); raise "
                        "hook_delivery.queue or .workers, or make the hooks faster",
                        self.counts.dropped, self.settings.queue, hook.name, payload["event"],
                    )  # fmt: skip

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def drain(self) -> None:
        """Wait until every queued event has been delivered or has failed."""
        await self._queue.join()

    async def close(self, grace: float = 2.0) -> None:
        """Give queued deliveries `grace` seconds, then stop the workers."""
        if self._workers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), grace)
            for task in self._workers:
                task.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
            self._workers = []
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _work(self) -> None:
        assert self._http is not None
        while True:
            hook, payload, job_id = await self._queue.get()
            try:
                try:
                    result = await deliver(hook, payload, self._http, self._backoff)
                except Exception as e:  # a hook never takes the engine down
                    log.exception("hook %s: delivery raised", hook.name)
                    result = Delivery(False, f"delivery raised {e.__class__.__name__}: {e}")
                self._done(hook, payload, job_id, result)
            finally:
                self._queue.task_done()

    def _done(self, hook: Hook, payload: dict[str, Any], job_id: int | None, result: Delivery) -> None:
        event = payload["event"]
        tries = f" after {result.tries} tries" if result.tries > 1 else ""
        if result.ok:
            self.counts.delivered += 1
            message = f"hook {hook.name}: {event} delivered ({result.detail}{tries})"
        else:
            self.counts.failed += 1
            self.last_failure[hook.name] = result.detail
            message = f"hook {hook.name}: {event} not delivered{tries}: {result.detail}"
            log.warning("%s", message)
        if job_id is not None and self._record is not None:
            self._record(job_id, "hook_delivered" if result.ok else "hook_failed", message)
