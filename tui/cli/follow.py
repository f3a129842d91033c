"""Headless follow: submit a file of jobs and print their progress until every one has ended."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from engine.config import Config
from engine.events import JobChanged, Resync
from engine.models import TERMINAL_NAMES
from tui.cli.output import as_json, duration, table
from tui.cli.sanitize import say, visible
from tui.context import host_or_attach

PRINT_INTERVAL = 1.0


def progress_line(job: dict[str, Any]) -> str:
    prog = job.get("progress") or {}
    pct = f"{prog['percent']:5.1f}%" if prog.get("percent") is not None else "     -"
    eta = f" ETA {duration(prog['eta_seconds'])}" if prog.get("eta_seconds") else ""
    text = f" {visible(prog['text'])}" if prog.get("text") else ""
    tail = (
        f" ({visible(job['message'])})" if job.get("message") and job["status"] in TERMINAL_NAMES | {"waiting"} else ""
    )
    head = (
        f"[{time.strftime('%H:%M:%S')}] job {job['id']:>4} {visible(job['name'])[:24]:<24} {visible(job['status']):<10}"
    )
    return f"{head}{pct}{eta}{text}{tail}"


async def run_and_follow(
    config: Config, state_dir: Path, specs: list[dict[str, Any]], as_json_output: bool, token: str | None = None
) -> int:
    client, host = await host_or_attach(config, state_dir, token)
    try:
        since = (await client.snapshot(limit=0))["seq"]  # only its event number: the jobs are ours to submit
        submitted = await client.submit(specs)
        jobs = {j["id"]: j for j in submitted}
        printed: dict[int, tuple[str, float]] = {}
        for job in submitted:
            _maybe_print(job, printed, as_json_output)
        while not all(j["status"] in TERMINAL_NAMES for j in jobs.values()):
            async for event in client.events(since):
                since = event.seq
                if isinstance(event, Resync):  # events were missed: read our jobs again, follow from now
                    since = (await client.snapshot(limit=0))["seq"]
                    for job_id in jobs:
                        jobs[job_id] = (await client.job(job_id))["job"]
                        _maybe_print(jobs[job_id], printed, as_json_output)
                    break
                if isinstance(event, JobChanged) and event.key in jobs:
                    jobs[event.record["id"]] = event.record
                    _maybe_print(event.record, printed, as_json_output)
                    if all(j["status"] in TERMINAL_NAMES for j in jobs.values()):
                        break
        final = sorted(jobs.values(), key=lambda j: j["id"])
        if as_json_output:
            print(as_json(final))
        else:
            say()
            say(table(final, ["id", "name", "status", "attempts", "exit_code", "elapsed", "message"]))
        return 0 if all(j["status"] == "completed" for j in final) else 1
    finally:
        await client.close()
        if host is not None:
            await host.stop()


def _maybe_print(job: dict[str, Any], printed: dict[int, tuple[str, float]], quiet: bool) -> None:
    if quiet:
        return
    status, at = printed.get(job["id"], ("", 0.0))
    now = time.monotonic()
    if job["status"] != status or now - at >= PRINT_INTERVAL:
        printed[job["id"]] = (job["status"], now)
        say(progress_line(job))
        sys.stdout.flush()
