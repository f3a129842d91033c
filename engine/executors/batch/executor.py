"""The executor shared by every batch scheduler (Slurm, SGE, PBS); a `Dialect` says how each one talks.

Submission renders the wrapper script (`batch_script`) with the scheduler's directives and a jobtui tag
in the job name, then submits it on stdin. A submission whose id was never recorded is found again by
that tag and never resubmitted. One shared `QueuePoller` lists the queue for all attempts; a job that
left the queue is judged by its exit file, then the scheduler's accounting; one that left no trace
is declared lost only after `lost_grace` seconds. The files waiting jobs wait for (`missing_files`) are looked for
by the same listing command, so they cost no query of their own.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from engine.clock import Clock, SystemClock
from engine.config import ClusterNode
from engine.errors import JobTuiError
from engine.executors.base import LaunchSpec, Liveness, NodeListener, Outcome, Output, no_finished_marker
from engine.executors.batch.poller import QueuePoller, Snapshot
from engine.executors.batch.records import FinishedRecord, QueueEntry, make_tag, slurm_reason
from engine.executors.batch.run_files import LocalFiles, RemoteFiles, RunFiles
from engine.executors.batch.script import ScriptSpec, render_script
from engine.executors.batch.usage_batch import UsageBatch
from engine.executors.file_checks import MISSING_SCRIPT, SEPARATOR, parse_missing, paths_input
from engine.executors.results import HereFiles, ResultFiles, RunnerFiles
from engine.executors.wrapper import EXIT, PID, SUCCESS_ENV, parse_exit_record, success_env
from engine.models import Attempt, Reason
from engine.remote.commands import CommandError, CommandResult, CommandRunner, LocalRunner, run_command

log = logging.getLogger(__name__)
_ACTIVE = "active"
EXIT_READ = 64 + 2 * 4096  # an exit line: the code, and where a missing success file was looked for


class Dialect(Protocol):
    """How one scheduler family is driven: argv to build and output to parse (pure)."""

    kind: str
    directive_prefix: str

    def directives(self, spec: ScriptSpec) -> list[str]: ...

    def submit_argv(self) -> list[str]: ...

    def parse_submit(self, stdout: str) -> str: ...

    def list_argv(self, user: str) -> list[str]: ...

    def parse_list(self, result: CommandResult) -> list[QueueEntry]: ...

    def is_active(self, entry: QueueEntry) -> bool: ...

    def is_running(self, entry: QueueEntry) -> bool:
        """Running on the cluster's nodes (not waiting in its queue)."""
        ...

    def accounting_argv(self, job_id: str | None, tag: str) -> list[str]: ...

    def usage_argv(self, job_ids: list[str], age: float) -> list[str]:
        """One accounting query for several ended jobs (submitted up to `age` seconds ago), read by
        `parse_accounting`."""
        ...

    def parse_accounting(self, result: CommandResult) -> list[FinishedRecord]: ...

    def cancel_argv(self, job_id: str) -> list[str]: ...


