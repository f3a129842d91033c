"""The engine's side of watching running jobs: run-time history and estimates, the progress files each runner
follows, the flags runners raise (overrun, stalled) and progress milestones, turned into job-record fields and
events (`job_overrun`, `job_stalled`, `progress_milestone`). Held by the engine, called on its loop."""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Callable, Iterable

from engine.config import Config
from engine.core.estimates import Estimate, RunTimes
from engine.core.watch import Flag, Watcher
from engine.events import Event, JobOverrun, JobStalled, ProgressMilestone
from engine.models import Job, JobStatus, Progress

log = logging.getLogger(__name__)
MILESTONES = (25, 50, 75, 100)
MAX_PROGRESS_FILES = 16


def check_progress_file(path: str) -> str:
    """A progress file: a non-empty path below the job's working directory; a ValueError saying what is wrong."""
    if not path or "\0" in path or "\n" in path or "\r" in path:
        raise ValueError(f"{path!r} is not a usable file name: it is empty or holds a NUL or line break")
    if path.startswith(("/", "~")):
        raise ValueError(f"{path!r} is absolute; give a path relative to the job's working directory")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"{path!r} leaves the job's working directory or names no file; give a path below it")
    return "/".join(parts)


def progress_file_names(job: Job, config: Config) -> list[str]:
    """The progress files of `job` (its own, then the config's patterns that apply to it), `{name}` and `{id}`
    filled in and each checked to stay below the working directory; a name that does not is left out."""
    wanted = list(job.extra.get("progress_files") or [])
    for pattern in config.progress_patterns:
        if pattern.progress_files and (not pattern.tags or set(pattern.tags) & set(job.tags)):
            wanted += pattern.progress_files
    names: list[str] = []
    for template in wanted:
        filled = str(template).replace("{name}", job.name).replace("{id}", str(job.id))
        try:
            name = check_progress_file(filled)
        except ValueError as e:
            log.warning("job %s: progress file left out: %s", job.id, e)
            continue
        if name not in names:
            names.append(name)
    return names[:MAX_PROGRESS_FILES]


class JobWatch:
    def __init__(
        self, config: Config, announce: Callable[[Event], None], note: Callable[[int, str, str], None]
    ) -> None:
        self.config = config
        self.run_times = RunTimes(config.watch.min_history)
        self._announce = announce
        self._note = note
        self._milestone: dict[int, int] = {}  # job id -> the highest milestone announced for its attempt

    def learn(self, jobs: Iterable[Job]) -> None:
        """Take the run times of completed jobs (at start: every stored job)."""
        for job in jobs:
            self.run_times.add(job)

    def completed(self, job: Job) -> None:
        self.run_times.add(job)

    def estimate(self, job: Job) -> Estimate | None:
        return self.run_times.estimate(job)

    def files(self, job: Job, workdir: str) -> tuple[str, ...]:
        """Its progress files as paths an executor reads: `workdir` is absolute, or relative to the run dir."""
        return tuple(posixpath.join(workdir, name) for name in progress_file_names(job, self.config))

    def watcher(self, job: Job, now: float) -> Watcher:
        """An attempt's watcher. Milestones count from its progress: none for a new attempt (its progress is
        reset), those already passed for one a restarted engine re-attached (they were announced before)."""
        percent = job.progress.percent
        self._milestone[job.id] = max((m for m in MILESTONES if percent is not None and m <= percent), default=0)
        return Watcher(self.config.watch, self.estimate(job), now)

    def progressed(self, job: Job, progress: Progress) -> None:
        """`progress` replaces the job's: its flags carry over; milestones it crossed are announced."""
        old = job.progress
        progress.overrun, progress.stalled_since = old.overrun, old.stalled_since
        if progress.percent is None:
            return
        reached = self._milestone.get(job.id, 0)
        for milestone in MILESTONES:
            if reached < milestone <= progress.percent:
                reached = milestone
                payload = {**_about(job), "milestone": milestone, "percent": progress.percent, "text": progress.text}
                self._announce(ProgressMilestone(job_id=job.id, payload=payload))
        self._milestone[job.id] = reached

    def flagged(self, job: Job, flag: Flag, now: float) -> bool:
        """Apply a runner's flag to the job's progress, note it in its history, announce it; True if it changed."""
        if job.status != JobStatus.RUNNING:
            return False
        progress, payload = job.progress, {**_about(job), **flag.data}
        event: Event
        if flag.name == "overrun":
            progress.overrun = now
            estimate = flag.data["estimate"]
            message = (
                f"running {flag.data['elapsed']:.0f} s, past {flag.data['factor']:g}x its estimate of "
                f"{estimate['seconds']:.0f} s (median of {estimate['runs']} runs with the same {estimate['basis']})"
            )
            event = JobOverrun(job_id=job.id, payload={**payload, "message": message})
        elif flag.name == "stalled":
            progress.stalled_since = now - float(flag.data["idle_seconds"])
            message = f"stalled: no new output and no progress for {flag.data['idle_seconds']:.0f} s"
            event = JobStalled(job_id=job.id, payload={**payload, "stalled": True, "message": message})
        elif flag.name == "resumed":
            progress.stalled_since = None
            message = f"moving again after {flag.data['idle_seconds']:.0f} s without progress"
            event = JobStalled(job_id=job.id, payload={**payload, "stalled": False, "message": message})
        else:
            return False
        self._note(job.id, flag.name, message)
        self._announce(event)
        return True

    def forget(self, job_id: int) -> None:
        self._milestone.pop(job_id, None)


def _about(job: Job) -> dict[str, object]:
    return {"name": job.name, "user": job.user, "node": job.node, "attempt": job.attempts,
            "workflow_id": job.workflow_id, "tags": list(job.tags)}  # fmt: skip
