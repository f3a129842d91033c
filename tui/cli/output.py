"""Pure formatting for the CLI: field selection with dot notation, tables, JSON.

Tables and `show` are for people: every value goes through `sanitize.visible`, so user text never
reaches the terminal as controls. JSON is exact (it escapes control characters itself).
"""

from __future__ import annotations

import json
import time
from typing import Any

from tui.cli.sanitize import visible

DEFAULT_FIELDS = ["id", "name", "user", "status", "priority", "node", "progress.percent", "attempts", "elapsed"]


def pick(record: dict[str, Any], path: str) -> Any:
    """`progress.percent` -> record["progress"]["percent"]; computed fields: elapsed, wait."""
    if path == "elapsed":
        return elapsed_seconds(record)
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


def table(records: list[dict[str, Any]], fields: list[str]) -> str:
    rows = [[cell(pick(r, f), f) for f in fields] for r in records]
    headers = [visible(f.upper()) for f in fields]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


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
    lines.append(f"  {'resources':<12} cpus={cell(res['cpus'])} mem_mb={cell(res['mem_mb'])} gpus={cell(res['gpus'])}")
    prog = job.get("progress") or {}
    if prog.get("percent") is not None:
        eta = f", ETA {duration(prog['eta_seconds'])}" if prog.get("eta_seconds") is not None else ""
        lines.append(f"  {'progress':<12} {prog['percent']:.1f}% {cell(prog.get('text') or '')}{eta}")
    if detail.get("position"):
        lines.append(f"  {'position':<12} {cell(detail['position'])}")
    if detail["dependencies"]:
        lines.append("  dependencies:")
        lines += [f"    {d['id']} {cell(d['name'] or '')} [{cell(d['status'])}]" for d in detail["dependencies"]]
    if detail["attempts"]:
        lines.append("  attempts:")
        for a in detail["attempts"]:
            outcome = f"exit={cell(a['exit_code'])} {cell(a['reason'] or '')} {cell(a['message'])}"
            lines.append(f"    #{a['number']} on {cell(a['node'])} {outcome}".rstrip())
    lines.append("  history:")
    for e in detail["events"]:
        at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["at"]))
        change = f"{cell(e['from_status'] or '-')} -> {cell(e['to_status'])}"
        lines.append(
            f"    {at}  {cell(e['kind']):<16} {change:<22} by {cell(e['actor'])}  {cell(e['message'])}".rstrip()
        )
    return "\n".join(lines)