class ClusterExecutor:
    queues_jobs = True  # the cluster's scheduler holds jobs before they run; it also enforces time limits
    file_check_interval = 0.0  # `missing_files` waits for the next queue listing, which looks at the files

    def __init__(
        self,
        cfg: ClusterNode,
        dialect: Dialect,
        root: str,
        runner: CommandRunner | None = None,
        files: RunFiles | None = None,
        command_env: dict[str, str] | None = None,
        clock: Clock | None = None,
        query_timeout: float = 60.0,
    ) -> None:
        self.node = cfg.name
        self.cfg = cfg
        self.dialect = dialect
        self.root = root.rstrip("/")
        self.runner = runner or LocalRunner()
        self.files = files or (LocalFiles() if runner is None else RemoteFiles(self.runner))
        # where a job's declared inputs and outputs are looked for (`executors.results`): the same file system
        self.result_files: ResultFiles = HereFiles() if isinstance(self.files, LocalFiles) else RunnerFiles(self.runner)
        self.command_env = command_env
        self.clock = clock or SystemClock()
        self.query_timeout = query_timeout
        self.queries: Counter[str] = Counter()  # scheduler commands run, by verb (for tests and benchmarks)
        self.poller = QueuePoller(self._list_queue, cfg.poll_interval, self._health, clock=self.clock)
        self.usage = UsageBatch(self._usage_records)  # jobs that end together share one accounting query
        self._accounted: set[str] = set()  # ids whose accounting `_judge` read already (usage included)
        self._listener: NodeListener | None = None
        self._user: str | None = None
        # what gives the paths the next listing looks at too (`missing_files`), and what that listing found:
        # (that giver, the paths it gave, those missing)
        self._files_wanted: Callable[[], Sequence[str]] | None = None
        self._files_seen: tuple[Callable[[], Sequence[str]], tuple[str, ...], set[str]] | None = None

    # -- Executor protocol -----------------------------------------------------------------------------

    def run_dir(self, job_id: int, number: int) -> str:
        return f"{self.root}/{job_id}/{number}"

    async def launch(self, spec: LaunchSpec) -> None:
        attempt = spec.attempt
        script_spec = self._script_spec(spec)
        await self.files.prepare(attempt.run_dir)
        script = render_script(script_spec, self.dialect.directive_prefix, self.dialect.directives(script_spec))
        attempt.external_state = "SUBMITTING"
        try:
            result = await self._command("submit", self.dialect.submit_argv(), input=script.encode())
            attempt.external_id = self.dialect.parse_submit(result.stdout) if result.ok else None
        except (JobTuiError, ValueError) as e:
            result, attempt.external_id = None, None
            log.warning("submitting %s to %s: %s; looking for it by its tag", script_spec.tag, self.node, e)
        if attempt.external_id is None:
            await self._reconcile_failed_submit(attempt, result)
        attempt.external_state = "SUBMITTED"

    async def wait(self, attempt: Attempt) -> Outcome:
        missing_since: float | None = None
        self.poller.subscribe()
        try:
            while True:
                snap = await self.poller.next()
                verdict = await self._judge(attempt, snap)
                if isinstance(verdict, Outcome):
                    await self._note_usage(attempt)
                    return verdict
                if verdict == _ACTIVE or not snap.ok:
                    missing_since = None
                    continue
                now = self.clock.monotonic()
                missing_since = missing_since if missing_since is not None else now
                if now - missing_since >= self.cfg.lost_grace:
                    return self._lost(attempt)
        finally:
            self.poller.unsubscribe()

    async def probe(self, attempt: Attempt) -> Liveness:
        snap = await self.poller.recent(self.cfg.poll_interval)
        if not snap.ok:
            return Liveness.UNREACHABLE
        verdict = await self._judge(attempt, snap)
        if isinstance(verdict, Outcome):
            return Liveness.EXITED
        if verdict == _ACTIVE or attempt.external_id is not None:
            return Liveness.RUNNING  # a known id that left the queue is judged by wait(), with lost_grace
        if await self._read_small(attempt, PID) is not None:
            return Liveness.RUNNING  # it started, so it was submitted: wait() finds how it ended
        return Liveness.LOST  # never reached the scheduler: the engine may launch it again

    async def read(self, attempt: Attempt, stream: str, offset: int, limit: int) -> bytes:
        return await self.files.read(os.path.join(attempt.run_dir, stream), offset, limit)

    async def read_sized(self, attempt: Attempt, stream: str, offset: int, limit: int) -> Output:
        return await self.files.read_sized(os.path.join(attempt.run_dir, stream), offset, limit)

    async def cancel(self, attempt: Attempt, grace: float) -> None:
        job_id = attempt.external_id
        if job_id is None:
            snap = await self.poller.recent(self.cfg.poll_interval)
            entry = snap.by_tag.get(self._tag(attempt))
            job_id = entry.job_id if entry else None
        if job_id is None:
            return
        result = await self._command("cancel", self.dialect.cancel_argv(job_id))
        if not result.ok:
            log.warning("cancelling %s job %s: %s", self.dialect.kind, job_id, result.stderr.strip()[:200])

    def settled(self, attempt: Attempt) -> None:
        return None  # nothing is kept for an attempt outside its own files

    def attach(self, listener: NodeListener) -> None:
        self._listener = listener

    async def close(self) -> None:
        await self.poller.close()
        await self.usage.close()

    # -- submission ------------------------------------------------------------------------------------

    def _tag(self, attempt: Attempt) -> str:
        return make_tag(attempt.job_id, attempt.number, attempt.launch_token)

    def _script_spec(self, spec: LaunchSpec) -> ScriptSpec:
        job, attempt, cfg = spec.job, spec.attempt, self.cfg
        env = {**job.env, "JOBTUI_JOB_ID": str(job.id), "JOBTUI_ATTEMPT": str(attempt.number)}
        env.pop(SUCCESS_ENV, None)  # the script checks a success file only when the job has one
        env.update(success_env(job.extra))
        return ScriptSpec(
            tag=self._tag(attempt),
            name=job.name,
            run_dir=attempt.run_dir,
            workdir=spec.workdir,
            command=list(job.command),
            env=env,
            cpus=max(1, job.resources.cpus),
            mem_mb=job.resources.mem_mb,
            gpus=job.resources.gpus,
            time_limit=job.timeout,
            default_time_limit=cfg.default_time_limit,
            partition=cfg.partition,
            account=cfg.account,
            directives=tuple(cfg.directives),
        )

    async def _reconcile_failed_submit(self, attempt: Attempt, result: CommandResult | None) -> None:
        """A submit that failed or answered oddly may still have queued the job: look before failing."""
        snap = await self.poller.recent(0.0)
        entry = snap.by_tag.get(self._tag(attempt)) if snap.ok else None
        if entry is not None:
            attempt.external_id = entry.job_id
            return
        if result is not None and not result.ok:
            raise CommandError(result, f"{self.node} ({self.dialect.kind})")
        what = repr(result.stdout.strip()[:200]) if result is not None else "no answer"
        raise JobTuiError(
            f"{self.node}: the {self.dialect.kind} submission gave {what}, and no job tagged {self._tag(attempt)} "
            "is in the queue; check the scheduler's log, then requeue the job."
        )

    # -- following -------------------------------------------------------------------------------------

    async def _judge(self, attempt: Attempt, snap: Snapshot) -> Outcome | str | None:
        """An Outcome when the job has ended, `_ACTIVE` while it is queued or running, None if unseen."""
        entry = snap.by_id.get(attempt.external_id) if attempt.external_id else snap.by_tag.get(self._tag(attempt))
        if entry is not None:
            self._observe(attempt, entry)
            if self.dialect.is_active(entry):
                return _ACTIVE
        if not snap.ok:
            return None
        exit_record = parse_exit_record(await self._read_small(attempt, EXIT, EXIT_READ) or b"")
        code, missing = exit_record if exit_record is not None else (None, None)
        record = FinishedRecord(entry.job_id, entry.state, None, entry.name) if entry is not None else None
        if code is None and (record is None or _plain_end(record)):
            accounted = await self._accounting(attempt)
            if accounted is not None:
                record = accounted
                self._accounted.add(accounted.job_id)
                _apply_usage(attempt, accounted)
        if record is None and code is None:
            return None
        if record is not None:
            attempt.external_id = attempt.external_id or record.job_id
            attempt.external_state = record.state
        return self._outcome(attempt, record, code, missing)

    def _observe(self, attempt: Attempt, entry: QueueEntry) -> None:
        """Record the scheduler's id and state on the attempt; tell the engine when they change."""
        changed = (entry.job_id, entry.state) != (attempt.external_id, attempt.external_state)
        attempt.external_id, attempt.external_state = entry.job_id, entry.state
        if attempt.running_since is None and self.dialect.is_running(entry):
            attempt.running_since = self.clock.now()
        if changed and self._listener is not None:
            self._listener.attempt_changed(attempt)

    def _outcome(
        self, attempt: Attempt, record: FinishedRecord | None, code: int | None, missing: str | None = None
    ) -> Outcome:
        """How it ended: the scheduler's reason first (timeout, out of memory...), then the exit file's code and,
        after an exit 0, whether the success file was there (`missing`: where it was looked for in vain)."""
        if record is None:
            return no_finished_marker(missing) if missing is not None and code == 0 else Outcome(code)
        reason = _reason(record.state)
        where = f"{self.dialect.kind} job {record.job_id} ended {record.state}"
        if reason is not None:
            return Outcome(code, reason, f"{where} ({record.detail})" if record.detail else where)
        if code is not None:
            return no_finished_marker(missing) if missing is not None and code == 0 else Outcome(code)
        if record.exit_code is not None:
            return Outcome(128 + record.signal if record.signal else record.exit_code)
        return Outcome(None, Reason.NODE_FAILURE, f"{where} without an exit code; see the scheduler's log")

    def _lost(self, attempt: Attempt) -> Outcome:
        what = f"job {attempt.external_id}" if attempt.external_id else f"the job tagged {self._tag(attempt)}"
        return Outcome(
            None,
            Reason.LOST,
            f"{self.dialect.kind} {what} left the queue without an exit record (none for {self.cfg.lost_grace:g} s)",
        )

    async def _accounting(self, attempt: Attempt) -> FinishedRecord | None:
        tag = self._tag(attempt)
        try:
            result = await self._command("accounting", self.dialect.accounting_argv(attempt.external_id, tag))
            records = self.dialect.parse_accounting(result)
        except (JobTuiError, ValueError) as e:
            log.debug("accounting for %s: %s", self._tag(attempt), e)
            return None
        known = attempt.external_id
        mine = [r for r in records if r.job_id == known or (known is None and r.name.startswith(tag))]
        return mine[-1] if mine else None

    async def _note_usage(self, attempt: Attempt) -> None:
        """The ended job's CPU time and peak memory from the accounting, asked with the jobs that ended with it."""
        job_id = attempt.external_id
        if job_id is None or job_id in self._accounted:
            self._accounted.discard(job_id or "")
            return
        age = self.clock.now() - attempt.started_at if attempt.started_at is not None else 0.0
        record = await self.usage.record(job_id, age)
        if record is not None:
            _apply_usage(attempt, record)

    async def _usage_records(self, job_ids: list[str], age: float) -> list[FinishedRecord]:
        # bounded like a listing: a slow accounting delays how the jobs end, never for long
        timeout = min(self.query_timeout, max(15.0, 2 * self.cfg.poll_interval))
        result = await self._command("accounting", self.dialect.usage_argv(job_ids, age), timeout=timeout)
        return self.dialect.parse_accounting(result)

    async def _read_small(self, attempt: Attempt, name: str, limit: int = 64) -> bytes | None:
        try:
            data = await self.files.read(os.path.join(attempt.run_dir, name), 0, limit)
        except JobTuiError:
            return None
        return data or None

    # -- commands ----------------------------------------------------------------------------------------

    async def _list_queue(self) -> list[QueueEntry]:
        if self._user is None:
            result = await self._command("whoami", ["id", "-un"], check=True)
            self._user = result.stdout.strip()
        # a scheduler that is half up may accept the connection and never answer: bound the wait
        timeout = min(self.query_timeout, max(15.0, 2 * self.cfg.poll_interval))
        argv = self.dialect.list_argv(self._user)
        asking, self._files_wanted = self._files_wanted, None
        wanted = tuple(asking()) if asking is not None else ()
        if asking is None or not wanted:
            self._files_seen = None if asking is None else (asking, wanted, set())
            return self.dialect.parse_list(await self._command("list", argv, timeout=timeout))
        # the same query looks at the files waiting jobs wait for: the listing, then the missing ones
        script = f"{shlex.join(argv)} </dev/null; rc=$?; printf '\\n%s\\n' {SEPARATOR}; {MISSING_SCRIPT}; exit $rc"
        result = await self._command("list", ["sh", "-c", script], input=paths_input(wanted), timeout=timeout)
        listing, found, files = result.stdout.rpartition(f"\n{SEPARATOR}\n")
        if not found:
            raise JobTuiError(f"{self.node}: the queue listing ended before its file check: {result.stderr[:200]}")
        entries = self.dialect.parse_list(replace(result, stdout=listing))
        self._files_seen = (asking, wanted, parse_missing(files, wanted))
        return entries

    async def missing_files(self, paths: Callable[[], Sequence[str]]) -> tuple[Sequence[str], set[str]]:
        """(the paths asked, those of them not on the cluster), as the next queue listing saw them: the files ride
        on that one query (which this call waits for), so any number of them costs no command of its own.
        `paths()` is called when that listing starts, so files asked for meanwhile are in it."""
        self.poller.subscribe()
        try:
            while True:
                self._files_wanted = paths  # taken by the next listing (set again if one in flight missed it)
                snap = await self.poller.next()
                seen = self._files_seen
                if snap.ok and seen is not None and seen[0] is paths:
                    self._files_seen = None
                    return seen[1], seen[2]
        finally:
            self.poller.unsubscribe()

    async def _command(
        self, verb: str, argv: list[str], input: bytes | None = None, check: bool = False, timeout: float | None = None
    ) -> CommandResult:
        self.queries[verb] += 1
        if self.command_env:  # as `env K=V argv...` data: a remote runner cannot send both env and stdin
            argv = ["env", *(f"{k}={v}" for k, v in sorted(self.command_env.items())), *argv]
        return await run_command(argv, self.runner, input=input, timeout=timeout or self.query_timeout, check=check)

    def _health(self, reachable: bool, error: str) -> None:
        if self._listener is not None:
            self._listener.node_changed(self.node, reachable)


def _reason(state: str) -> Reason | None:
    try:
        return slurm_reason(state)
    except ValueError:
        return None


def _apply_usage(attempt: Attempt, record: FinishedRecord) -> None:
    if record.cpu_seconds is not None:
        attempt.cpu_seconds = record.cpu_seconds
    if record.peak_memory_bytes is not None:
        attempt.peak_memory_bytes = record.peak_memory_bytes


def _plain_end(record: FinishedRecord) -> bool:
    """COMPLETED/FAILED (or an unknown word) without an exit file: ask the accounting for the code."""
    return _reason(record.state) is None
