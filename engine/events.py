"""Engine events, typed and past tense, and the bus that fans them out.

Events carry whole records, so a consumer replaces by key. The bus numbers them; it keeps a bounded ring of
recent events so a client that reconnects can replay from its last number, and a subscriber that falls
behind, or asks for more than it can hold, is told to resync from a snapshot instead of blocking the engine.
An event is encoded for the wire once, however many subscribers send it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

SUBSCRIBER_QUEUE = 4096


@dataclass(slots=True, eq=False, kw_only=True)
class Event:
    """One numbered event; `kind` is its name on the wire (the SSE `event:` field)."""

    kind: ClassVar[str] = ""
    seq: int = 0  # stamped by the bus
    _sse: bytes | None = field(default=None, init=False, repr=False)

    @property
    def key(self) -> int | None:
        """The job id this event is about, for consumers that need no more than that."""
        return None

    def data(self) -> dict[str, Any]:
        raise NotImplementedError

    def sse(self) -> bytes:
        """The server-sent-event frame, encoded on first use and shared by every subscriber."""
        if self._sse is None:
            body = orjson.dumps(self.data())
            self._sse = b"id: %d\nevent: %s\ndata: %s\n\n" % (self.seq, self.kind.encode(), body)
        return self._sse


@dataclass(slots=True, eq=False, kw_only=True)
class JobChanged(Event):
    """A job was submitted or changed: its whole record (`Job.to_dict()`)."""

    kind: ClassVar[str] = "job_changed"
    record: dict[str, Any]

    @property
    def key(self) -> int | None:
        return int(self.record["id"])

    def data(self) -> dict[str, Any]:
        return self.record


@dataclass(slots=True, eq=False, kw_only=True)
class JobRemoved(Event):
    """Jobs were deleted (cleanup): consumers drop them."""

    kind: ClassVar[str] = "job_removed"
    job_ids: list[int]

    def data(self) -> dict[str, Any]:
        return {"ids": self.job_ids}


@dataclass(slots=True, eq=False, kw_only=True)
class LimitsChanged(Event):
    """The queue-wide concurrency limits changed."""

    kind: ClassVar[str] = "limits_changed"
    limits: dict[str, Any]

    def data(self) -> dict[str, Any]:
        return {"limits": self.limits}


@dataclass(slots=True, eq=False, kw_only=True)
class NodesSampled(Event):
    """A node was sampled (reachability, load, memory, GPUs)."""

    kind: ClassVar[str] = "nodes_sampled"
    node: str
    reachable: bool
    sample: dict[str, Any] | None = None
    reason: str = ""  # why it is unreachable, where known

    def data(self) -> dict[str, Any]:
        return {"node": self.node, "reachable": self.reachable, "sample": self.sample, "reason": self.reason}


@dataclass(slots=True, eq=False, kw_only=True)
class Resync(Event):
    """Events were missed: the consumer must fetch a snapshot and follow from its number."""

    kind: ClassVar[str] = "resync"
    reason: str

    def data(self) -> dict[str, Any]:
        return {"reason": self.reason}


@dataclass(slots=True, eq=False, kw_only=True)
class JobWatched(Event):
    """Something noticed about a running job that changes no state; `payload` says what (its kinds below)."""

    job_id: int
    payload: dict[str, Any]

    @property
    def key(self) -> int | None:
        return self.job_id

    def data(self) -> dict[str, Any]:
        return {"job_id": self.job_id, **self.payload}


@dataclass(slots=True, eq=False, kw_only=True)
class JobOverrun(JobWatched):
    """A running job passed its run-time estimate times the configured factor (`watch.overrun_factor`)."""

    kind: ClassVar[str] = "job_overrun"


@dataclass(slots=True, eq=False, kw_only=True)
class JobStalled(JobWatched):
    """A running job wrote nothing and changed no progress for its stall time (`stalled: false`: it moved again)."""

    kind: ClassVar[str] = "job_stalled"


@dataclass(slots=True, eq=False, kw_only=True)
class ProgressMilestone(JobWatched):
    """A running job's progress reached 25, 50, 75 or 100 %."""

    kind: ClassVar[str] = "progress_milestone"


WATCHED_KINDS: dict[str, type[JobWatched]] = {c.kind: c for c in (JobOverrun, JobStalled, ProgressMilestone)}


def decode(seq: int, kind: str, data: dict[str, Any]) -> Event | None:
    """The typed event for a wire frame; None for a kind this version does not know (skip it)."""
    if kind in WATCHED_KINDS:
        payload = {k: v for k, v in data.items() if k != "job_id"}
        return WATCHED_KINDS[kind](seq=seq, job_id=int(data.get("job_id") or 0), payload=payload)
    if kind == JobChanged.kind:
        return JobChanged(seq=seq, record=data)
    if kind == JobRemoved.kind:
        return JobRemoved(seq=seq, job_ids=[int(i) for i in data.get("ids", [])])
    if kind == LimitsChanged.kind:
        return LimitsChanged(seq=seq, limits=dict(data.get("limits") or {}))
    if kind == NodesSampled.kind:
        return NodesSampled(seq=seq, node=str(data.get("node")), reachable=bool(data.get("reachable")),
                            sample=data.get("sample"), reason=str(data.get("reason") or ""))  # fmt: skip
    if kind == Resync.kind:
        return Resync(seq=seq, reason=str(data.get("reason", "")))
    return None


@dataclass(slots=True, eq=False)
class Subscription:
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(maxsize=SUBSCRIBER_QUEUE))


class EventBus:
    def __init__(self, history: int = 10_000) -> None:
        self.seq = 0
        self._ring: deque[Event] = deque(maxlen=history)
        self._subs: set[Subscription] = set()

    def publish(self, event: Event) -> Event:
        """Number `event` and hand it to every subscriber."""
        self.seq += 1
        event.seq = self.seq
        self._ring.append(event)
        for sub in self._subs:
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                _replace_with_resync(sub.queue, self.seq)
        return event

    def subscribe(self, since: int | None = None) -> Subscription:
        """A new subscriber; with `since`, replay what followed it, or ask it to resync when that cannot be."""
        sub = Subscription()
        if since is not None and since > self.seq:  # numbered by an earlier engine: start afresh
            sub.queue.put_nowait(Resync(seq=self.seq, reason="the engine restarted"))
        elif since is not None and since < self.seq:
            oldest = self._ring[0].seq if self._ring else self.seq + 1
            missed = self.seq - since
            if since + 1 < oldest:
                sub.queue.put_nowait(Resync(seq=self.seq, reason="events were missed"))
            elif missed > sub.queue.maxsize:
                sub.queue.put_nowait(Resync(seq=self.seq, reason=f"{missed} events to replay; take a snapshot"))
            else:
                for event in list(self._ring)[-missed:]:
                    sub.queue.put_nowait(event)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)


def _replace_with_resync(queue: asyncio.Queue[Event], seq: int) -> None:
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(Resync(seq=seq, reason="subscriber fell behind"))
