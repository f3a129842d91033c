"""Formatting for the CLI: field selection with dot notation, tables, JSON (pure, but for a table's
default width: the terminal's, where stdout is one).

Tables and `show` are for people: every value goes through `sanitize.visible`, so user text never
reaches the terminal as controls. JSON is exact (it escapes control characters itself).
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from engine.wire import watch_flags
from tui.cli.sanitize import visible
from tui.cli.terminal import paint, table_width
from tui.watch_text import abaqus_text, estimate_text, flag_marks, flags_text

MIN_CUT = 10  # a column this narrow or narrower is never cut to fit the terminal
DEFAULT_FIELDS = [
    "id", "name", "user", "status", "reason", "priority", "node", "progress.percent", "attempts", "elapsed",
]  # fmt: skip


def pick(record: dict[str, Any], path: str) -> Any:
    """`progress.percent` -> record["progress"]["percent"]; computed fields: elapsed, wait. `reason` of a queued
    job is why it waits now (`waiting.code`, as Slurm's REASON column), of any other job why it ended so."""
    if path == "elapsed":
        return elapsed_seconds(record)
    if path == "reason" and record.get("waiting"):
        return record["waiting"]["code"]
    value: Any = record
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def elapsed_seconds(job: dict[str, Any], now: float | None = None) -> float | None:
    start = job.get("started_at")
    if start is None:
        return None
    end = job.get("finished_at") or (now if now is not None else time.time())
    return max(0.0, end - start)


def project(records: list[dict[str, Any]], fields: list[str]) -> list[dict[str, Any]]:
    return [{f: pick(r, f) for f in fields} for r in records]


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False, default=str)


def cell(value: Any, field: str = "") -> str:
    """One value as the text of a table cell or a `show` line, terminal controls made visible."""
    if value is None:
        return "-"
    if field in ("elapsed", "eta", "progress.eta_seconds") and isinstance(value, (int, float)):
        return duration(value)
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, list):
        return " ".join(visible(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{visible(k)}={visible(v)}" for k, v in value.items())
    return visible(value)


def table(
    records: list[dict[str, Any]],
    fields: list[str],
    width: int | Literal["terminal"] | None = "terminal",
    colour: bool = False,
) -> str:
    """Aligned columns under upper-case headers. With a `width` (by default the terminal's, where stdout is
    one: `terminal.table_width`), the widest columns (a command, a name) are cut, with an ellipsis, until a
    row fits; None keeps every column whole. With `colour`, a status column is painted."""
    rows = [[cell(pick(r, f), f) + (status_marks(r) if f == "status" else "") for f in fields] for r in records]
    headers = [visible(f.upper()) for f in fields]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]
    if width == "terminal":
        width = table_width()
    if width is not None:
        widths = fit_widths(widths, headers, width)
    painted = {i for i, f in enumerate(fields) if f == "status"} if colour else set()

    def line(values: list[str]) -> str:
        parts = []
        for i, (value, w) in enumerate(zip(values, widths, strict=True)):
            text = clip(value, w).ljust(w)
            parts.append(paint(text, value.split(" ", 1)[0], True) if i in painted else text)
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *map(line, rows)])


def status_marks(record: dict[str, Any]) -> str:
    """` !` (past its estimate), ` ⏸` (stalled), ` !⏸`: a running job's flags after its status; empty otherwise."""
    progress = record.get("progress") or {}
    flags = watch_flags(progress.get("overrun"), progress.get("stalled_since"))
    marks = flag_marks(flags, str(record.get("status")))
    return f" {marks}" if marks else ""


def fit_widths(widths: list[int], headers: list[str], width: int) -> list[int]:
    """Column widths that fit `width` (two spaces between columns), taken from the widest columns first;
    a short column (10 or fewer) is never cut, nor any below its header or 10 characters."""
    widths = list(widths)
    floors = [w if w <= MIN_CUT else max(len(h), MIN_CUT) for w, h in zip(widths, headers, strict=True)]
    excess = sum(widths) + 2 * (len(widths) - 1) - width
    while excess > 0:
        i = max(range(len(widths)), key=lambda k: widths[k] - floors[k])
        room = widths[i] - floors[i]
        if room <= 0:
            break
        others = [w for k, w in enumerate(widths) if k != i and w > floors[k]]
        step = max(1, min(excess, room, widths[i] - max(others, default=0)))
        widths[i] -= step
        excess -= step
    return widths


def id_list(ids: list[int], shown: int = 10) -> str:
    """`#3, #4, #9 and 12 more`: job ids for a sentence."""
    text = ", ".join(f"#{i}" for i in ids[:shown]) or "none"
    return text + (f" and {len(ids) - shown} more" if len(ids) > shown else "")


