"""The records everything else speaks of: jobs, attempts, history events, keyed submissions, workflow records,
actors, GPU samples; job states and the one legal-transition function."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from engine.config import ROLE_PRIORITY


class JobStatus(StrEnum):
    BLOCKED = "blocked"
    WAITING = "waiting"
    STARTING = "starting"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    MISSING = "missing"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    REJECTED = "rejected"


QUEUED = frozenset({JobStatus.BLOCKED, JobStatus.WAITING})
ACTIVE = frozenset({JobStatus.STARTING, JobStatus.RUNNING})
TERMINAL = frozenset(
    {
        JobStatus.COMPLETED,
        JobStatus.FAILED,
        JobStatus.MISSING,
        JobStatus.CANCELLED,
        JobStatus.SKIPPED,
        JobStatus.REJECTED,
    }
)
# Terminal states a dependent job may not start after: they make it `skipped`.
UNSUCCESSFUL = TERMINAL - {JobStatus.COMPLETED}
REQUEUABLE = frozenset(TERMINAL - {JobStatus.REJECTED})
# The same sets as the status names that appear on the wire (clients compare job records' `status` with them).
QUEUED_NAMES = frozenset(status.value for status in QUEUED)
ACTIVE_NAMES = frozenset(status.value for status in ACTIVE)
TERMINAL_NAMES = frozenset(status.value for status in TERMINAL)


class Reason(StrEnum):
    """Why a job left the happy path; every failure carries one."""

    EXIT_CODE = "exit_code"
    SIGNAL = "signal"
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out_of_memory"
    NODE_FAILURE = "node_failure"
    PREEMPTED = "preempted"
    LOST = "lost"
    TRANSFER_ERROR = "transfer_error"
    LAUNCH_ERROR = "launch_error"
    DEPENDENCY_FAILED = "dependency_failed"
    CONDITION_NOT_MET = "condition_not_met"  # skipped by an edge's condition (`failure` after a completed parent)
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    GPUS_BUSY = "gpus_busy"  # rejected at submission (`no_wait`): its GPUs were not free
    RESULTS_MISSING = "results_missing"
    NO_FINISHED_MARKER = "no_finished_marker"  # exited 0 without writing its `success_file`
    ANALYSIS_NOT_COMPLETED = "analysis_not_completed"  # exited 0, but its solver's status file says it failed
    WAITING_FOR_FILES = "waiting_for_files"  # waiting: a file of its `wait_for_files` is not there yet


_S = JobStatus
_LEGAL: dict[JobStatus, frozenset[JobStatus]] = {
    _S.BLOCKED: frozenset({_S.WAITING, _S.REJECTED, _S.CANCELLED, _S.SKIPPED}),
    _S.WAITING: frozenset({_S.STARTING, _S.CANCELLED, _S.SKIPPED, _S.BLOCKED}),
    # STARTING -> WAITING is an automatic retry after a failed launch.
    _S.STARTING: frozenset({_S.RUNNING, _S.FAILED, _S.CANCELLED, _S.WAITING}),
    # RUNNING -> WAITING is an automatic retry of a failed attempt.
    _S.RUNNING: frozenset({_S.COMPLETED, _S.FAILED, _S.MISSING, _S.CANCELLED, _S.WAITING}),
    **{s: frozenset({_S.WAITING, _S.BLOCKED}) for s in REQUEUABLE},
    _S.REJECTED: frozenset(),
}


def can_transition(old: JobStatus, new: JobStatus) -> bool:
    """The one rule for which state changes are legal."""
    return new in _LEGAL[old]


@dataclass(slots=True, frozen=True)
class Resources:
    """What a job asks for. Frozen, so that the jobs of a batch that ask for the same share one (`SharedParts`)."""

    cpus: int = 1
    mem_mb: int = 0
    gpus: int = 0
    licenses: dict[str, int] = field(default_factory=dict)
    gpu_ids: list[int] = field(default_factory=list)  # the devices it must get (empty: any free ones)


@dataclass(slots=True, frozen=True)
class RetryPolicy:
    """Frozen, so that jobs with the same policy share one (`SharedParts`); a change replaces a job's `retry`."""

    max_attempts: int = 1
    initial_delay: float = 5.0
    backoff_factor: float = 2.0
    max_delay: float = 600.0

    def delay_after(self, attempt: int) -> float:
        """Back-off before attempt number `attempt + 1` (attempts count from 1)."""
        delay = self.initial_delay * self.backoff_factor ** max(0, attempt - 1)
        return min(delay, self.max_delay)


