"""Run-time estimates from the history of completed jobs: the median and spread of the run times of earlier
jobs with the same name, else the same tags, else the same command (the first key with enough runs wins, and
the estimate says which matched). Held by the engine, fed each job that completes; pure otherwise."""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Any

from engine.models import Job, JobStatus

KEPT = 200  # run times remembered per key, the newest
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Estimate:
    seconds: float  # the median run time
    spread: float  # the median absolute deviation from it
    runs: int  # how many completed runs it is drawn from
    basis: str  # which key matched: "name", "tags" or "command"
    key: str  # that key's value, as text

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "spread": self.spread, "runs": self.runs, "basis": self.basis,
                "key": self.key}  # fmt: skip


def run_time(job: Job) -> float | None:
    """How long a completed job ran (its first start to its end); None for any other."""
    if job.status != JobStatus.COMPLETED or job.started_at is None or job.finished_at is None:
        return None
    return max(0.0, job.finished_at - job.started_at)


def keys_of(job: Job) -> list[Key]:
    """The keys a job's runs are filed under, most specific first."""
    keys: list[Key] = [("name", job.name)]
    if job.tags:
        keys.append(("tags", ",".join(sorted(job.tags))))
    keys.append(("command", "\0".join(job.command)))
    return keys


STALE_SHARE = 20  # an estimate is drawn again once 1/20 of its runs are new (at once while it has under 40)


class RunTimes:
    """The latest run times of completed jobs, by name, tags and command. An estimate is kept until enough new
    runs came in to move it (every job launched asks for one: a median of 200 runs each time is the cost of
    launching thousands of short jobs)."""

    def __init__(self, min_runs: int = 3) -> None:
        self.min_runs = min_runs
        self._runs: dict[Key, deque[float]] = {}
        self._kept: dict[Key, tuple[Estimate, int]] = {}  # key -> its estimate, and the runs added since

    def add(self, job: Job) -> None:
        seconds = run_time(job)
        if seconds is None:
            return
        for key in keys_of(job):
            self._runs.setdefault(key, deque(maxlen=KEPT)).append(seconds)
            if (kept := self._kept.get(key)) is not None:
                self._kept[key] = (kept[0], kept[1] + 1)

    def estimate(self, job: Job) -> Estimate | None:
        """The estimate for `job` from the first of its keys with at least `min_runs` runs; None without."""
        for key in keys_of(job):
            runs = self._runs.get(key)
            if runs is None or len(runs) < self.min_runs:
                continue
            kept = self._kept.get(key)
            if kept is not None and kept[1] < max(1, len(runs) // STALE_SHARE):
                return kept[0]
            estimate = self._draw(key, runs)
            self._kept[key] = (estimate, 0)
            return estimate
        return None

    @staticmethod
    def _draw(key: Key, runs: deque[float]) -> Estimate:
        basis, value = key
        median = statistics.median(runs)
        spread = statistics.median(abs(r - median) for r in runs)
        shown = value.replace("\0", " ") if basis == "command" else value
        return Estimate(median, spread, len(runs), basis, shown[:200])

    def medians_by_name(self) -> dict[str, float]:
        """Job name -> median run time, for the names with enough runs (a workflow's critical path)."""
        return {
            value: statistics.median(runs)
            for (basis, value), runs in self._runs.items()
            if basis == "name" and len(runs) >= self.min_runs
        }