def clip(text: str, width: int) -> str:
    """`text` cut to `width` characters, its last one an ellipsis where something was cut."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def usage_text(usage: dict[str, Any]) -> str:
    """A job's measured use: `cpu 12.5s (98%)  rss 210 MiB (peak 250)`."""
    cpu = f"cpu {cell(usage.get('cpu_seconds'))}s"
    if usage.get("cpu_percent") is not None:
        cpu += f" ({cell(usage['cpu_percent'])}%)"
    return f"{cpu}  rss {cell(usage.get('rss_mb'))} MiB (peak {cell(usage.get('peak_rss_mb'))})"


def attempt_usage(attempt: dict[str, Any]) -> str:
    """What an ended attempt used: `cpu 12.5s, peak memory 250.0 MiB` (`-` where it is unknown)."""
    cpu, peak = attempt.get("cpu_seconds"), attempt.get("peak_memory_bytes")
    cpu_text = f"{cpu:.2f}s" if isinstance(cpu, int | float) else "-"
    peak_text = f"{peak / (1 << 20):.1f} MiB" if isinstance(peak, int | float) else "-"
    return f"cpu {cpu_text}, peak memory {peak_text}"


def waiting_lines(waiting: dict[str, Any] | None) -> list[str]:
    """`show`'s lines of why a queued job waits, and when it may start."""
    if not waiting:
        return []
    lines = [f"  {'waiting':<12} {cell(waiting['code'])}: {cell(waiting['text'])}"]
    start = waiting.get("estimated_start")
    when = "unknown (no running job's end is known)" if start is None else estimated(start)
    lines.append(f"  {'may start':<12} {when}")
    return lines


def estimated(at: float, now: float | None = None) -> str:
    """`14:05:10 (in 3m20s)`: a time to come, and how long until then."""
    now = time.time() if now is None else now
    clock = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
    return f"{clock} (now)" if at <= now + 1 else f"{clock} (in {duration(at - now)})"


def describe_job(detail: dict[str, Any]) -> str:
    """`jobtui show`: every field, dependencies, attempts and history as readable text."""
    job = detail["job"]
    lines = [f"Job {job['id']}: {cell(job['name'])}  [{cell(job['status'])}]"]
    for key in ("user", "team", "priority", "node", "command", "workdir", "attempts", "exit_code", "reason", "message"):
        value = job.get(key)
        if value not in (None, "", []):
            lines.append(f"  {key:<12} {cell(value)}")
    scheduler = (job.get("extra") or {}).get("scheduler")
    if scheduler:  # a cluster job: the scheduler's own id and state
        lines.append(
            f"  {'scheduler':<12} job {cell(scheduler.get('id') or '-')}, state {cell(scheduler.get('state'))}"
        )
    res = job["resources"]
    devices = f" gpu_ids={','.join(map(str, res['gpu_ids']))}" if res.get("gpu_ids") else ""
    lines.append(
        f"  {'resources':<12} cpus={cell(res['cpus'])} mem_mb={cell(res['mem_mb'])} gpus={cell(res['gpus'])}{devices}"
    )
    usage = (job.get("extra") or {}).get("usage")
    if isinstance(usage, dict):  # measured while it runs: CPU time and memory of its processes
        lines.append(f"  {'usage':<12} {usage_text(usage)}")
    prog = job.get("progress") or {}
    if prog.get("percent") is not None:
        eta = f", ETA {duration(prog['eta_seconds'])}" if prog.get("eta_seconds") is not None else ""
        lines.append(f"  {'progress':<12} {prog['percent']:.1f}% {cell(prog.get('text') or '')}{eta}")
    for label, text in (
        ("flags", flags_text(prog, time.time())),
        ("abaqus", abaqus_text(prog)),
        ("estimate", estimate_text(detail.get("estimate"))),
    ):
        if text:  # what the engine watches: a flag raised, a solver's figures, the run time history expects
            lines.append(f"  {label:<12} {cell(text)}")
    if detail.get("position"):
        lines.append(f"  {'position':<12} {cell(detail['position'])}")
    lines += waiting_lines(job.get("waiting"))
    if detail["dependencies"]:
        lines.append("  dependencies:")
        lines += [f"    {d['id']} {cell(d['name'] or '')} [{cell(d['status'])}]" for d in detail["dependencies"]]
    if detail["attempts"]:
        lines.append("  attempts:")
        for a in detail["attempts"]:
            outcome = f"exit={cell(a['exit_code'])} {cell(a['reason'] or '')} {cell(a['message'])}"
            gpus = f" GPUs {','.join(map(str, a['gpus']))}" if a.get("gpus") else ""
            lines.append(f"    #{a['number']} on {cell(a['node'])}{gpus} {outcome}".rstrip())
            if a.get("cpu_seconds") is not None or a.get("peak_memory_bytes") is not None:
                lines.append(f"       used {attempt_usage(a)}")
    lines.append("  history:")
    for e in detail["events"]:
        at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["at"]))
        change = f"{cell(e['from_status'] or '-')} -> {cell(e['to_status'])}"
        lines.append(
            f"    {at}  {cell(e['kind']):<16} {change:<22} by {cell(e['actor'])}  {cell(e['message'])}".rstrip()
        )
    return "\n".join(lines)
