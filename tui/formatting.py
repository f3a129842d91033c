"""Pure formatting for the TUI: job rows, durations, progress, panels. No Textual import here.

Everything takes plain data (a `JobRow`, engine.wire's compact job row, or the client's JSON dicts) and a
`now` time, so it can be tested without a terminal and rendered deterministically in snapshots.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.models import ACTIVE_NAMES
from engine.wire import JobRow
from tui.watch_text import abaqus_text, estimate_text, flag_marks, flags_text

# Lifecycle order: sorting by status groups jobs the way they move through the queue.
STATUS_ORDER = (
    "running",
    "starting",
    "blocked",
    "waiting",
    "failed",
    "missing",
    "completed",
    "cancelled",
    "skipped",
    "rejected",
)
STATUS_RANK = {name: rank for rank, name in enumerate(STATUS_ORDER)}

# A glyph per status, so the state reads the same in 16 colours, in monochrome, and to colour-blind users.
STATUS_GLYPH = {
    "blocked": "◇",
    "waiting": "○",
    "starting": "◔",
    "running": "▶",
    "completed": "✔",
    "failed": "✘",
    "missing": "?",
    "cancelled": "⊘",
    "skipped": "»",
    "rejected": "⊗",
}


# -- durations and progress ----------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    """`42s`, `3m05s`, `2h07m`, `3d04h`; `-` for unknown."""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


NOT_RUN_YET = frozenset({"waiting", "blocked"})  # a requeued job waits again: its old run's time is no elapsed time


def elapsed(row: JobRow, now: float, since: float | None = None) -> float | None:
    """How long the job's current attempt has run (or ran): from `since`, when the attempt started, where
    known; `started_at` is its first attempt's start."""
    start = since if since is not None else row.started_at
    if start is None or row.status in NOT_RUN_YET:
        return None
    return max(0.0, (row.finished_at or now) - start)


def percent_of(row: JobRow) -> float | None:
    if row.percent is not None:
        return row.percent
    if row.step is not None and row.total:
        return 100.0 * row.step / row.total
    if row.status == "completed":
        return 100.0
    return None


def progress_bar(percent: float | None, width: int) -> str:
    """`███▌░░░  45%` in `width` cells; blank when there is no progress to show."""
    if percent is None or width < 5:
        return "" if percent is None else f"{percent:3.0f}%"[:width]
    bar_width = width - 5
    filled = max(0.0, min(1.0, percent / 100.0)) * bar_width
    full = int(filled)
    half = "▌" if filled - full >= 0.5 and full < bar_width else ""
    bar = "█" * full + half
    return f"{bar}{'░' * (bar_width - len(bar))} {percent:3.0f}%"


# -- table columns --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str
    width: int
    keep: int  # columns with a lower `keep` are dropped first when the terminal is narrow
    right: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("mark", " ", 1, 9),
    Column("id", "ID", 7, 9, right=True),
    Column("name", "NAME", 12, 9),
    Column("user", "USER", 8, 5),
    Column("status", "STATUS", 11, 9),
    Column("priority", "PRI", 3, 6, right=True),
    Column("node", "NODE", 8, 4),
    Column("progress", "PROGRESS", 14, 8),
    Column("elapsed", "ELAPSED", 7, 7, right=True),
    Column("eta", "ETA", 6, 3, right=True),
    Column("attempts", "TRY", 3, 2, right=True),
    Column("workflow", "WF", 4, 3, right=True),  # the first to go when narrow: the detail pane names it too
)
SORTABLE = tuple(c.key for c in COLUMNS if c.key not in ("mark",))


def layout_columns(width: int, workflows: bool = True) -> list[tuple[Column, int]]:
    """The columns that fit `width` cells (one space between them), with the name column widened; the WF
    column only where a job belongs to a workflow (`workflows`)."""
    chosen = [c for c in COLUMNS if workflows or c.key != "workflow"]
    while sum(c.width + 1 for c in chosen) - 1 > width and len(chosen) > 3:
        chosen.remove(min(chosen, key=lambda c: (c.keep, -COLUMNS.index(c))))
    spare = max(0, width - (sum(c.width + 1 for c in chosen) - 1))
    return [(c, c.width + spare if c.key == "name" else c.width) for c in chosen]


