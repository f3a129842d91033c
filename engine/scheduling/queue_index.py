"""The ready queue: jobs that may start now, ordered by (effective priority desc, submission order).

Jobs are kept in one sorted list per user, so the scheduler can skip a user at their limit without
looking at any of their jobs, and a start decision never scans every queued job. Jobs still waiting
for parents, approval or a retry back-off are not in here; the engine adds them when they become ready.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass, field

from engine.models import Job

SortKey = tuple[int, int]  # (-effective priority, job id)


@dataclass(slots=True)
class QueueIndex:
    jobs: dict[int, Job] = field(default_factory=dict)
    by_user: dict[str, list[SortKey]] = field(default_factory=dict)
    keys: dict[int, SortKey] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, job_id: int) -> bool:
        return job_id in self.keys

    def add(self, job: Job, effective_priority: int) -> None:
        if job.id in self.keys:
            self.remove(job.id)
        key = (-effective_priority, job.id)
        self.jobs[job.id] = job
        self.keys[job.id] = key
        insort(self.by_user.setdefault(job.user, []), key)

    def remove(self, job_id: int) -> None:
        key = self.keys.pop(job_id, None)
        if key is None:
            return
        job = self.jobs.pop(job_id)
        queue = self.by_user[job.user]
        del queue[bisect_left(queue, key)]
        if not queue:
            del self.by_user[job.user]

    def position(self, job_id: int) -> int | None:
        """1-based place of a job in the global order (O(users · log n))."""
        key = self.keys.get(job_id)
        if key is None:
            return None
        return self.place_of(key)

    def place_of(self, key: SortKey) -> int:
        """1-based place a job with sort `key` has, or would take (O(users · log n))."""
        return 1 + sum(bisect_left(queue, key) for queue in self.by_user.values())
