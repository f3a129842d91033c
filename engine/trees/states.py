"""What a tree's user calls the state of a job and of a directory: done, running, waiting, failed, stopped (the
words of `jobtui tree status`, its `quelist` and the TUI's tree view), from the engine's job statuses."""

from __future__ import annotations

from collections.abc import Iterable

DONE, RUNNING, WAITING, FAILED, STOPPED = "done", "running", "waiting", "failed", "stopped"
ORDER = (DONE, RUNNING, WAITING, FAILED, STOPPED)
CATEGORY = {
    "completed": DONE,
    "starting": RUNNING,
    "running": RUNNING,
    "waiting": WAITING,
    "blocked": WAITING,
    "failed": FAILED,
    "missing": FAILED,
    "rejected": FAILED,
    "cancelled": STOPPED,
    "skipped": STOPPED,
}


def job_state(status: str) -> str:
    """The tree state of a job in `status` (an unknown status is shown as it is)."""
    return CATEGORY.get(status, status)


def directory_state(statuses: Iterable[str]) -> str:
    """A directory's state from its jobs' statuses: failed if one failed (its chain stops there), else running
    if one runs, else waiting if one waits, else done when all are done, else stopped."""
    states = {job_state(status) for status in statuses}
    for state in (FAILED, RUNNING, WAITING):
        if state in states:
            return state
    return DONE if states <= {DONE} and states else STOPPED
