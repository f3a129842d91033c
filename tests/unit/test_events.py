"""The event bus: sequence numbers, replay from a number, resync when events were missed."""

from __future__ import annotations

from engine.events import EventBus


def drain(sub) -> list:
    out = []
    while not sub.queue.empty():
        out.append(sub.queue.get_nowait())
    return out


async def test_events_are_numbered_and_fanned_out() -> None:
    bus = EventBus()
    a, b = bus.subscribe(), bus.subscribe()
    bus.publish("job_changed", {"id": 1})
    bus.publish("job_changed", {"id": 2})
    for sub in (a, b):
        assert [(e.seq, e.data["id"]) for e in drain(sub)] == [(1, 1), (2, 2)]
    bus.unsubscribe(b)
    bus.publish("job_changed", {"id": 3})
    assert [e.seq for e in drain(a)] == [3] and drain(b) == []


async def test_replay_since_a_sequence_number() -> None:
    bus = EventBus()
    for i in range(1, 6):
        bus.publish("job_changed", {"id": i})
    sub = bus.subscribe(since=3)
    assert [e.seq for e in drain(sub)] == [4, 5]
    bus.publish("job_changed", {"id": 6})
    assert [e.seq for e in drain(sub)] == [6]


async def test_up_to_date_subscriber_gets_no_replay() -> None:
    bus = EventBus()
    bus.publish("job_changed", {"id": 1})
    assert drain(bus.subscribe(since=1)) == []
    assert drain(bus.subscribe()) == []


async def test_resync_when_the_missed_events_left_the_ring() -> None:
    bus = EventBus(history=3)
    for i in range(1, 11):
        bus.publish("job_changed", {"id": i})
    events = drain(bus.subscribe(since=2))
    assert [e.kind for e in events] == ["resync"]
    assert events[0].seq == 10
    assert [e.seq for e in drain(bus.subscribe(since=7))] == [8, 9, 10]  # still in the ring: replayed


async def test_a_subscriber_that_falls_behind_is_told_to_resync() -> None:
    bus = EventBus()
    slow = bus.subscribe()
    slow.queue = type(slow.queue)(maxsize=4)
    for i in range(1, 10):
        bus.publish("job_changed", {"id": i})
    events = drain(slow)
    assert events[0].kind == "resync"
    assert [e.seq for e in events[1:]] == list(range(events[0].seq + 1, 10))
    assert len(events) <= 4
