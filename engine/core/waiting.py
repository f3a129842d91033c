"""Why a queued job waits, and when it may start: `{"code", "text", "estimated_start"}` for each waiting or
blocked job (`list`'s REASON column, `show`, `position`, the TUI's job detail, the API).

Cost: nothing per queued job at each pass. A job's reason is worked out when it is read, from what the engine
holds now (its dependencies, back-off, approval; the ledger's slots, licences and nodes, through
`scheduling.blocking`, the code a dry run uses too), so it is always current. The scheduler's share of the
upkeep is `ScanNotes`: each pass notes the jobs it looked at and could not place (at most its scan limit, so
O(changed jobs), never O(queue)); `show` says when the scheduler last looked at a job.

The estimated start comes from the running jobs' expected ends: start plus timeout, else plus the median run
time of earlier jobs with the same name, tags or command (`core.estimates`); a job that can take the k-th slot to
free up is estimated at the k-th expected end. None where nothing tells.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.models import Attempt, Job, JobStatus, Reason
from engine.scheduling.blocking import held_by_limits, no_room
from engine.scheduling.plan import NodeState, Policy, Usage, placement

MAX_SCAN_NOTES = 100_000  # jobs remembered as looked at (the oldest notes go first)


class ScanNotes:
    """The scheduler's notes: which queued jobs each pass looked at and could not place, and when."""

    def __init__(self) -> None:
        self.looked_at: dict[int, float] = {}
        self.last_pass = 0  # jobs noted by the last pass that noted any
        self.passes = 0

    def note(self, job_ids: list[int], now: float) -> None:
        self.passes += 1
        if not job_ids:
            return
        self.last_pass = len(job_ids)
        for job_id in job_ids:
            self.looked_at.pop(job_id, None)
            self.looked_at[job_id] = now  # re-inserted: the dict stays in the order jobs were last looked at
        while len(self.looked_at) > MAX_SCAN_NOTES:
            del self.looked_at[next(iter(self.looked_at))]

    def forget(self, job_id: int) -> None:
        self.looked_at.pop(job_id, None)


Typical = Callable[[Job], float | None]  # a job's typical run time from the history (`core.estimates`), if known


def expected_end(job: Job, attempt: Attempt, typical: Typical, now: float) -> float | None:
    """When a running attempt is expected to end: its timeout, else its typical run time."""
    began = attempt.running_since or attempt.started_at or now
    length = job.timeout or typical(job)
    return None if length is None else max(began + length, now)


@dataclass(slots=True)
class WaitContext:
    """What every reason read needs, gathered once for a whole listing."""

    find: Callable[[int], Job | None]
    usage: Usage
    policy: Policy
    nodes: list[NodeState]
    ends: dict[int, float | None]  # running job id -> its expected end
    users: dict[int, str]  # running job id -> its user
    now: float
    sorted_ends: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.sorted_ends = sorted(e for e in self.ends.values() if e is not None)


def wait_context(
    find: Callable[[int], Job | None],
    usage: Usage,
    policy: Policy,
    nodes: list[NodeState],
    running: Iterable[tuple[Job, Attempt]],
    typical: Typical,
    now: float,
) -> WaitContext:
    ends, users = {}, {}
    for job, attempt in running:
        ends[job.id] = expected_end(job, attempt, typical, now)
        users[job.id] = job.user
    return WaitContext(find, usage, policy, nodes, ends, users, now)


def waiting_reason(job: Job, ctx: WaitContext, queued: bool, position: int | None) -> dict[str, Any] | None:
    """Why `job` waits (code, text) and its estimated start (epoch seconds or None); None unless it is queued.

    `queued`: it is in the ready queue; `position`: its place there, when worked out (a listing leaves it out:
    it costs O(users)); the estimate then counts from the first slot to free up.
    """
    now = ctx.now
    if job.status == JobStatus.BLOCKED:
        rule = job.extra.get("approval_rule")
        text = job.message or "awaiting approval"
        if rule and rule not in text:
            text += f" (rule {rule})"
        return _reason("approval", text, None)
    if job.status != JobStatus.WAITING:
        return None
    parents = [(p, ctx.find(p)) for p in job.after]
    pending = [(p, parent) for p, parent in parents if parent is not None and not parent.is_terminal]
    if pending:
        names = ", ".join(f"{p} ({parent.status.value})" for p, parent in pending)
        known = [ctx.ends.get(p) for p, _ in pending]
        start = max(e for e in known if e is not None) if all(e is not None for e in known) else None
        return _reason("dependency", f"waits for job(s) {names}", start)
    if not queued and job.reason == Reason.WAITING_FOR_FILES:  # held until its wait_for_files exist (file_waits)
        return _reason("waiting_for_files", job.message, None)
    if not queued:
        if job.not_before is not None and job.not_before > now:
            return _reason("backoff", f"retry back-off until {_clock(job.not_before)}", job.not_before)
        return _reason("next_pass", "queued; the scheduler takes it at its next pass", now)
    blocking = held_by_limits(job, ctx.usage, ctx.policy)
    if blocking is None and placement(job, ctx.nodes, ctx.usage, ctx.policy) is None:
        blocking = no_room(job, ctx.nodes, ctx.usage, ctx.policy)
    k = position or 1
    if blocking is None:
        if position == 1:
            return _reason("next_pass", "first in the queue; it starts at the scheduler's next pass", now)
        ahead = f"{position - 1} job(s)" if position else "other jobs"
        return _reason("priority", f"{ahead} ahead of it in the queue", _kth(ctx.sorted_ends, k))
    code, text = blocking
    if code == "user_limit":
        mine = sorted(e for i, e in ctx.ends.items() if e is not None and ctx.users.get(i) == job.user)
        return _reason(code, text, _kth(mine, 1))
    return _reason(code, text, _kth(ctx.sorted_ends, k))


def _kth(known: list[float], k: int) -> float | None:
    """The k-th of the sorted expected ends, or None (fewer are known)."""
    return known[k - 1] if 0 < k <= len(known) else None


def _reason(code: str, text: str, start: float | None) -> dict[str, Any]:
    return {"code": code, "text": text, "estimated_start": start}


def _clock(at: float) -> str:
    import time

    return time.strftime("%H:%M:%S", time.localtime(at))
