"""The event bus: typed events, sequence numbers, replay from a number, resync when events were missed."""

from __future__ import annotations

import orjson

from engine.events import SUBSCRIBER_QUEUE, EventBus, JobChanged, JobRemoved, Resync, Subscription, decode


def drain(sub: Subscription) -> list:
    out = []
    while not sub.queue.empty():
        out.append(sub.queue.get_nowait())
    return out


def changed(job_id: int) -> JobChanged:
    return JobChanged(record={"id": job_id, "status": "waiting"})


async def test_events_are_numbered_and_fanned_out() -> None:
    bus = EventBus()
    a, b = bus.subscribe(), bus.subscribe()
    bus.publish(changed(1))
    bus.publish(changed(2))
    for sub in (a, b):
        assert [(e.seq, e.key) for e in drain(sub)] == [(1, 1), (2, 2)]
    bus.unsubscribe(b)
    bus.publish(changed(3))
    assert [e.seq for e in drain(a)] == [3] and drain(b) == []


async def test_replay_since_a_sequence_number() -> None:
    bus = EventBus()
    for i in range(1, 6):
        bus.publish(changed(i))
    sub = bus.subscribe(since=3)
    assert [e.seq for e in drain(sub)] == [4, 5]
    bus.publish(changed(6))
    assert [e.seq for e in drain(sub)] == [6]


async def test_up_to_date_subscriber_gets_no_replay() -> None:
    bus = EventBus()
    bus.publish(changed(1))
    assert drain(bus.subscribe(since=1)) == []
    assert drain(bus.subscribe()) == []


async def test_resync_when_the_missed_events_left_the_ring() -> None:
    bus = EventBus(history=3)
    for i in range(1, 11):
        bus.publish(changed(i))
    events = drain(bus.subscribe(since=2))
    assert [type(e) for e in events] == [Resync]
    assert events[0].seq == 10
    assert [e.seq for e in drain(bus.subscribe(since=7))] == [8, 9, 10]  # still in the ring: replayed


async def test_a_replay_longer_than_the_subscriber_can_hold_is_a_resync_not_a_crash() -> None:
    bus = EventBus()
    for i in range(1, 5001):
        bus.publish(changed(i))
    assert SUBSCRIBER_QUEUE < 5000
    events = drain(bus.subscribe(since=0))  # a client reconnecting after a burst
    assert [type(e) for e in events] == [Resync] and events[0].seq == 5000
    replayed = drain(bus.subscribe(since=5000 - SUBSCRIBER_QUEUE))  # as much as fits: replayed
    assert [e.seq for e in replayed] == list(range(5001 - SUBSCRIBER_QUEUE, 5001))


async def test_a_subscriber_that_falls_behind_is_told_to_resync() -> None:
    bus = EventBus()
    slow = bus.subscribe()
    slow.queue = type(slow.queue)(maxsize=4)
    for i in range(1, 10):
        bus.publish(changed(i))
    events = drain(slow)
    assert isinstance(events[0], Resync)
    assert [e.seq for e in events[1:]] == list(range(events[0].seq + 1, 10))
    assert len(events) <= 4


async def test_an_event_is_encoded_once_and_decodes_to_its_type() -> None:
    bus = EventBus()
    event = bus.publish(JobRemoved(job_ids=[3, 4]))
    frame = event.sse()
    assert event.sse() is frame  # shared by every subscriber
    head, kind, data = frame.decode().splitlines()[:3]
    assert head == f"id: {event.seq}" and kind == "event: job_removed"
    decoded = decode(event.seq, "job_removed", orjson.loads(data.removeprefix("data: ")))
    assert isinstance(decoded, JobRemoved) and decoded.job_ids == [3, 4]
    assert decode(1, "something_new", {}) is None
