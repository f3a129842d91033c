"""A job's failure report (`y`): the text a user pastes into a chat to ask why a job failed.

Plain text, no markup: what ran (the command, quoted as a shell would take it), where, who, how it ended
and why, then the last lines of its standard error in a fenced block.
"""

from __future__ import annotations

import shlex
import time
from typing import Any

from engine.api.client import EngineClient
from tui.screens.log_feed import LogFeed

REPORT_LINES = 50  # of standard error


async def fetch_report(client: EngineClient, job_id: int) -> str:
    """The report of `job_id`, from its detail and the tail of its standard error."""
    detail = await client.job(job_id)
    stderr = await LogFeed(client, job_id, "stderr").first()
    return report_text(detail["job"], detail.get("attempts") or [], stderr)


def report_text(job: dict[str, Any], attempts: list[dict[str, Any]], stderr: str, lines: int = REPORT_LINES) -> str:
    """The report: the job's identity and outcome, then the last `lines` lines of `stderr`."""
    last = max(attempts, key=lambda a: a.get("number") or 0, default={})
    status = job.get("status") or "?"
    reason = job.get("reason") or last.get("reason")
    message = job.get("message") or last.get("message") or ""
    exit_code = job.get("exit_code") if job.get("exit_code") is not None else last.get("exit_code")
    text = [
        f"jobtui job #{job['id']} {job.get('name') or ''}: {status}",
        f"command:  {shlex.join(str(part) for part in job.get('command') or [])}",
        f"node:     {job.get('node') or last.get('node') or '-'}",
        f"user:     {job.get('user') or '-'}",
        f"attempt:  {job.get('attempts', 0)}, exit code {'-' if exit_code is None else exit_code}",
        f"reason:   {reason or '-'}{f': {message}' if message else ''}",
    ]
    if job.get("finished_at"):
        text.append(f"ended:    {_utc(job['finished_at'])}")
    tail = stderr.rstrip("\n").split("\n")[-lines:] if stderr.strip() else []
    if tail:
        text += ["", f"last {len(tail)} line(s) of stderr:", "```", *tail, "```"]
    else:
        text += ["", "stderr: (empty)"]
    return "\n".join(text) + "\n"


def _utc(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))
