"""Headless follow: submit a file of jobs and print their progress until every one has ended.

`jobtui run` attaches to the engine running on the state directory, or hosts one for as long as its jobs run.
Ctrl-C (SIGINT) never leaves the jobs without an engine, and always exits with 130:

- attached to a running engine: it only stops following; the jobs keep running there;
- hosting the engine: on a terminal it asks, else it does what `--on-interrupt` says (default `detach`):
  `cancel` cancels the unfinished jobs (children first), follows them to their end and prints the result;
  `detach` stops this engine (running jobs keep running under their wrapper) and starts a detached
  `jobtui --serve` on the same state directory, which re-attaches the running jobs and runs the waiting ones.

Either way it says what happened and how to follow further. `-o FILE` is written when every job has ended
(at the end of the run, or after `cancel`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.api.client import EngineClient
from engine.config import Config
from engine.errors import Conflict
from engine.events import JobChanged, Resync
from engine.models import TERMINAL_NAMES
from engine.wire import workflow_status
from tui.cli.output import as_json, duration
from tui.cli.run_options import follow_hint, job_keys, results_document, write_results
from tui.cli.sanitize import say, visible
from tui.cli.tables import print_ids, print_table
from tui.context import host_or_attach, start_daemon

PRINT_INTERVAL = 1.0
CANCEL_WAIT = 60.0  # seconds for cancelled jobs to end before this engine stops anyway
CHOICES = ("cancel", "detach")


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


@dataclass
class RunOptions:
    """What `jobtui run` was asked besides the jobs: see `tui.cli.job_verbs.cmd_run`."""

    source: str = ""  # the file, as named
    workflow: str | None = None  # the workflow's name, when the file is one
    workflow_info: dict[str, Any] | None = None  # the workflow's record for the engine (`JobFile.workflow_info`)
    output: Path | None = None  # -o: the results file
    on_interrupt: str | None = None  # cancel | detach; None: ask on a terminal, else detach
    prefix: str = "jobtui"  # the command that reaches this engine, for hints
    config_path: Path | None = None  # --config, for a detached `jobtui --serve`
    ids_only: bool = False  # -q: no progress, only the ids at the end
    environment: dict[str, str] | None = None  # this shell's, sent with the jobs (None: --clean-env)


@dataclass
class _Run:
    client: EngineClient
    host: Any  # the EngineHost this process runs, or None when attached
    quiet: bool
    since: int = 0
    jobs: dict[int, dict[str, Any]] = field(default_factory=dict)
    printed: dict[int, tuple[str, float]] = field(default_factory=dict)

    @property
    def ended(self) -> bool:
        return all(j["status"] in TERMINAL_NAMES for j in self.jobs.values())

    def unfinished(self) -> list[dict[str, Any]]:
        return [j for j in self.jobs.values() if j["status"] not in TERMINAL_NAMES]

    def show(self, job: dict[str, Any]) -> None:
        if self.quiet:
            return
        status, at = self.printed.get(job["id"], ("", 0.0))
        now = time.monotonic()
        if job["status"] != status or now - at >= PRINT_INTERVAL:
            self.printed[job["id"]] = (job["status"], now)
            say(progress_line(job))
            sys.stdout.flush()

    async def follow(self) -> None:
        """Take the events of our jobs until every one has ended."""
        while not self.ended:
            async for event in self.client.events(self.since):
                self.since = event.seq
                if isinstance(event, Resync):  # events were missed: read our jobs again, follow from now
                    self.since = (await self.client.snapshot(limit=0))["seq"]
                    for job_id in self.jobs:
                        self.jobs[job_id] = (await self.client.job(job_id))["job"]
                        self.show(self.jobs[job_id])
                    break
                if isinstance(event, JobChanged) and event.key in self.jobs:
                    self.jobs[event.record["id"]] = event.record
                    self.show(event.record)
                    if self.ended:
                        break


async def run_and_follow(
    config: Config,
    state_dir: Path,
    specs: list[dict[str, Any]],
    as_json_output: bool,
    token: str | None = None,
    key: str | None = None,
    options: RunOptions | None = None,
) -> int:
    """Submit `specs` (with idempotency `key`) and print their progress until every one has ended."""
    options = options or RunOptions()
    client, host = await host_or_attach(config, state_dir, token)
    run = _Run(client, host, as_json_output or options.ids_only)
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, interrupted.set)
    try:
        run.since = (await client.snapshot(limit=0))["seq"]  # only its event number: the jobs are ours to submit
        submitted = await client.submit(specs, key=key, workflow=options.workflow_info, environment=options.environment)
        run.jobs = {j["id"]: j for j in submitted}
        keys = job_keys(specs, submitted)
        for job in submitted:
            run.show(job)
        if not await _unless(run.follow(), interrupted):
            return await _interrupted(run, state_dir, options, keys, interrupted)
        return _finish(run, options, keys)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        await client.close()
        if run.host is not None:
            await run.host.stop()


async def _unless(work: Coroutine[Any, Any, None], stop: asyncio.Event, timeout: float | None = None) -> bool:
    """Run `work` to its end (True), unless `stop` is set or `timeout` passes first (False: `work` cancelled)."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({task, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if task in done and not stop.is_set():
            task.result()
            return True
        return False
    finally:
        for pending in (task, waiter):
            pending.cancel()
        await asyncio.gather(task, waiter, return_exceptions=True)