@dataclass(slots=True)
class Progress:
    percent: float | None = None
    step: int | None = None
    total: int | None = None
    text: str = ""
    eta_seconds: float | None = None
    updated_at: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # a file parser's figures (Abaqus: step %, increment...)
    overrun: float | None = None  # when it passed its run-time estimate times the overrun factor (a flag)
    stalled_since: float | None = None  # no new output and no progress change since then (a flag, not a state)

    def to_dict(self) -> dict[str, Any]:
        return {
            "percent": self.percent, "step": self.step, "total": self.total, "text": self.text,
            "eta_seconds": self.eta_seconds, "updated_at": self.updated_at, "detail": dict(self.detail),
            "overrun": self.overrun, "stalled_since": self.stalled_since,
        }  # fmt: skip


@dataclass(slots=True)
class Job:
    id: int
    name: str
    command: list[str]
    user: str
    team: str | None = None
    priority: int = 10
    priority_override: bool = False
    status: JobStatus = JobStatus.WAITING
    reason: Reason | None = None
    message: str = ""
    resources: Resources = field(default_factory=Resources)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    after: list[int] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    node: str | None = None
    node_request: str | None = None
    timeout: float | None = None
    requires_approval: bool = False
    attempts: int = 0
    exit_code: int | None = None
    progress: Progress = field(default_factory=Progress)
    created_at: float = 0.0
    updated_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    not_before: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    after_when: dict[int, str] = field(default_factory=dict)  # parent id -> "failure" | "any" (absent: "success")
    workflow_id: int | None = None  # the workflow record it was submitted with

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (hand-written: `asdict` deep-copies and is the engine's hottest call)."""
        r, t, p = self.resources, self.retry, self.progress
        return {
            "id": self.id,
            "name": self.name,
            "command": list(self.command),
            "user": self.user,
            "team": self.team,
            "priority": self.priority,
            "priority_override": self.priority_override,
            "status": self.status.value,
            "reason": self.reason.value if self.reason else None,
            "message": self.message,
            "resources": {
                "cpus": r.cpus,
                "mem_mb": r.mem_mb,
                "gpus": r.gpus,
                "licenses": dict(r.licenses),
                "gpu_ids": list(r.gpu_ids),
            },
            "retry": {
                "max_attempts": t.max_attempts,
                "initial_delay": t.initial_delay,
                "backoff_factor": t.backoff_factor,
                "max_delay": t.max_delay,
            },
            "after": list(self.after),
            "after_when": {str(p): when for p, when in self.after_when.items()},  # JSON keys are strings
            "tags": list(self.tags),
            "env": dict(self.env),
            "workdir": self.workdir,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "node": self.node,
            "node_request": self.node_request,
            "timeout": self.timeout,
            "requires_approval": self.requires_approval,
            "attempts": self.attempts,
            "exit_code": self.exit_code,
            "progress": p.to_dict(),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "not_before": self.not_before,
            "extra": dict(self.extra),
            "workflow_id": self.workflow_id,
        }

    def state_dict(self) -> dict[str, Any]:
        """The fields that change after submission (what the store rewrites on each transition)."""
        t, p = self.retry, self.progress
        return {
            "priority": self.priority, "priority_override": self.priority_override, "status": self.status.value,
            "reason": self.reason.value if self.reason else None, "message": self.message,
            "retry": {"max_attempts": t.max_attempts, "initial_delay": t.initial_delay,
                      "backoff_factor": t.backoff_factor, "max_delay": t.max_delay},
            "node": self.node, "attempts": self.attempts, "exit_code": self.exit_code,
            "progress": p.to_dict(),
            "updated_at": self.updated_at, "started_at": self.started_at, "finished_at": self.finished_at,
            "not_before": self.not_before, "extra": dict(self.extra),
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        data = dict(data)
        data["status"] = JobStatus(data["status"])
        data["reason"] = Reason(data["reason"]) if data.get("reason") else None
        data["resources"] = Resources(**data.get("resources") or {})
        data["retry"] = RetryPolicy(**data.get("retry") or {})
        data["progress"] = Progress(**data.get("progress") or {})
        data["after_when"] = {int(p): when for p, when in (data.get("after_when") or {}).items()}
        return cls(**data)


class SharedParts:
    """One copy of each equal part among many jobs (a batch being built, the rows being loaded), so that a large
    queue holds each repeated value once. Resources and retry policies are frozen; a job's lists and dicts
    (command, tags, inputs, outputs, parents, edges, env) are never changed in place, only replaced whole, so
    equal ones are shared too. Strings are interned."""

    __slots__ = ("_dicts", "_lists", "_resources", "_retry")

    def __init__(self) -> None:
        self._resources: dict[tuple[Any, ...], Resources] = {}
        self._retry: dict[RetryPolicy, RetryPolicy] = {}
        self._lists: dict[tuple[Any, ...], list[Any]] = {}
        self._dicts: dict[tuple[tuple[Any, Any], ...], dict[Any, Any]] = {}

    def share(self, job: Job) -> Job:
        """Point `job` at the copies this pool holds of its parts (the first job with a value gives it)."""
        intern = sys.intern
        r = job.resources
        shape = (r.cpus, r.mem_mb, r.gpus, tuple(r.licenses.items()), tuple(r.gpu_ids))
        job.resources = self._resources.setdefault(shape, r)
        job.retry = self._retry.setdefault(job.retry, job.retry)
        job.command, job.tags = self._list(job.command), self._list(job.tags)
        job.inputs, job.outputs, job.after = self._list(job.inputs), self._list(job.outputs), self._list(job.after)
        job.env, job.after_when = self._dict(job.env), self._dict(job.after_when)
        job.name, job.user = intern(job.name), intern(job.user)
        if job.team is not None:
            job.team = intern(job.team)
        if job.workdir is not None:
            job.workdir = intern(job.workdir)
        if job.node_request is not None:
            job.node_request = intern(job.node_request)
        for key, value in job.extra.items():  # the environment's digest, the target: the same in many jobs
            if type(value) is str:
                job.extra[key] = intern(value)
        return job

    def _list(self, values: list[Any]) -> list[Any]:
        key = tuple(values)
        shared = self._lists.get(key)
        if shared is None:  # the first of its value: its strings interned
            shared = self._lists[key] = [sys.intern(v) if type(v) is str else v for v in values]
        return shared

    def _dict(self, values: dict[Any, Any]) -> dict[Any, Any]:
        return self._dicts.setdefault(tuple(values.items()), values)


@dataclass(slots=True)
class Attempt:
    """One try at running a job; its output lives in files under `run_dir`."""

    job_id: int
    number: int
    node: str
    run_dir: str
    launch_token: str
    status: str = "starting"
    pid: int | None = None
    proc_start: int | None = None
    external_id: str | None = None
    external_state: str | None = None
    started_at: float | None = None
    running_since: float | None = None  # began running (a cluster job may wait in its scheduler's queue)
    finished_at: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    message: str = ""
    stdout_offset: int = 0
    stderr_offset: int = 0
    gpus: list[int] = field(default_factory=list)
    unreachable_since: float | None = None
    cgroups: list[str] = field(default_factory=list)  # its cgroup's directories on a local node (one per hierarchy)
    cpu_seconds: float | None = None  # CPU time its processes used, told when it ended
    peak_memory_bytes: int | None = None  # the most memory it held at once (without cgroups: its largest process)

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _ATTEMPT_FIELDS}
        data["gpus"] = list(self.gpus)
        data["cgroups"] = list(self.cgroups)
        return data


_ATTEMPT_FIELDS = tuple(f.name for f in fields(Attempt))


@dataclass(slots=True)
class JobEvent:
    """One row of a job's history: every transition with who, when and why."""

    seq: int
    job_id: int
    at: float
    actor: str
    kind: str
    from_status: str | None = None
    to_status: str | None = None
    reason: str | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True, frozen=True)
