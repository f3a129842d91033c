"""Pure filters and counts over jobs: the job list a caller asked for, queue statistics."""

from __future__ import annotations

from collections.abc import Iterable
from statistics import fmean
from typing import Any

from engine.models import ACTIVE, QUEUED, TERMINAL, Job, JobStatus


def select_jobs(
    jobs: Iterable[Job],
    status: set[JobStatus] | None = None,
    user: str | None = None,
    include_completed: bool = True,
    limit: int | None = None,
) -> list[Job]:
    """Matching jobs in id order; with a `limit` above 0, the most recent ones (0 or None: all)."""
    out = [
        j
        for j in jobs
        if (status is None or j.status in status)
        and (user is None or j.user == user)
        and (include_completed or status is not None or j.status not in TERMINAL)
    ]
    out.sort(key=lambda j: j.id)
    if limit:
        out = out[-limit:]
    return out


def queue_stats(jobs: Iterable[Job], limits: dict[str, Any]) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    by_user: dict[str, int] = {}
    waits: list[float] = []
    for job in jobs:
        by_status[job.status.value] = by_status.get(job.status.value, 0) + 1
        if job.status in QUEUED or job.status in ACTIVE:
            by_user[job.user] = by_user.get(job.user, 0) + 1
        if job.started_at is not None:
            waits.append(job.started_at - job.created_at)
    return {
        "queue_depth": by_status.get("waiting", 0) + by_status.get("blocked", 0),
        "running": by_status.get("running", 0) + by_status.get("starting", 0),
        **limits,
        "avg_wait_seconds": round(fmean(waits[-1000:]), 3) if waits else None,
        "by_status": by_status,
        "by_user": by_user,
    }