def cell_text(row: JobRow, column: Column, width: int, now: float, since: float | None = None) -> str:
    """The text of one cell, exactly `width` cells wide (the status glyph leads the status cell); `since`:
    when the job's current attempt started, where it is not its first."""
    key = column.key
    if key == "id":
        text = str(row.id)
    elif key == "name":
        text = row.name
    elif key == "user":
        text = row.user
    elif key == "status":
        text = f"{STATUS_GLYPH.get(row.status, '·')}{flag_marks(row.flags, row.status)} {row.status}"
    elif key == "priority":
        text = str(row.priority)
    elif key == "node":
        text = row.node or "-"
    elif key == "progress":
        text = progress_bar(percent_of(row), width)
    elif key == "elapsed":
        took = elapsed(row, now, since)
        text = duration(took) if took is not None else "-"
    elif key == "eta":
        text = duration(row.eta) if row.eta is not None and row.status in ACTIVE_NAMES else "-"
    elif key == "attempts":
        text = str(row.attempts)
    elif key == "workflow":
        text = str(row.workflow_id) if row.workflow_id is not None else "-"
    else:
        text = ""
    return fit(text, width, column.right)


def fit(text: str, width: int, right: bool = False) -> str:
    """Pad or cut `text` to exactly `width` cells (an ellipsis marks a cut)."""
    if len(text) > width:
        return text[: max(0, width - 1)] + "…" if width > 0 else ""
    return text.rjust(width) if right else text.ljust(width)


def header_text(columns: Sequence[tuple[Column, int]], sort_key: str, reverse: bool) -> list[str]:
    arrow = "▼" if reverse else "▲"
    return [fit(f"{c.title}{arrow}" if c.key == sort_key else c.title, w, c.right) for c, w in columns]


def sort_key_for(column: str) -> Callable[[JobRow], Any]:
    """A sort key per column; ties fall back to the job id so the order is total and stable."""
    keys: dict[str, Callable[[JobRow], Any]] = {
        "id": lambda r: r.id,
        "name": lambda r: (r.name.lower(), r.id),
        "user": lambda r: (r.user, r.id),
        "status": lambda r: (STATUS_RANK.get(r.status, 99), r.id),
        "priority": lambda r: (r.priority, r.id),
        "node": lambda r: (r.node or "", r.id),
        "progress": lambda r: (percent_of(r) or -1.0, r.id),
        "elapsed": lambda r: (r.started_at or 0.0, r.id),
        "eta": lambda r: (r.eta if r.eta is not None else float("inf"), r.id),
        "attempts": lambda r: (r.attempts, r.id),
        # grouped by workflow, jobs of none last
        "workflow": lambda r: (r.workflow_id is None, r.workflow_id or 0, r.id),
    }
    return keys.get(column, keys["id"])


def markup_escape(text: str) -> str:
    """Escape `[` so user text is never read as markup."""
    return text.replace("\\", "\\\\").replace("[", "\\[")


def join_nonempty(parts: Iterable[str], sep: str = "  ") -> str:
    return sep.join(p for p in parts if p)


# -- detail, panels and stats (markup strings for Static widgets) ------------------------------------------


def _or_dash(value: Any) -> str:
    return "-" if value is None else str(value)


def _clock(ts: float | None, now: float) -> str:
    if ts is None:
        return "-"
    return f"{duration(now - ts)} ago"


