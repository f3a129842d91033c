"""Pure text for what the engine watches on a running job: its flags (`overrun`, `stalled`), its run-time
estimate from history, and the figures an Abaqus status file gave. Shared by the TUI's job detail and
`jobtui show`; plain text (the caller escapes markup)."""

from __future__ import annotations

from typing import Any


def _duration(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


# The marks of a running job's flags, after its status (the table's STATUS cell, `jobtui list`)
FLAG_MARKS = {"overrun": "!", "stalled": "⏸"}


def flag_marks(flags: str, status: str) -> str:
    """`!` past its estimate, `⏸` stalled, `!⏸` both: a job row's `flags` while it runs; empty otherwise."""
    if not flags or status not in ("running", "starting"):
        return ""
    return "".join(FLAG_MARKS.get(word, "") for word in flags.split())


def flags_text(progress: dict[str, Any], now: float) -> str:
    """`OVERRUN  STALLED 5m00s` for a flagged job; empty when it has no flag."""
    parts = []
    if progress.get("overrun") is not None:
        parts.append("OVERRUN (past its estimate)")
    if progress.get("stalled_since") is not None:
        parts.append(f"STALLED {_duration(now - progress['stalled_since'])} without output or progress")
    return "  ".join(parts)


def estimate_text(estimate: dict[str, Any] | None) -> str:
    """`~12m00s ±1m05s, median of 7 completed runs with the same name (beam)`; empty without an estimate."""
    if not estimate:
        return ""
    key = str(estimate.get("key") or "")
    shown = f" ({key[:60]})" if key else ""
    return (
        f"~{_duration(estimate['seconds'])} ±{_duration(estimate.get('spread') or 0)}, median of "
        f"{estimate.get('runs')} completed runs with the same {estimate.get('basis')}{shown}"
    )


def abaqus_text(progress: dict[str, Any]) -> str:
    """An Abaqus job's figures: step and total percent, increment size, cutbacks, messages; empty otherwise."""
    detail = progress.get("detail") or {}
    if detail.get("source") != "abaqus":
        return ""
    parts = [f"abaqus/{detail.get('solver') or '?'}"]
    if detail.get("step") is not None:
        parts.append(f"step {detail['step']}" + (f" of {detail['steps']}" if detail.get("steps") else ""))
    if detail.get("increment") is not None:
        parts.append(f"increment {detail['increment']}")
    if detail.get("step_percent") is not None:
        parts.append(f"{detail['step_percent']:.1f}% of the step")
    if detail.get("total_percent") is not None:
        parts.append(f"{detail['total_percent']:.1f}% of the total")
    if detail.get("increment_size") is not None:
        parts.append(f"increment size {detail['increment_size']:.4g}")
    if detail.get("cutbacks"):
        parts.append(f"{detail['cutbacks']} cutback(s)")
    parts.append(f"{detail.get('warnings', 0)} warning(s), {detail.get('errors', 0)} error(s) in .msg")
    return ", ".join(parts)