def _finish(run: _Run, options: RunOptions, keys: dict[int, str | None]) -> int:
    """The final table (or JSON), and the results file; 0 when every job completed."""
    final = sorted(run.jobs.values(), key=lambda j: j["id"])
    if options.ids_only:
        print_ids(final)
    elif run.quiet:
        print(as_json(final))
    else:
        say()
        print_table(final, ["id", "name", "status", "attempts", "exit_code", "elapsed", "message"])
    if options.output is not None:
        write_results(options.output, results_document(final, keys, options.source, options.workflow))
        say(f"jobtui: wrote the results of {len(final)} job(s) to {options.output}", err=True)
    # a workflow's way: a job skipped only by a condition (a clean-up not needed) is no failure
    return 0 if workflow_status((j["status"], j.get("reason")) for j in final) == "completed" else 1


async def _interrupted(
    run: _Run, state_dir: Path, options: RunOptions, keys: dict[int, str | None], interrupted: asyncio.Event
) -> int:
    """Ctrl-C: stop following (attached), or cancel or detach (hosting); the module's rule. Always 130."""
    ids = sorted(run.jobs)
    hint = follow_hint(options.prefix, ids)
    unfinished = run.unfinished()
    not_written = (
        f" The results are not written to {options.output}: the jobs have not ended (`{options.prefix} --json wait"
        f" ...` prints their end)."
        if options.output is not None
        else ""
    )
    say(err=True)
    if run.host is None:
        say(
            "jobtui: interrupted: stopped following; the jobs keep running in the engine. "
            f"Follow again with {hint}.{not_written}",
            err=True,
        )
        return 130
    if not unfinished:
        _finish(run, options, keys)
        return 130
    choice = options.on_interrupt or (await _ask(unfinished, interrupted) if _interactive() else "detach")
    if choice == "cancel":
        interrupted.clear()  # a second Ctrl-C stops waiting for the cancelled jobs to end
        await _cancel(run, unfinished, interrupted)
        _finish(run, options, keys)
        left = [j for j in run.jobs.values() if j["status"] not in TERMINAL_NAMES]
        still = f" {len(left)} had not ended yet when this engine stopped." if left else ""
        say(
            f"jobtui: interrupted: cancelled {len(unfinished)} unfinished job(s).{still} "
            f"`{options.prefix} list` shows them.",
            err=True,
        )
        return 130
    running = sum(j["status"] in ("starting", "running") for j in unfinished)
    queued = len(unfinished) - running
    await run.client.close()
    host, run.host = run.host, None
    await host.stop()  # running jobs keep running under their wrappers
    pid = await asyncio.to_thread(start_daemon, state_dir, options.config_path)
    log = state_dir / "serve.log"
    if pid is None:
        say(
            f"jobtui: interrupted: could not start `jobtui --serve` on {state_dir} (see {log}). {running} running "
            f"job(s) keep running; {queued} waiting job(s) stay queued until an engine runs: start one with "
            f"`{options.prefix} --serve`, then follow with {hint}.{not_written}",
            err=True,
        )
        return 130
    say(
        f"jobtui: interrupted: detached. `jobtui --serve` (pid {pid}) now runs the jobs on {state_dir} "
        f"(log: {log}): {running} running job(s) keep running, {queued} waiting job(s) run there. "
        f"Follow with {hint}.{not_written}",
        err=True,
    )
    return 130


async def _cancel(run: _Run, unfinished: list[dict[str, Any]], interrupted: asyncio.Event) -> None:
    """Cancel the unfinished jobs, children first (a parent cancelled first would make them `skipped`), and
    follow them to their end (running ones end when their process has), unless interrupted again."""
    for job in sorted(unfinished, key=lambda j: j["id"], reverse=True):
        try:
            run.jobs[job["id"]] = await run.client.cancel(job["id"])
        except Conflict:  # it ended meanwhile
            pass
    await _unless(run.follow(), interrupted, timeout=CANCEL_WAIT)


def _interactive() -> bool:
    try:
        return sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced
        return False


async def _ask(unfinished: list[dict[str, Any]], interrupted: asyncio.Event) -> str:
    """Ask on the terminal whether to cancel or detach; Enter, end of input or a second Ctrl-C: detach."""
    running = sum(j["status"] in ("starting", "running") for j in unfinished)
    prompt = (
        f"jobtui: interrupted. {len(unfinished)} job(s) have not ended ({running} running). [c]ancel them, or "
        "[d]etach: hand them to a background `jobtui --serve`? [D/c] "
    )
    while True:
        sys.stderr.write(prompt)
        sys.stderr.flush()
        interrupted.clear()
        answer = await _read_line(interrupted)
        if answer is None:
            return "detach"
        word = answer.strip().lower()
        if word in ("", "d", "detach"):
            return "detach"
        if word in ("c", "cancel"):
            return "cancel"


async def _read_line(interrupted: asyncio.Event) -> str | None:
    """A line from the terminal on stdin, without blocking the engine; None at its end or on Ctrl-C."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()
    line: asyncio.Future[str] = loop.create_future()

    def readable() -> None:
        if not line.done():
            try:
                line.set_result(os.read(fd, 4096).decode(errors="replace"))
            except OSError as e:
                line.set_exception(e)

    loop.add_reader(fd, readable)
    try:
        waiter: asyncio.Future[Any] = asyncio.ensure_future(interrupted.wait())
        try:
            await asyncio.wait([line, waiter], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if not line.done() or line.exception() is not None:
            return None
        return line.result() or None
    finally:
        loop.remove_reader(fd)
        if not line.done():
            line.cancel()
