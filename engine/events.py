"""Engine events and the bus that fans them out.

Events carry whole records, so a consumer replaces by key. Each has a sequence number; the bus keeps
a bounded ring of recent events so a client that reconnects can replay from its last number, and a
subscriber that falls behind is told to resync from a snapshot instead of blocking the engine.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Event:
    seq: int
    kind: str  # "job_changed" | "nodes_sampled" | "settings_changed" | "resync"
    data: dict[str, Any]
    key: int | None = None  # the job id of a job_changed event, for consumers that need no more


@dataclass(slots=True, eq=False)
class Subscription:
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(maxsize=4096))


class EventBus:
    def __init__(self, history: int = 10_000) -> None:
        self.seq = 0
        self._ring: deque[Event] = deque(maxlen=history)
        self._subs: set[Subscription] = set()

    def publish(self, kind: str, data: dict[str, Any], key: int | None = None) -> Event:
        self.seq += 1
        event = Event(self.seq, kind, data, key)
        self._ring.append(event)
        for sub in self._subs:
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                _replace_with_resync(sub.queue, self.seq)
        return event

    def subscribe(self, since: int | None = None) -> Subscription:
        """A new subscriber; with `since`, replay what followed it or ask it to resync."""
        sub = Subscription()
        if since is not None and since > self.seq:  # numbered by an earlier engine: start afresh
            sub.queue.put_nowait(Event(self.seq, "resync", {"reason": "the engine restarted"}))
        elif since is not None and since < self.seq:
            oldest = self._ring[0].seq if self._ring else self.seq + 1
            if since + 1 < oldest:
                sub.queue.put_nowait(Event(self.seq, "resync", {"reason": "events were missed"}))
            else:
                for event in self._ring:
                    if event.seq > since:
                        sub.queue.put_nowait(event)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)


def _replace_with_resync(queue: asyncio.Queue[Event], seq: int) -> None:
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(Event(seq, "resync", {"reason": "subscriber fell behind"}))