def detail_text(job: dict[str, Any], detail: dict[str, Any] | None, now: float) -> str:
    """Every field of a job, then its failure, dependencies, attempts and events (newest last)."""
    e = markup_escape
    res = job.get("resources") or {}
    prog = job.get("progress") or {}
    lines = [
        f"[b]#{job['id']} {e(job.get('name') or '')}[/b]  {STATUS_GLYPH.get(job['status'], '')} {job['status']}",
        f"[b]command[/b]   {e(' '.join(map(str, job.get('command') or [])))}",
        f"[b]user[/b]      {e(job.get('user') or '')}  team {e(job.get('team') or '-')}  "
        f"priority {job.get('priority')}{' (override)' if job.get('priority_override') else ''}",
        f"[b]node[/b]      {e(job.get('node') or '-')}  request {e(job.get('node_request') or '-')}  "
        f"workdir {e(job.get('workdir') or '-')}",
        f"[b]resources[/b] cpus {res.get('cpus')}  mem {res.get('mem_mb')} MB  gpus {res.get('gpus')}  "
        f"licences {e(str(res.get('licenses') or '-'))}",
        f"[b]progress[/b]  {progress_summary(prog)}",
        f"[b]times[/b]     created {_clock(job.get('created_at'), now)}  started {_clock(job.get('started_at'), now)}"
        f"  finished {_clock(job.get('finished_at'), now)}",
        f"[b]attempts[/b]  {job.get('attempts', 0)}  exit {_or_dash(job.get('exit_code'))}"
        f"  tags {e(', '.join(job.get('tags') or []) or '-')}"
        f"  approval {'yes' if job.get('requires_approval') else 'no'}",
    ]
    if job.get("workflow_id") is not None:
        lines.append(f"[b]workflow[/b]  #{markup_escape(str(job['workflow_id']))}")
    if job.get("reason") or job.get("message"):
        lines.append(f"[b]reason[/b]    {e(job.get('reason') or '-')}: {e(job.get('message') or '')}")
    for label, text in (("flags", flags_text(prog, now)), ("abaqus", abaqus_text(prog))):
        if text:  # what the engine watches: a flag raised, a solver's own status figures
            lines.append(f"[b]{label:<9}[/b] {e(text)}")
    usage = (job.get("extra") or {}).get("usage")
    if isinstance(usage, dict):  # measured while it runs (CPU time and memory of its processes)
        cpu = f"cpu {usage.get('cpu_seconds', 0):.1f}s" + (
            f" ({usage['cpu_percent']:.0f}%)" if usage.get("cpu_percent") is not None else ""
        )
        rss = f"rss {usage.get('rss_mb', 0):.0f} MiB (peak {usage.get('peak_rss_mb', 0):.0f})"
        lines.append(f"[b]usage[/b]     {cpu}  {rss}")
    success_file = (job.get("extra") or {}).get("success_file")
    if success_file:  # it completes only if it leaves this file in its working directory
        lines.append(f"[b]success[/b]   when {e(str(success_file))} exists after exit 0")
    scheduler = (job.get("extra") or {}).get("scheduler")
    if scheduler:  # a cluster job: the scheduler's own id and state
        scheduler_id, state = e(str(scheduler.get("id") or "-")), e(str(scheduler.get("state")))
        lines.append(f"[b]scheduler[/b] job {scheduler_id}  state {state}")
    if detail is None:
        lines.append("[dim]loading history…[/dim]")
        return "\n".join(lines)
    if detail.get("position") is not None:
        lines.append(f"[b]queue[/b]     position {detail['position']}")
    if detail.get("estimate"):
        lines.append(f"[b]estimate[/b]  {e(estimate_text(detail['estimate']))}")
    waiting = (detail.get("job") or {}).get("waiting")
    if waiting:  # why it waits now, and when it may start (the engine's `core.waiting`)
        start = waiting.get("estimated_start")
        when = "unknown" if start is None else f"in {duration(max(0.0, start - now))}"
        code, text = e(waiting.get("code") or ""), e(waiting.get("text") or "")
        lines.append(f"[b]waiting[/b]   {code}: {text}  may start {when}")
    return "\n".join(lines + _dependency_lines(detail) + _attempt_lines(detail, now) + _event_lines(detail, now))


def progress_summary(prog: dict[str, Any]) -> str:
    parts = []
    if prog.get("percent") is not None:
        parts.append(f"{prog['percent']:.0f}%")
    if prog.get("step") is not None:
        parts.append(f"step {prog['step']}/{prog.get('total') or '?'}")
    if prog.get("eta_seconds") is not None:
        parts.append(f"eta {duration(prog['eta_seconds'])}")
    if prog.get("text"):
        parts.append(markup_escape(prog["text"]))
    if prog.get("overrun") is not None:
        parts.append("[b]OVERRUN[/b]")
    if prog.get("stalled_since") is not None:
        parts.append("[b]STALLED[/b]")
    return "  ".join(parts) or "-"


def _dependency_lines(detail: dict[str, Any]) -> list[str]:
    deps = detail.get("dependencies") or []
    if not deps:
        return []
    items = [
        f"#{d['id']} {markup_escape(d.get('name') or '?')} {STATUS_GLYPH.get(d['status'], '')} {d['status']}"
        for d in deps
    ]
    return ["[b]after[/b]     " + ", ".join(items)]


def _attempt_lines(detail: dict[str, Any], now: float) -> list[str]:
    out = []
    for a in detail.get("attempts") or []:
        ran = duration((a.get("finished_at") or now) - a["started_at"]) if a.get("started_at") else "-"
        why = f" {markup_escape(a.get('reason') or '')} {markup_escape(a.get('message') or '')}".rstrip()
        exit_code = a.get("exit_code") if a.get("exit_code") is not None else "-"
        used = ""
        if isinstance(cpu := a.get("cpu_seconds"), int | float):
            used += f" cpu {cpu:.2f}s"
        if isinstance(peak := a.get("peak_memory_bytes"), int | float):
            used += f" peak {peak / (1 << 20):.1f} MiB"
        out.append(f"  #{a['number']} {a.get('node')} {a.get('status')} exit {exit_code} ran {ran}{used}{why}")
    return ["[b]attempt history[/b]", *out] if out else []


