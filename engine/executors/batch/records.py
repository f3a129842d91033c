"""What every batch dialect's parsers return: queue entries, finished records, the jobtui tag in a job name,
and the one map from a final scheduler state to a jobtui reason.

Each dialect's parsers (`slurm_output`, `sge_output`, `pbs_output`) are pure: they take the text a command
printed and return these records; none runs anything. Malformed input raises `ValueError` naming the offending
line: a parser never guesses (a job id is never "the first number in the output"). Every dialect reports a
finished job in Slurm's state words, so one reason map serves them all. Tested against real output recorded
in tests/data/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.models import Reason

TAG_PREFIX = "jt-"
_TAG = re.compile(r"^jt-(\d+)-(\d+)-([0-9a-f]{6,32})(?:$|_)")


@dataclass(slots=True, frozen=True)
class QueueEntry:
    """One job in the scheduler's queue listing, in the scheduler's own words."""

    job_id: str
    state: str
    name: str
    reason: str = ""


@dataclass(slots=True, frozen=True)
class FinishedRecord:
    """What the scheduler's accounting says about a job that has left the queue."""

    job_id: str
    state: str
    exit_code: int | None
    name: str = ""
    signal: int | None = None
    detail: str = ""
    cpu_seconds: float | None = None  # CPU time its processes used, when the accounting tells it
    peak_memory_bytes: int | None = None  # the most memory it held, when the accounting tells it


def make_tag(job_id: int, attempt: int, launch_token: str) -> str:
    """The jobtui tag that leads a scheduler job name: `jt-<job>-<attempt>-<token>`."""
    return f"{TAG_PREFIX}{job_id}-{attempt}-{launch_token}"


def parse_tag(name: str) -> tuple[int, int, str] | None:
    """(job id, attempt, launch token) from a scheduler job name, or None if it is not ours."""
    m = _TAG.match(name)
    return (int(m[1]), int(m[2]), m[3]) if m else None


def single_line(text: str, what: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) != 1:
        raise ValueError(f"{what}: expected one line, got {len(lines)}: {text.strip()[:200]!r}")
    return lines[0]


# -- final states, in Slurm's words, shared by every dialect ------------------------------------------

SLURM_REASONS: dict[str, Reason | None] = {
    "COMPLETED": None,
    "FAILED": None,
    "TIMEOUT": Reason.TIMEOUT,
    "DEADLINE": Reason.TIMEOUT,
    "OUT_OF_MEMORY": Reason.OUT_OF_MEMORY,
    "NODE_FAIL": Reason.NODE_FAILURE,
    "BOOT_FAIL": Reason.NODE_FAILURE,
    "PREEMPTED": Reason.PREEMPTED,
    "CANCELLED": Reason.CANCELLED,
}


def slurm_state(word: str) -> str:
    """Normalise a Slurm state: `CANCELLED by 0` -> `CANCELLED`, `CANCELLED+` -> `CANCELLED`."""
    return word.strip().split(" ", 1)[0].rstrip("+")


def slurm_reason(state: str) -> Reason | None:
    """The jobtui reason for a finished Slurm state (None: judge by the exit code)."""
    word = slurm_state(state)
    if word in SLURM_REASONS:
        return SLURM_REASONS[word]
    raise ValueError(f"unknown Slurm job state {state!r}")
