"""Flags on a running attempt, decided on each of its runner's polls: `overrun` once it has run past its
estimate times the configured factor, `stalled` while it has written nothing and changed no progress for the
stall time (a fixed time, or k times its usual interval between progress updates, whichever comes first).
Flags, not states: the job runs on. Pure: it is told the time."""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Any

from engine.config import Watch
from engine.core.estimates import Estimate

INTERVALS_KEPT = 20


@dataclass(slots=True, frozen=True)
class Flag:
    name: str  # "overrun", "stalled", or "resumed" (a stalled attempt moved again)
    data: dict[str, Any]


class Watcher:
    def __init__(self, rule: Watch, estimate: Estimate | None, now: float) -> None:
        self.rule = rule
        self.estimate = estimate
        self.last_activity = now
        self.stalled = False
        self.overrun = False
        self._last_progress: float | None = None
        self._intervals: deque[float] = deque(maxlen=INTERVALS_KEPT)

    def activity(self, now: float, progressed: bool) -> Flag | None:
        """New output, or a progress change (`progressed`); a stalled attempt is `resumed`."""
        idle = now - self.last_activity
        self.last_activity = now
        if progressed:
            if self._last_progress is not None:
                self._intervals.append(now - self._last_progress)
            self._last_progress = now
        if self.stalled:
            self.stalled = False
            return Flag("resumed", {"idle_seconds": round(idle, 3)})
        return None

    def stall_after(self) -> float | None:
        """Seconds of silence that make the attempt stalled; None when no rule applies (yet)."""
        limits = []
        if self.rule.stall_after is not None:
            limits.append(self.rule.stall_after)
        if self.rule.stall_factor > 0 and len(self._intervals) >= 3:
            limits.append(max(self.rule.stall_min, self.rule.stall_factor * statistics.median(self._intervals)))
        return min(limits) if limits else None

    def check(self, now: float, running_since: float | None) -> list[Flag]:
        flags = []
        estimate, factor = self.estimate, self.rule.overrun_factor
        if not self.overrun and estimate is not None and factor > 0 and running_since is not None:
            elapsed = now - running_since
            if elapsed >= factor * max(estimate.seconds, 0.001):
                self.overrun = True
                data = {"elapsed": round(elapsed, 3), "factor": factor, "estimate": estimate.to_dict()}
                flags.append(Flag("overrun", data))
        limit = self.stall_after()
        if not self.stalled and limit is not None and now - self.last_activity >= limit:
            self.stalled = True
            flags.append(Flag("stalled", {"idle_seconds": round(now - self.last_activity, 3), "stall_after": limit}))
        return flags
