"""SSH executor: attempts run on a remote node under the same detached wrapper as local ones.

All jobs of a node share one connection (`remote.pool.SshHost`). Where the node has Python 3, a node agent
(`remote.node_agent`, one per connection) starts the wrappers, with no process of its own per job, and
reports each one's end the moment it exits, with the exit record, the output sizes and the short outputs:
a short job costs one request and one notice, and no poll. Without it (no Python, no channel to spare),
launches that arrive together go out as one script on the long-lived remote shells, which starts every
wrapper, waits a few ms for them (`ssh_scripts.LINGER`) and reports those that already ended.
Either way the wrapper's files are the record. Exits not reported are found by one batched poll per node
and tick (through the agent when there is one), which also reports the output files' sizes and sends what
is left of a stream when it is small, so the runner's reads are served from memory and cost no round trip.
A dropped link never fails a job: wait() keeps polling until the node answers again, and a restarted engine
re-attaches through probe() (pid + start time from the remote /proc).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from engine.config import SshNode
from engine.containment.markers import MARK_ENV
from engine.errors import JobTuiError
from engine.executors import ssh_scripts as scripts
from engine.executors.base import LaunchSpec, Liveness, NodeListener, Outcome, Output, no_finished_marker
from engine.executors.file_checks import MISSING_SCRIPT, parse_missing, paths_input
from engine.executors.results import results_missing
from engine.executors.wrapper import STDERR, STDOUT, SUCCESS_ENV, success_env
from engine.models import Attempt, Reason
from engine.remote.agent import COMMAND as AGENT_COMMAND
from engine.remote.agent import AgentError, AgentGone, NodeAgent
from engine.remote.pool import SshHost, SshPool, SshRefused, SshRunner, SshUnreachable, env_script
from engine.remote.sampling import sample_node
from engine.remote.transfer import Stager, TransferError, check_relative

log = logging.getLogger(__name__)

SAMPLE_INTERVAL = 30.0
RETRY_WHILE_DOWN = 2.0
SIZE_CACHE = 4096  # output sizes remembered, for the last attempts polled
FOLLOWED_FILES = 16  # progress files of one attempt whose sizes its poll reports
DATA_CACHE = 16 << 20  # bytes of output kept from polls until the runner reads them
ENDED_CACHE = 4096  # attempts found ended at launch, until their wait()
LAUNCH_BATCH = 64  # attempts started by one script at most
LAUNCH_BATCH_BYTES = 256 * 1024  # and their commands and environments, roughly
LAUNCHES_IN_FLIGHT = 2  # launch scripts running at once; launches arriving meanwhile form the next
AGENT_RETRY = 60.0  # seconds before another try at starting a node agent that ended or could not start
FORWARDED_ENV_PREFIXES = ("JOBTUI_",)
FORWARDED_ENV = frozenset({"CUDA_VISIBLE_DEVICES"})

_T = TypeVar("_T")


def _future() -> asyncio.Future[_T]:
    return asyncio.get_running_loop().create_future()


def _quiet(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()  # a runner detached meanwhile never reads it


def _now() -> float:
    return asyncio.get_running_loop().time()


@dataclass(slots=True)
class _Launch:
    attempt: Attempt
    item: scripts.LaunchItem
    done: asyncio.Future[None] = field(default_factory=_future)


@dataclass(slots=True)
class _Watch:
    attempt: Attempt
    done: asyncio.Future[scripts.AttemptState] = field(default_factory=_future)
    since: float = field(default_factory=_now)


class SshExecutor:
    queues_jobs = False
    file_check_interval = 2.0  # seconds between two looks (one command) at the files waiting jobs wait for

    def __init__(
        self,
        cfg: SshNode,
        state_dir: Path,
        pool: SshPool | None = None,
        poll_interval: float = 0.1,
        max_poll_interval: float = 2.0,
    ) -> None:
        self.node = cfg.name
        self.cfg = cfg
        self.host: SshHost = (pool or SshPool()).host(cfg)
        self.runner = SshRunner(self.host)
        self.stager = Stager(self.host)
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.results_root = state_dir / "results"
        self.manifests = state_dir / "ssh" / cfg.name
        self.sample_interval = SAMPLE_INTERVAL
        self._home: str | None = None
        self._home_lock = asyncio.Lock()
        self._watches: dict[tuple[int, int], _Watch] = {}
        self._sizes: dict[str, int] = {}
        self._followed: dict[tuple[int, int], tuple[str, ...]] = {}  # an attempt's progress files, polled with it
        self._data: dict[str, tuple[int, bytes]] = {}  # path -> (offset, the rest of the file from there)
        self._data_bytes = 0
        self._ended: dict[tuple[int, int], scripts.AttemptState] = {}
        self._pending: list[_Launch] = []
        self._launching: dict[tuple[int, int], asyncio.Future[None]] = {}
        self._launch_wake = asyncio.Event()
        self._launch_slots = asyncio.Semaphore(LAUNCHES_IN_FLIGHT)
        self._launcher: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self.linger = scripts.LINGER
        self._poller: asyncio.Task[None] | None = None
        self._sampler: asyncio.Task[None] | None = None
        self._listener: NodeListener | None = None
        self.use_agent = True  # start attempts and poll through a node agent when the node can run one
        self.agent_command = AGENT_COMMAND
        self._agent: NodeAgent | None = None
        self._agent_lock = asyncio.Lock()
        self._agent_next_try = 0.0
        self._agent_runs: dict[tuple[int, int], tuple[NodeAgent, str]] = {}  # attempts whose end an agent reports
        self._poll_wake = asyncio.Event()
        self._launched_outputs: dict[tuple[int, int], list[str]] = {}  # outputs of attempts launched here

    def run_dir(self, job_id: int, number: int) -> str:
        """`runs/JOB.NUMBER` below the node's work root, as on this machine: one directory to make, not two
        (attempts launched before keep their `runs/JOB/NUMBER`)."""
        return posixpath.join(self.cfg.work_root, "runs", f"{job_id}.{number}")

    # -- launch ---------------------------------------------------------------------------------------

    async def launch(self, spec: LaunchSpec) -> None:
        attempt, job = spec.attempt, spec.job
        run_dir = await self._abs(attempt.run_dir)
        work = posixpath.join(run_dir, "work")
        for pattern in job.outputs:
            check_relative(pattern)
        self._write_manifest(attempt, job.outputs)
        if job.inputs:
            await self.stager.stage_in(job.inputs, work)
        env = env_script(_forwarded_env(spec)).decode()
        item = scripts.LaunchItem(run_dir, job.workdir or work, list(job.command), env)
        try:
            scripts.check_launch(item)
        except ValueError as e:
            raise JobTuiError(f"{self.host.where}: cannot start the job: {e}") from e
        launch = _Launch(attempt, item)
        launch.done.add_done_callback(_quiet)
        key = (attempt.job_id, attempt.number)
        self._launching[key] = launch.done
        self._pending.append(launch)
        self._launch_wake.set()
        if self._launcher is None or self._launcher.done():
            self._launcher = asyncio.get_running_loop().create_task(self._launch_loop())
        try:
            await asyncio.shield(launch.done)  # the script runs on even if this runner is detached
        finally:
            if self._launching.get(key) is launch.done:
                del self._launching[key]

    async def _launch_loop(self) -> None:
        """Group launches: while LAUNCHES_IN_FLIGHT scripts run, new launches gather into the next one."""
        while True:
            if not self._pending:
                self._launch_wake.clear()
                await self._launch_wake.wait()
                continue
            await self._launch_slots.acquire()
            await asyncio.sleep(0)  # launches spawned together arrive in the same loop pass
            batch: list[_Launch] = []
            size = 0
            while self._pending and len(batch) < LAUNCH_BATCH:
                item = self._pending[0].item
                size += sum(len(w) for w in (item.run_dir, item.workdir, item.env, *item.command)) + 64
                if batch and size > LAUNCH_BATCH_BYTES:
                    break
                batch.append(self._pending.pop(0))
            if not batch:
                self._launch_slots.release()
                continue
            task = asyncio.get_running_loop().create_task(self._launch_batch(batch))
            self._batches.add(task)
            task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._batches.discard(task)
        self._launch_slots.release()

    async def _launch_batch(self, batch: list[_Launch]) -> None:
        try:
            body = await self._start_batch(batch)
        except (SshUnreachable, SshRefused) as e:
            for launch in batch:
                if not launch.done.done():
                    launch.done.set_exception(e)
            return
        except Exception as e:  # never leave a launch waiting
            log.exception("launch script on %s failed", self.node)
            for launch in batch:
                if not launch.done.done():
                    launch.done.set_exception(JobTuiError(f"{self.host.where}: could not start the job: {e}"))
            return
        report = scripts.parse_report(body, len(batch))
        self._remember(report, [b.item.run_dir for b in batch])
        for index, launch in enumerate(batch):
            attempt, run_dir = launch.attempt, launch.item.run_dir
            if index in report.launched:
                attempt.pid, attempt.proc_start = report.launched[index]
                state = report.states.get(index)
                if state is not None and not state.alive and state.exit_code is not None:
                    self._ended[(attempt.job_id, attempt.number)] = state
                    while len(self._ended) > ENDED_CACHE:
                        del self._ended[next(iter(self._ended))]
                launch.done.set_result(None)
            else:
                self._agent_runs.pop((attempt.job_id, attempt.number), None)
                code = report.failed.get(index)
                what = {
                    90: "could not create the run directory",
                    91: "could not write the environment file",
                    92: "could not start /bin/sh for the job's wrapper",
                    93: "the node agent could not read the request (a jobtui bug: please report it)",
                }
                why = what.get(code or 0, "the node's shell gave no answer for it")
                launch.done.set_exception(
                    JobTuiError(f"{self.host.where}: could not start the job in {run_dir}: {why}")
                )

    async def _start_batch(self, batch: list[_Launch]) -> bytes:
        """The launch records of one batch: from the node agent (whose notices then report the ends), or from a
        launch script on a remote shell (which lingers a few ms to report the short ones that already ended)."""
        agent = await self._live_agent()
        if agent is not None:
            items = []
            for launch in batch:
                attempt, item = launch.attempt, launch.item
                key = (attempt.job_id, attempt.number)
                self._agent_runs[key] = (agent, item.run_dir)  # before sending: its end may be the next message
                tag = f"{attempt.job_id}.{attempt.number}"
                items.append({"tag": tag, "run_dir": item.run_dir, "workdir": item.workdir, "argv": list(item.command),
                              "env": item.env})  # fmt: skip
            try:
                return await agent.request("launch", items, timeout=30)
            except AgentGone:  # nothing was sent: the launch script starts them
                self._forget_runs(batch)
            except BaseException:
                self._forget_runs(batch)
                raise
        return await self.host.script(
            scripts.PRELUDE, scripts.launch_script([b.item for b in batch], self.linger), timeout=30
        )

    def _forget_runs(self, batch: list[_Launch]) -> None:
        for launch in batch:
            self._agent_runs.pop((launch.attempt.job_id, launch.attempt.number), None)

    async def _ask_agent(self, op: str, payload: object, timeout: float) -> bytes | None:
        """The agent's answer to a request that changes nothing on the node (a poll, a read); None: ask sh."""
        agent = await self._live_agent()
        if agent is None:
            return None
        try:
            return await agent.request(op, payload, timeout=timeout)
        except AgentGone:
            return None
        except AgentError as e:  # a bug, not the node: say so, and let the sh scripts answer
            log.warning("%s", e)
            return None

    async def _live_agent(self) -> NodeAgent | None:
        """The node agent, started on first use; None while the node cannot run one (sh scripts serve then)."""
        if not self.use_agent:
            return None
        agent = self._agent
        if agent is not None and agent.alive:
            return agent
        if _now() < self._agent_next_try:
            return None
        async with self._agent_lock:
            if self._agent is not None and self._agent.alive:
                return self._agent
            if _now() < self._agent_next_try:
                return None
            agent = NodeAgent(
                self.host, scripts.REMOTE_WRAPPER, self._agent_notice, self._agent_closed, self.agent_command
            )
            try:
                started = await agent.start()
            except (SshUnreachable, SshRefused) as e:
                log.debug("%s: node agent not started: %s", self.node, e)
                self._agent_next_try = _now() + RETRY_WHILE_DOWN
                return None  # the link: the caller's own command meets the same trouble and says so
            if not started:
                self._agent_next_try = _now() + AGENT_RETRY
                return None
            self._agent = agent
            return agent

    def _agent_notice(self, tag: str, body: bytes) -> None:
        """An attempt the agent started has ended: its state, sizes and short outputs, as a poll would say."""
        job_id, _, number = tag.partition(".")
        key = (int(job_id), int(number))
        entry = self._agent_runs.pop(key, None)
        if entry is None:
            return
        report = scripts.parse_report(body, 1)
        self._remember(report, [entry[1]])
        state = report.states.get(0)
        if state is None or state.alive:
            return  # not a whole answer: the polls find its end
        watch = self._watches.get(key)
        if watch is not None and not watch.done.done():
            watch.done.set_result(state)
            return
        self._ended[key] = state
        while len(self._ended) > ENDED_CACHE:
            del self._ended[next(iter(self._ended))]

    def _agent_closed(self, agent: NodeAgent) -> None:
        """The agent ended (link, node, engine): the attempts it followed are polled from now on."""
        for key in [k for k, (a, _) in self._agent_runs.items() if a is agent]:
            del self._agent_runs[key]
        if self._agent is agent:
            self._agent = None
            self._agent_next_try = _now() + (AGENT_RETRY if self.host.connected else 0.0)
        self._poll_wake.set()

    # -- follow ---------------------------------------------------------------------------------------

    async def wait(self, attempt: Attempt) -> Outcome:
        state = self._ended.pop((attempt.job_id, attempt.number), None) or await self._watch(attempt)
        if state.exit_code is None:
            return Outcome(None, Reason.LOST, f"the job's process on {self.node} ended without writing an exit code")
        outcome = await self._collect(attempt, state.exit_code)  # outputs come back even without the marker
        return no_finished_marker(state.missing) if state.missing is not None else outcome

    async def probe(self, attempt: Attempt) -> Liveness:
        timeout = 2.0 if not self.host.connected else 10.0
        try:
            states = await self._poll([attempt], timeout)
        except (SshUnreachable, SshRefused):
            return Liveness.UNREACHABLE
        state = states.get(0)
        if state is None:
            return Liveness.UNREACHABLE
        if attempt.pid is None and state.pid is not None:
            attempt.pid = state.pid  # launched, but the engine died before recording it
        if state.alive:
            return Liveness.RUNNING
        return Liveness.EXITED if state.exit_code is not None else Liveness.LOST

    async def read(self, attempt: Attempt, stream: str, offset: int, limit: int) -> bytes:
        """Bytes of an output stream, or of a progress file (a path relative to the run directory, or absolute)."""
        path = posixpath.join(await self._abs(attempt.run_dir), await self._abs(stream))
        if stream not in (STDOUT, STDERR):
            followed = self._followed.setdefault((attempt.job_id, attempt.number), ())
            if path not in followed and len(followed) < FOLLOWED_FILES:
                self._followed[(attempt.job_id, attempt.number)] = (*followed, path)
            return await self._read_file(path, offset, limit)
        known = self._sizes.get(path)
        cached = self._data.get(path)
        if cached is not None:
            start, blob = cached
            end = start + len(blob)
            if known is not None and end >= known and start <= offset < end:
                piece = blob[offset - start : offset - start + limit]
                if offset + len(piece) >= end:
                    self._forget_data(path)
                return piece
            if known is None or end < known or offset >= end:
                self._forget_data(path)  # outgrown or read past
        watched = (attempt.job_id, attempt.number) in self._watches
        if (watched and known is None) or (known is not None and offset >= known):
            return b""  # nothing new since the last poll, which reports every watched attempt's sizes
        try:
            return await self._read_bytes(path, offset, limit)
        except (SshUnreachable, SshRefused):
            return b""  # the runner asks again on its next tick

    async def _read_file(self, path: str, offset: int, limit: int) -> bytes:
        """A progress file's new bytes: its size comes with the poll of its attempt (`_sizes`); read when it grew."""
        known = self._sizes.get(path)
        if known is not None and offset >= known:
            return b""
        try:
            return await self._read_bytes(path, offset, limit)
        except (SshUnreachable, SshRefused):
            return b""

    async def read_sized(self, attempt: Attempt, stream: str, offset: int, limit: int) -> Output:
        path = posixpath.join(await self._abs(attempt.run_dir), stream)
        known = self._sizes.get(path)
        if known is not None:  # the last poll's size: read() answers from it, or costs its usual round trip
            data = await self.read(attempt, stream, offset, limit)
            return Output(data, max(known, offset + len(data)) if data else known)
        try:
            body = await self._ask_agent("read", {"path": path, "offset": offset, "limit": limit}, 60)
            if body is not None:
                return Output(*scripts.parse_sized_read(body, offset))
            argv = ["/bin/sh", "-c", scripts.READ_SIZED, "jobtui-read", path, str(offset + 1), str(limit)]
            _status, out, _err = await self.host.run(argv, timeout=60)
        except (SshUnreachable, SshRefused):
            return Output(b"", 0)  # unknown until the node answers again (`read` gives nothing then, too)
        return Output(*scripts.parse_sized_read(out, offset))

    async def missing_files(self, paths: Callable[[], Sequence[str]]) -> tuple[Sequence[str], set[str]]:
        """(the paths asked, those of them not on the node): one command for all of them (the paths on its stdin)."""
        asked = paths()
        argv = ["/bin/sh", "-c", MISSING_SCRIPT]
        status, out, err = await self.host.run(argv, input=paths_input(asked), timeout=60)
        if status != 0:
            raise JobTuiError(f"{self.host.where}: cannot look for files: {err.decode(errors='replace')[:200]}")
        return asked, parse_missing(out.decode(errors="replace"), asked)

    async def cancel(self, attempt: Attempt, grace: float) -> None:
        launching = self._launching.get((attempt.job_id, attempt.number))
        if launching is not None:  # its launch script is running: cancel once the pid is known
            with contextlib.suppress(Exception):
                await asyncio.shield(launching)
        if not attempt.pid:
            return
        start = str(attempt.proc_start) if attempt.proc_start is not None else "-"
        argv = ["/bin/sh", "-c", scripts.CANCEL, "jobtui-cancel", str(attempt.pid), start, str(int(grace * 10))]
        argv.append(attempt.launch_token)  # the marker every process of the attempt carries (see `_forwarded_env`)
        while True:
            try:
                await self.host.run(argv, timeout=grace + 30)
                return
            except (SshUnreachable, SshRefused) as e:
                log.warning("cancel of job %s on %s must wait for the node: %s", attempt.job_id, self.node, e)
                await asyncio.sleep(RETRY_WHILE_DOWN)

    def settled(self, attempt: Attempt) -> None:
        return None  # nothing is kept for an attempt outside its own files

    def attach(self, listener: NodeListener) -> None:
        self._listener = listener
        self.host.add_listener(self.node, listener)
        with contextlib.suppress(RuntimeError):  # no running loop: sampling starts with the first wait()
            self._sampler = asyncio.get_running_loop().create_task(self._sample_loop())

    async def close(self) -> None:
        for launch in self._pending:
            if not launch.done.done():
                launch.done.set_exception(JobTuiError(f"{self.host.where}: jobtui stopped before the launch"))
        self._pending.clear()
        if self._agent is not None:
            self._agent.close()  # the jobs it started run on
        for task in (self._poller, self._sampler, self._launcher, *self._batches):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.host.close()

    # -- internals ------------------------------------------------------------------------------------

    async def _abs(self, path: str) -> str:
        """`~/x` as an absolute path on the node (its home is asked once)."""
        if not path.startswith("~/"):
            return path
        async with self._home_lock:  # one question, however many launches wait for the answer
            if self._home is None:
                status, out, _ = await self.host.run(["/bin/sh", "-c", scripts.HOME], timeout=30)
                if status != 0 or not out.startswith(b"/"):
                    raise JobTuiError(f"{self.host.where}: cannot find the home directory for {self.cfg.work_root}")
                self._home = out.decode()
        return posixpath.join(self._home, path[2:])

    async def _watch(self, attempt: Attempt) -> scripts.AttemptState:
        key = (attempt.job_id, attempt.number)
        watch = self._watches.get(key) or _Watch(attempt)
        self._watches[key] = watch
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll_loop())
        try:
            return await watch.done
        finally:  # done, or detached (cancelled): either way this attempt is no longer polled
            if self._watches.get(key) is watch:
                self._watches.pop(key, None)
                self._agent_runs.pop(key, None)  # found by a poll first: the agent's notice, if any, is not needed
                for path in self._followed.pop(key, ()):
                    self._sizes.pop(path, None)

    async def _poll_loop(self) -> None:
        """One command per tick checks every watched attempt; link trouble only delays it. An attempt whose end
        the node agent reports is polled only once it is older than the poll interval (for its output's sizes)."""
        while self._watches:
            now = _now()
            watches = [w for w in self._watches.values() if self._due(w, now)]
            if not watches:
                self._poll_wake.clear()
                first = min(w.since for w in self._watches.values()) + self.poll_interval
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._poll_wake.wait(), max(0.0, first - now))
                continue
            try:
                states = await self._poll([w.attempt for w in watches], 30.0)
            except (SshUnreachable, SshRefused) as e:
                log.debug("poll of %s failed, will retry: %s", self.node, e)
                await asyncio.sleep(RETRY_WHILE_DOWN)
                continue
            for index, watch in enumerate(watches):
                state = states.get(index)
                if state is not None and not state.alive and not watch.done.done():
                    watch.done.set_result(state)
            await asyncio.sleep(self._next_tick())

    def _due(self, watch: _Watch, now: float) -> bool:
        key = (watch.attempt.job_id, watch.attempt.number)
        return key not in self._agent_runs or now - watch.since >= self.poll_interval

    def _next_tick(self) -> float:
        """Poll often while an attempt is young (short jobs end fast), then back off to the maximum."""
        if not self._watches:
            return 0.0
        youngest = _now() - max(w.since for w in self._watches.values())
        return min(self.max_poll_interval, max(self.poll_interval, youngest / 10))

    async def _poll(self, attempts: list[Attempt], timeout: float) -> dict[int, scripts.AttemptState]:
        items: list[scripts.PollItem] = []
        for attempt in attempts:
            start = attempt.proc_start if attempt.pid else None
            files = self._followed.get((attempt.job_id, attempt.number), ())
            items.append(
                scripts.PollItem(
                    await self._abs(attempt.run_dir), attempt.pid, start, attempt.stdout_offset, attempt.stderr_offset,
                    files,
                )
            )  # fmt: skip
        try:
            script = scripts.poll_script(items)
        except ValueError as e:
            raise SshRefused(f"{self.host.where}: {e}") from e
        body = await self._poll_body(items, script, timeout)
        report = scripts.parse_report(body, len(items))
        self._remember(report, [it.run_dir for it in items])
        for item in items:  # a progress file the poll did not see is not there (yet): nothing to read
            for path in item.files:
                self._sizes.pop(path, None)
                self._sizes[path] = report.file_sizes.get(path, 0)
        return report.states

    async def _poll_body(self, items: list[scripts.PollItem], script: str, timeout: float) -> bytes:
        request = [
            {"run_dir": it.run_dir, "pid": it.pid, "start": it.start, "out": it.out_offset, "err": it.err_offset,
             "files": list(it.files)}
            for it in items
        ]  # fmt: skip
        body = await self._ask_agent("poll", request, timeout)
        if body is not None:
            return body
        return await self.host.script(scripts.PRELUDE, script, timeout=timeout)

    async def _read_bytes(self, path: str, offset: int, limit: int) -> bytes:
        """Up to `limit` bytes of `path` from `offset`: one request to the agent, else one command."""
        body = await self._ask_agent("read", {"path": path, "offset": offset, "limit": limit}, 60)
        if body is not None:
            return body.partition(b"\n")[2]
        argv = ["/bin/sh", "-c", scripts.READ, "jobtui-read", path, str(offset + 1), str(limit)]
        _status, out, _err = await self.host.run(argv, timeout=60)
        return out

    def _remember(self, report: scripts.Report, run_dirs: list[str]) -> None:
        """Keep the sizes and output bytes an answer carried, for read()."""
        for index, (out, err) in report.sizes.items():
            for stream, size in ((STDOUT, out), (STDERR, err)):
                path = posixpath.join(run_dirs[index], stream)
                self._sizes.pop(path, None)
                self._sizes[path] = size
        while len(self._sizes) > SIZE_CACHE:
            del self._sizes[next(iter(self._sizes))]
        for (index, stream), (offset, blob) in report.data.items():
            sizes = report.sizes.get(index)
            if sizes is None or offset + len(blob) != sizes[0 if stream == STDOUT else 1]:
                continue  # only the whole rest of a stream is kept
            path = posixpath.join(run_dirs[index], stream)
            self._forget_data(path)
            self._data[path] = (offset, blob)
            self._data_bytes += len(blob)
        while self._data_bytes > DATA_CACHE and self._data:
            self._forget_data(next(iter(self._data)))

    def _forget_data(self, path: str) -> None:
        cached = self._data.pop(path, None)
        if cached is not None:
            self._data_bytes -= len(cached[1])

    async def _collect(self, attempt: Attempt, code: int) -> Outcome:
        outputs = self._read_manifest(attempt)
        if not outputs:
            return Outcome(code)
        local = self.results_root / str(attempt.job_id)
        work = posixpath.join(await self._abs(attempt.run_dir), "work")
        while True:
            try:
                result = await self.stager.collect(work, outputs, local)
                break
            except (SshUnreachable, SshRefused) as e:
                log.warning("collecting results of job %s waits for %s: %s", attempt.job_id, self.node, e)
                await asyncio.sleep(RETRY_WHILE_DOWN)
            except TransferError as e:
                return Outcome(code, Reason.TRANSFER_ERROR, str(e))
        got = f"; kept {len(result.fetched) + len(result.unchanged)} file(s) in {local}"
        return results_missing(code, result, got) or Outcome(code)

    def _manifest_path(self, attempt: Attempt) -> Path:
        return self.manifests / f"{attempt.job_id}-{attempt.number}.json"

    def _write_manifest(self, attempt: Attempt, outputs: list[str]) -> None:
        """The outputs to collect, kept on this machine so a restarted engine still collects them (none: no file)."""
        self._launched_outputs[(attempt.job_id, attempt.number)] = outputs
        while len(self._launched_outputs) > ENDED_CACHE:
            del self._launched_outputs[next(iter(self._launched_outputs))]
        if not outputs:
            return
        self.manifests.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._manifest_path(attempt).write_text(json.dumps({"outputs": outputs}))

    def _read_manifest(self, attempt: Attempt) -> list[str]:
        known = self._launched_outputs.pop((attempt.job_id, attempt.number), None)
        if known is not None:  # launched by this engine: no need to look on disk
            return known
        try:
            return list(json.loads(self._manifest_path(attempt).read_text()).get("outputs", []))
        except (OSError, ValueError):
            return []

    async def _sample_loop(self) -> None:
        while True:
            try:
                sample = await sample_node(self.runner)
            except (JobTuiError, OSError) as e:
                log.debug("sampling %s failed: %s", self.node, e)
            else:
                if self._listener is not None:
                    self._listener.node_changed(self.node, True, sample)
            await asyncio.sleep(self.sample_interval)


def _forwarded_env(spec: LaunchSpec) -> dict[str, str]:
    """The job's own variables and jobtui's, never this machine's whole environment."""
    env = dict(spec.job.env)
    for name, value in spec.env.items():
        if name.startswith(FORWARDED_ENV_PREFIXES) or name in FORWARDED_ENV:
            env[name] = value
    env.pop(SUCCESS_ENV, None)  # the wrapper checks a success file only when the job has one
    env.update(success_env(spec.job.extra))
    env[MARK_ENV] = spec.attempt.launch_token  # a cancel finds its `setsid` descendants by it in /proc
    return env
