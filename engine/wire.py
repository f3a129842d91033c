"""The wire contract: every JSON shape a client gets from the engine, written once.

The HTTP routes (engine/api/server.py) and the in-process client (engine/api/local_client.py) build their
answers with these functions, and `HttpClient` reads the same keys of the same bodies, so the two clients
return the same shapes by construction (tests/engine/test_contract.py compares them verb by verb). What is
built here is plain JSON: string keys, lists, numbers, strings, None, so an answer is the same whether it
crossed a socket or not.

The compact job row a table needs is defined here too, with the decoders the TUI uses (`JobRow`,
`row_from_values`, `row_from_record`). Vocabulary only: this module imports the records (engine.models),
the events and the errors, never the engine, the service or the API.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from engine.errors import ValidationError
from engine.models import ACTIVE_NAMES, QUEUED_NAMES, Actor, Attempt, Job, JobEvent, WorkflowRecord

# -- the compact job row ----------------------------------------------------------------------------------


@dataclass(slots=True)
class JobRow:
    """The compact record a job table keeps per job (a full job record is ~10x larger)."""

    id: int
    name: str
    user: str
    team: str | None
    status: str
    priority: int
    node: str | None
    percent: float | None
    step: int | None
    total: int | None
    progress_text: str
    eta: float | None
    attempts: int
    exit_code: int | None
    reason: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    tags: tuple[str, ...]
    workflow_id: int | None
    flags: str  # what the engine flagged on its run: "overrun", "stalled", both space-separated, or ""


# The columns of `GET /api/snapshot?view=rows`, in this order: a 100,000-job snapshot is ~5x smaller and
# faster to encode and decode as rows than as full job records.
ROW_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(JobRow))


def table_row(job: Job) -> list[Any]:
    """A job as one row of ROW_COLUMNS (built from the record itself: the snapshot's hot loop)."""
    p = job.progress
    return [
        job.id, job.name, job.user, job.team, job.status.value, job.priority, job.node, p.percent, p.step,
        p.total, p.text, p.eta_seconds, job.attempts, job.exit_code, job.reason.value if job.reason else None,
        job.created_at, job.started_at, job.finished_at, list(job.tags), job.workflow_id,
        "" if p.overrun is None and p.stalled_since is None else watch_flags(p.overrun, p.stalled_since),
    ]  # fmt: skip


def record_row(record: Mapping[str, Any]) -> list[Any]:
    """A job record (`job_record`, or a `job_changed` event's) as one row of ROW_COLUMNS."""
    p = record.get("progress") or {}
    return [
        record["id"], record.get("name") or "", record.get("user") or "", record.get("team"), record["status"],
        record.get("priority", 0), record.get("node"), p.get("percent"), p.get("step"), p.get("total"),
        p.get("text") or "", p.get("eta_seconds"), record.get("attempts", 0), record.get("exit_code"),
        record.get("reason"), record.get("created_at") or 0.0, record.get("started_at"), record.get("finished_at"),
        list(record.get("tags") or ()), record.get("workflow_id"),
        watch_flags(p.get("overrun"), p.get("stalled_since")),
    ]  # fmt: skip


def watch_flags(overrun: float | None, stalled_since: float | None) -> str:
    """A row's `flags`: `overrun` (past its run-time estimate), `stalled` (no output nor progress), both, or ""."""
    return " ".join(word for word, at in (("overrun", overrun), ("stalled", stalled_since)) if at is not None)


def row_from_values(values: list[Any], _intern: Callable[[str], str] = sys.intern) -> JobRow:
    """A `JobRow` from one row of a rows snapshot; repeated strings are interned to save memory."""
    node = values[6]
    values[2], values[4] = _intern(values[2]), _intern(values[4])
    values[6] = _intern(node) if node else None
    values[18] = tuple(values[18])
    return JobRow(*values)


def row_from_record(record: Mapping[str, Any]) -> JobRow:
    """A `JobRow` from a job record (a client's job dict or a `job_changed` event)."""
    return row_from_values(record_row(record))


def check_columns(columns: Sequence[str]) -> None:
    """A rows snapshot from an engine whose columns differ from these cannot be read: say so."""
    if tuple(columns) != ROW_COLUMNS:
        raise ValidationError(
            f"the engine's job columns differ from this client's ({list(columns)}); run the same jobtui version "
            "for both."
        )


# -- jobs and their history ---------------------------------------------------------------------------------


def job_record(job: Job) -> dict[str, Any]:
    """One job, whole: the answer of cancel, approve, reject, requeue and priority, and a `job_changed` event."""
    return job.to_dict()


def submit_result(jobs: Sequence[Job]) -> dict[str, Any]:
    """`POST /api/queue/submit`; clients return its `jobs`."""
    return {"ids": [j.id for j in jobs], "jobs": [j.to_dict() for j in jobs]}


def list_result(jobs: Sequence[Job], waiting: Mapping[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """`GET /api/queue`; clients return its `jobs`. A queued job's record has `waiting` (`with_waiting`)."""
    return {"jobs": [with_waiting(j.to_dict(), waiting) for j in jobs], "count": len(jobs)}


def with_waiting(record: dict[str, Any], waiting: Mapping[int, dict[str, Any]] | None) -> dict[str, Any]:
    """`record` with `waiting`: why the queued job waits (`code`, `text`), its `estimated_start` (or None), and
    when the scheduler last looked at it (`looked_at`, when it has); None for a job not queued."""
    if waiting is not None:
        record["waiting"] = waiting.get(record["id"])
    return record


def dependency_record(job_id: int, parent: Job | None, when: str = "success") -> dict[str, Any]:
    """A job this one runs after, and the edge's condition (`when`); a deleted one shows as "cleaned up"."""
    if parent is None:
        return {"id": job_id, "name": None, "status": "cleaned up", "when": when}
    return {"id": job_id, "name": parent.name, "status": parent.status.value, "when": when}


def detail_result(
    job: Job,
    attempts: Iterable[Attempt],
    events: Iterable[JobEvent],
    dependencies: list[dict[str, Any]],
    position: int | None,
    waiting: dict[str, Any] | None = None,
    estimate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`GET /api/jobs/{id}`: the job, its attempts and history, what it runs after, its queue position, why
    it waits (`job.waiting`, see `with_waiting`), and its run-time `estimate` from the history of jobs like it
    (`seconds` the median, `spread`, `runs`, `basis`: the key that matched, name, tags or command; None without)."""
    return {
        "job": with_waiting(job.to_dict(), {job.id: waiting} if waiting else {}),
        "attempts": [a.to_dict() for a in attempts],
        "events": [e.to_dict() for e in events],
        "dependencies": dependencies,
        "position": position,
        "estimate": estimate,
    }


def position_result(job_id: int, position: int | None, waiting: dict[str, Any] | None = None) -> dict[str, Any]:
    """`GET /api/queue/position/{id}`; clients return its `position` (1-based, None when not ready to start);
    `waiting`: why it waits and when it may start (see `with_waiting`)."""
    return {"job_id": job_id, "position": position, "waiting": waiting}


def log_chunk_result(
    job_id: int, attempt: int | None, stream: str, offset: int, data: bytes, done: bool, size: int
) -> dict[str, Any]:
    """`GET /api/jobs/{id}/logs`: bytes of a stream from `offset`.

    `offset` in the answer is where the next read starts; `size` is the stream's length in bytes as of this
    read (a reader finds the end of a long log from it in one request); `done` once no more can come.
    """
    return {
        "job_id": job_id,
        "attempt": attempt,
        "stream": stream,
        "offset": offset + len(data),
        "data": data.decode("utf-8", "replace"),
        "done": done,
        "size": size,
    }


def wait_result(
    done: bool, pending: Iterable[int], statuses: Mapping[int, str], blocked: Iterable[int] = ()
) -> dict[str, Any]:
    """`POST /api/queue/wait`: `statuses` by job id (JSON object keys are strings); `blocked`: the jobs not waited
    for because they, or a job they run after, await approval (unless the wait includes them)."""
    return {
        "done": done,
        "pending": sorted(pending),
        "statuses": {str(i): s for i, s in sorted(statuses.items())},
        "blocked": sorted(blocked),
    }


def cleanup_result(deleted: int) -> dict[str, Any]:
    """`POST /api/queue/cleanup`; clients return its `deleted`."""
    return {"deleted": deleted}


# -- workflows ------------------------------------------------------------------------------------------------


def workflow_status(jobs: Iterable[tuple[str | None, str | None]]) -> str:
    """A workflow's status from its jobs' (status, reason): never stored, always derived.

    `running` while a job is starting or running; else `waiting` while one is queued (waiting, blocked); once
    every job has ended: `failed` when one failed, went missing or was rejected, else `cancelled` when one was
    cancelled, else `completed` when each completed or was skipped by a condition alone (`condition_not_met`:
    a `failure` edge after a completed parent), else `failed` (skipped by a parent outside the workflow).
    """
    seen: set[str | None] = set()
    unneeded = True
    for status, reason in jobs:
        seen.add(status)
        if status == "skipped" and reason != "condition_not_met":
            unneeded = False
    if seen & ACTIVE_NAMES:
        return "running"
    if seen & QUEUED_NAMES:
        return "waiting"
    if seen & {"failed", "missing", "rejected"}:
        return "failed"
    if "cancelled" in seen:
        return "cancelled"
    return "completed" if unneeded else "failed"


def workflow_summary(workflow: WorkflowRecord, jobs: Sequence[Job]) -> dict[str, Any]:
    """One workflow: its record, its derived `status`, its job count, `counts` by job status and `job_ids`."""
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.status.value] = counts.get(job.status.value, 0) + 1
    status = workflow_status((j.status.value, j.reason.value if j.reason else None) for j in jobs)
    return {
        **workflow.to_dict(),
        "status": status,
        "jobs": len(jobs),
        "counts": dict(sorted(counts.items())),
        "job_ids": [j.id for j in jobs],
    }


def workflows_result(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """`GET /api/workflows`; clients return its `workflows` (each a `workflow_summary`)."""
    return {"workflows": list(summaries)}


def workflow_job(job: Job, level: int | None) -> dict[str, Any]:
    """One job of a workflow's detail: what a graph of it shows, with its edges and their conditions."""
    return {
        "id": job.id,
        "name": job.name,
        "status": job.status.value,
        "reason": job.reason.value if job.reason else None,
        "message": job.message,
        "attempts": job.attempts,
        "timeout": job.timeout,
        "level": level,
        "after": [{"id": p, "when": job.after_when.get(p, "success")} for p in job.after],
    }


def workflow_detail_result(
    summary: dict[str, Any],
    jobs: Sequence[dict[str, Any]],
    levels: Sequence[Sequence[int]],
    critical_path: Sequence[int],
    critical_seconds: float,
) -> dict[str, Any]:
    """`GET /api/workflows/{id}`: the workflow (`workflow_summary`), its jobs (`workflow_job`), the execution
    levels (job ids) and the critical path, its jobs' timeouts as weights."""
    return {
        "workflow": summary,
        "jobs": list(jobs),
        "levels": [list(level) for level in levels],
        "critical_path": {"jobs": list(critical_path), "seconds": critical_seconds},
    }


def workflow_action_result(summary: dict[str, Any], jobs: Sequence[Job]) -> dict[str, Any]:
    """`POST /api/workflows/{id}/cancel|requeue`: the workflow after it, and the jobs it changed (whole)."""
    return {"workflow": summary, "jobs": [j.to_dict() for j in jobs]}


# -- the queue ------------------------------------------------------------------------------------------------

LIMIT_KEYS = (
    "max_concurrent",
    "user_max_concurrent",
    "team_max_concurrent",
    "fair_share",
    "local_gpu_max_concurrent",
    "local_job_max_concurrent",
)
NO_LIMIT_KEYS = frozenset({"local_gpu_max_concurrent", "local_job_max_concurrent"})  # absent or None: no limit


def limits_result(limits: Mapping[str, Any]) -> dict[str, Any]:
    """`GET`/`POST /api/queue/concurrency` and a `limits_changed` event: the queue-wide limits."""
    return {k: limits.get(k) if k in NO_LIMIT_KEYS else limits[k] for k in LIMIT_KEYS}


def stats_result(stats: Mapping[str, Any]) -> dict[str, Any]:
    """`GET /api/queue/stats`: depth, running, the limits, average wait, counts by status and user."""
    return {k: dict(v) if isinstance(v, Mapping) else v for k, v in stats.items()}


def node_record(
    *,
    name: str,
    kind: str,
    cores: int,
    used_cores: int,
    mem_mb: int,
    used_mem_mb: int,
    running: int,
    reachable: bool,
    labels: Mapping[str, str],
    gpu_holders: Mapping[int, int],
    gpus: Sequence[Mapping[str, Any]] = (),
    measured: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One node: capacity, use, reachability, and `gpu_holders`, GPU index (a string: JSON object keys are
    strings) -> the id of the job holding it. `gpu_holders_of` reads it back. `gpus`: every device, as
    `engine.service.devices.node_devices` describes it (name, memory, utilisation, job_id, user). `measured`:
    what the node's last sample says (`engine.service.node_measures`: load, memory, GPU use, a cluster's queue,
    since when and why it is unreachable); None when nothing was sampled."""
    return {
        "name": name,
        "kind": kind,
        "cores": cores,
        "used_cores": used_cores,
        "mem_mb": mem_mb,
        "used_mem_mb": used_mem_mb,
        "running": running,
        "reachable": reachable,
        "labels": dict(labels),
        "gpu_holders": {str(index): job_id for index, job_id in sorted(gpu_holders.items())},
        "gpus": [dict(device) for device in gpus],
        "measured": dict(measured) if measured is not None else None,
    }


def gpu_holders_of(node: Mapping[str, Any]) -> dict[int, int]:
    """A node record's GPU index -> holding job id, with integer indexes again."""
    return {int(index): int(job_id) for index, job_id in (node.get("gpu_holders") or {}).items()}


def nodes_result(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """`GET /api/nodes`; clients return its `nodes`."""
    return {"nodes": nodes}


# What a role may do, as `me()` reports it (engine/service/auth.py decides; the server checks every call again).
CAPABILITIES = (
    "submit",
    "cancel_own",
    "cancel_any",
    "approve",
    "reject",
    "priority",
    "requeue",
    "set_limits",
    "cleanup",
    "issue_tokens",
)


def me_result(
    actor: Actor,
    pending: Sequence[Job],
    running: Sequence[Job],
    blocked_count: int,
    best_position: int | None,
    capabilities: Mapping[str, bool],
) -> dict[str, Any]:
    """`GET /api/queue/me`: who the caller is, their queue, and what their role may do (`CAPABILITIES`)."""
    return {
        "user": actor.user,
        "role": actor.role,
        "team": actor.team,
        "pending_count": len(pending),
        "running_count": len(running),
        "blocked_count": blocked_count,
        "best_position": best_position,
        "pending_jobs": [j.to_dict() for j in pending],
        "running_jobs": [j.to_dict() for j in running],
        "capabilities": {name: bool(capabilities.get(name, False)) for name in CAPABILITIES},
    }


def snapshot_result(
    *,
    instance: str,
    seq: int,
    total: int,
    jobs: Iterable[Job],
    view: str,
    limits: Mapping[str, Any],
    nodes: list[dict[str, Any]],
) -> dict[str, Any]:
    """`GET /api/snapshot`: jobs as full records (`jobs`) or table rows (`columns`, `rows`), the event number
    it is current as of (`seq`), the job count (`total`), the limits and the nodes."""
    data: dict[str, Any] = {"instance": instance, "seq": seq, "total": total}
    if view == "rows":
        data["columns"] = list(ROW_COLUMNS)
        data["rows"] = [table_row(job) for job in jobs]
    elif view == "full":
        data["jobs"] = [job.to_dict() for job in jobs]
    else:
        raise ValidationError(f"unknown snapshot view {view!r}; use full or rows.")
    data["limits"] = limits_result(limits)
    data["nodes"] = nodes
    return data


# -- the event stream -------------------------------------------------------------------------------------------

HELLO = "hello"  # the first frame of `GET /api/events`, unnumbered: {"instance", "seq"}; not an engine event


def hello_frame(instance: str, seq: int) -> bytes:
    """The stream's first frame: which engine answers, and the number of its last event."""
    return b"event: hello\ndata: %s\n\n" % json.dumps({"instance": instance, "seq": seq}).encode()