class Submission:
    """A batch submitted with an idempotency key: a retry with the same key and jobs gets these `ids` again."""

    user: str
    key: str
    digest: str  # of the batch's validated specs (`jobspec.batch_digest`)
    ids: tuple[int, ...]
    created_at: float


@dataclass(slots=True, frozen=True)
class WorkflowRecord:
    """A batch submitted from a workflow file: who it is (its jobs carry its `id` as `workflow_id`). Its status
    is never stored: it is derived from its jobs (`wire.workflow_status`)."""

    id: int
    name: str
    version: str | None
    description: str
    digest: str  # sha256 of the workflow file, hex ("" when the client did not say)
    submitter: str
    created_at: float
    max_concurrent: int | None = None  # jobs of it running at once (its `max_concurrent_jobs`); None: no cap

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "digest": self.digest,
            "submitter": self.submitter,
            "created_at": self.created_at,
            "max_concurrent": self.max_concurrent,
        }


@dataclass(slots=True, frozen=True)
class Actor:
    user: str
    role: str = "researcher"
    team: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def priority_level(self) -> int:
        return ROLE_PRIORITY[self.role]


SYSTEM = Actor("jobtui", "admin")


@dataclass(slots=True, frozen=True)
class GpuSample:
    index: int
    name: str
    memory_total_mb: int
    memory_used_mb: int
    utilization_pct: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "memory_total_mb": self.memory_total_mb,
            "memory_used_mb": self.memory_used_mb,
            "utilization_pct": self.utilization_pct,
        }