def _event_lines(detail: dict[str, Any], now: float) -> list[str]:
    out = []
    for ev in (detail.get("events") or [])[-50:]:
        move = f"{ev.get('from_status') or ''}→{ev.get('to_status')}" if ev.get("to_status") else ""
        out.append(
            f"  {_clock(ev.get('at'), now):>9}  {markup_escape(ev.get('actor') or '')} {ev.get('kind')} {move}"
            f" {markup_escape(ev.get('message') or '')}".rstrip()
        )
    return ["[b]events[/b]", *out] if out else []


def nodes_text(nodes: Sequence[dict[str, Any]]) -> str:
    """One block per node: cores and memory in use, running jobs, reachability."""
    if not nodes:
        return "[dim]no nodes configured[/dim]"
    lines = []
    for n in nodes:
        state = "" if n.get("reachable", True) else " [b]unreachable[/b]"
        mem = f"{(n.get('used_mem_mb') or 0) / 1024:.1f}/{(n.get('mem_mb') or 0) / 1024:.1f}G"
        lines.append(f"[b]{markup_escape(n['name'])}[/b] {n.get('kind', '')}{state}")
        lines.append(f" cpu {n.get('used_cores', 0)}/{n.get('cores', 0)}  mem {mem}  jobs {n.get('running', 0)}")
        lines += measured_lines(n.get("measured"))
    return "\n".join(lines)


def measured_lines(measured: dict[str, Any] | None) -> list[str]:
    """What the node's last sample says, under what jobtui reserved: load, memory in use, GPU utilisation, a
    cluster's queue, and since when and why it is unreachable."""
    if not measured:
        return []
    parts = []
    if measured.get("load1") is not None:
        parts.append(f"load {measured['load1']:.2f}")
    if measured.get("memory_mb"):
        parts.append(f"mem {measured.get('memory_used_mb', 0) / 1024:.1f}/{measured['memory_mb'] / 1024:.1f}G")
    if measured.get("gpu_utilization_pct") is not None:
        parts.append(f"gpu {measured['gpu_utilization_pct']:.0f}%")
    lines = [f" [dim]measured[/dim] {'  '.join(parts)}"] if parts else []
    queue = measured.get("queue")
    if queue:
        lines.append(f" queue {queue.get('running', 0)} running, {queue.get('pending', 0)} pending")
    if measured.get("unreachable_since") is not None:
        since = time.strftime("%H:%M:%S", time.localtime(measured["unreachable_since"]))
        reason = markup_escape(str(measured.get("unreachable_reason") or "no answer"))
        lines.append(f" [b]down since {since}[/b]: {reason}")
    return lines


def gpus_text(nodes: Sequence[dict[str, Any]] | None) -> str:
    """Per node with GPUs, per device: name, memory, utilisation and the job and user holding it, as the engine
    reports them (each node record's `gpus`); an honest line where no node has any."""
    if nodes is None:
        return "[dim]asking the engine for GPUs…[/dim]"
    lines = []
    for n in nodes:
        devices = n.get("gpus") or []
        if not devices:
            continue
        state = "" if n.get("reachable", True) else " [b]unreachable[/b]"
        lines.append(f"[b]{markup_escape(n['name'])}[/b]{state}")
        for g in devices:
            name = markup_escape(g.get("name") or "GPU")[:22]
            total, used, util = g.get("memory_total_mb"), g.get("memory_used_mb"), g.get("utilization_pct")
            memory = f"{used or 0}/{total} MB" if total is not None else "memory ?"
            load = f"{util:3d}%" if util is not None else "   ?"
            held = f"job {g['job_id']} {markup_escape(g.get('user') or '')}".rstrip() if g.get("job_id") else "free"
            lines.append(f" {g['index']} {name}")
            lines.append(f"   {memory} {load}  {held}")
    return "\n".join(lines) if lines else "[dim]no GPUs on any node[/dim]"


def stats_text(counts: dict[str, int], limits: dict[str, Any], avg_wait: float | None, shown: int, total: int) -> str:
    """The queue line: queued, running, max concurrent, average wait, and how many jobs the filter shows."""
    queued = counts.get("waiting", 0) + counts.get("blocked", 0)
    running = counts.get("running", 0) + counts.get("starting", 0)
    failed = counts.get("failed", 0)
    limit = limits.get("max_concurrent", "-")
    view = f"{shown}/{total} shown" if shown != total else f"{total} jobs"
    return (
        f"queued [b]{queued}[/b]  running [b]{running}[/b]/{limit}  failed [b]{failed}[/b]  "
        f"avg wait [b]{duration(avg_wait)}[/b]  {view}"
    )
