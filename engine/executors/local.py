"""Local executor: attempts run on this machine under the detached wrapper.

The spawner starts the wrappers and reports their ends (exit status, usage); a wrapper it did not start (an
earlier engine's, or one whose spawner died) is awaited without polling through a pidfd (`os.pidfd_open` +
`loop.add_reader`) and its exit code read from the exit journal. A process is identified by pid *and* start
time, so a recycled pid is never mistaken for the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.containment.group import Usage
from engine.containment.settings import ContainmentSettings
from engine.executors.base import LaunchSpec, Liveness, Outcome, Output, no_finished_marker, read_file
from engine.executors.exit_journal import ExitJournal
from engine.executors.file_checks import missing_here
from engine.executors.local_containment import Containment, GroupEnd
from engine.executors.spawner_client import SpawnerClient, SpawnerGone, SpawnFailed
from engine.executors.wrapper import (
    EXIT,
    PYTHON_FILE,
    STDERR,
    STDOUT,
    current_umask,
    is_wrapper_of,
    parse_exit_file,
    setpriv,
    success_env,
    wrapper_argv,
)
from engine.models import Attempt, Reason

PYTHON_FD = 3  # a python job run as another account reads its code from this inherited descriptor
SUCCESS_RECORD = "success"  # in the run directory: where the job's success file must be, and whose rights see it


_DEVNULL_STDIN = (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)
PrivateFile = tuple[str, bytes, int, int]  # written 0600 into the run directory before the spawn: NAME, DATA, UID, GID


def python_job(spec: LaunchSpec, code: str) -> tuple[list[str], list[tuple[int, int, str, int, int]], PrivateFile]:
    """A python job's argv, the file handed to it, and its code as `job.py` for its run directory. The command is
    `[INTERPRETER, "job.py", *ARGS]`.

    The file is 0600 and belongs to the account the job runs as. Run as the daemon's own user, the job is given
    its path. Run as another account (shared mode), it could not enter the daemon's private run directory: the
    daemon opens the file for it as descriptor 3, which the wrapper and setpriv pass on, and the interpreter
    reads `/dev/fd/3` (reopening it checks only the file's own mode and owner: the job's).
    """
    path = os.path.join(spec.attempt.run_dir, PYTHON_FILE)
    owner = (spec.run_as.uid, spec.run_as.gid) if spec.run_as is not None else (-1, -1)
    file = (PYTHON_FILE, code.encode(), *owner)
    interpreter, args = spec.job.command[0], spec.job.command[2:]
    if spec.run_as is None:
        return [interpreter, path, *args], [], file
    handed = [(os.POSIX_SPAWN_OPEN, PYTHON_FD, path, os.O_RDONLY, 0)]
    return [interpreter, f"/dev/fd/{PYTHON_FD}", *args], handed, file


def attempt_dir_name(job_id: int, number: int) -> str:
    """The name of a local attempt's run directory in the runs directory: `JOB.NUMBER`, flat, so a launch makes one
    directory (a `mkdir` costs the kernel 0.05 to 0.2 ms here; a job directory above it would double it). Attempts
    launched before this layout have `JOB/NUMBER`; each attempt keeps the run directory it was given."""
    return f"{job_id}.{number}"


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of `pid` in clock ticks since boot, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] == b"Z":
        return None  # a zombie has finished running
    return int(fields[19])


def read_exit_file(run_dir: str) -> int | None:
    """The code in an attempt's own exit file: what wrappers of jobtui before the exit journal wrote."""
    try:
        with open(os.path.join(run_dir, EXIT), "rb") as f:
            return parse_exit_file(f.read(32))
    except FileNotFoundError:
        return None


class LocalExecutor:
    queues_jobs = False
    file_check_interval = 1.0  # seconds between two looks at the files waiting jobs wait for

    def __init__(
        self,
        node: str,
        runs_root: Path,
        containment: ContainmentSettings | None = None,
        journal: ExitJournal | None = None,
    ) -> None:
        self.node = node
        self.runs_root = runs_root
        self.containment = Containment(containment or ContainmentSettings(), str(runs_root))
        self.spawner = SpawnerClient()
        self.journal = journal or ExitJournal(runs_root)  # shared by the local nodes of one runs directory
        self._pidfds: dict[int, int] = {}  # of attempts an earlier engine (or a spawner that died) started
        # A reaped wrapper's end, until its `wait` reads it: its CPU time and peak RSS by the wait status, what
        # the spawner read of its cgroup (None where the engine reaped it, or it had none), and its wait status
        # (None where the spawner did not reap it: the code is then the exit journal's).
        self._ends: dict[int, tuple[Usage, GroupEnd | None, int | None]] = {}
        # The sizes of an ended attempt's output files once its wrapper ended with nothing left in its cgroup (by run
        # directory, until it is settled): no process is left to write them, so a read from there has nothing to open.
        self._final_sizes: dict[str, dict[str, int]] = {}
        self._success_checks: dict[str, bool] = {}  # launched here: was it given a success record to check?
        self._umask = current_umask()  # jobs get the daemon's; the wrapper's own files are private whatever it is

    def run_dir(self, job_id: int, number: int) -> str:
        return str(self.runs_root / attempt_dir_name(job_id, number))

    async def launch(self, spec: LaunchSpec) -> None:
        """Start the attempt through the spawner, which makes its run directory, writes its private files, makes
        its cgroup and spawns the wrapper, so the event loop goes on with other jobs meanwhile."""
        attempt = spec.attempt
        command, actions, files = spec.job.command, [_DEVNULL_STDIN], []
        code = spec.job.extra.get("python_code")
        if code is not None:
            command, handed, file = python_job(spec, code)
            actions += handed
            files.append(file)
        journal = self.journal.enter(attempt.run_dir)
        argv = wrapper_argv(attempt.run_dir, spec.workdir, command, self._umask, journal, spec.run_as)
        env = spec.env
        marker = success_env(spec.job.extra)
        self._success_checks[attempt.run_dir] = bool(marker)
        if marker:
            files.append(_success_record(spec, next(iter(marker.values()))))
            env = {**env, **marker}
        env, cgroup = self.containment.prepare(spec.job, attempt, env)  # its cgroup, made before the job starts
        try:
            attempt.pid = await self.spawner.spawn(attempt.run_dir, files, argv, env, list(actions), cgroup)
        except SpawnerGone:
            attempt.pid = _find_wrapper(attempt.run_dir)  # it answers for none of its launches: look
            if attempt.pid is None and self._recorded_code(attempt.run_dir) is None:
                await self.containment.remove(attempt)
                raise OSError("jobtui's spawner ended before the job was started; it is started again") from None
        except SpawnFailed as e:
            await self.containment.remove(attempt)
            raise (self.containment.not_made(e) if e.stage == "cgroup" else e) from None
        # The spawner's unreaped child, the pid stays the job's while this engine runs. Its start time is not read
        # now (/proc/PID/stat waits for the child's exec to finish): an engine that restarts knows the wrapper by
        # its argv, which names this run directory, and records its start time then (`_same_process`).

    async def wait(self, attempt: Attempt) -> Outcome:
        await self._exited(attempt)
        measured, group_end, status = self._ends.pop(attempt.pid or 0, (None, None, None))
        # The wrapper exits with the code it recorded; killed by a signal, it may not have recorded one.
        if status is not None and os.WIFEXITED(status):
            code: int | None = os.WEXITSTATUS(status)
        else:
            code = self._recorded_code(attempt.run_dir)
        if group_end is not None:
            oom = code != 0 and group_end[1] > 0
        else:
            oom = code != 0 and self.containment.oom_killed(attempt)
        await self.containment.finish(attempt, measured, group_end)
        if oom:
            return Outcome(code, Reason.OUT_OF_MEMORY, _out_of_memory(attempt))
        if code is None:
            return Outcome(None, Reason.LOST, "the job's process ended without writing an exit code")
        if code == 0 and self._success_checks.pop(attempt.run_dir, True):
            missing = await _missing_success_file(attempt.run_dir)
            if missing is not None:
                return no_finished_marker(missing)
        return Outcome(code)

    async def probe(self, attempt: Attempt) -> Liveness:
        self.journal.adopt(attempt.run_dir)
        if attempt.pid is None:
            attempt.pid = _find_wrapper(attempt.run_dir)  # launched, but the engine died before recording it
        if attempt.pid and _same_process(attempt.pid, attempt):
            return Liveness.RUNNING
        if self._recorded_code(attempt.run_dir) is not None:
            return Liveness.EXITED
        await self.containment.finish(attempt, None)  # what the vanished wrapper left running dies with it
        return Liveness.LOST

    async def read(self, attempt: Attempt, stream: str, offset: int, limit: int) -> bytes:
        final = self._final_sizes.get(attempt.run_dir)
        if final is not None and offset >= final.get(stream, offset + 1):
            return b""
        try:
            with open(os.path.join(attempt.run_dir, stream), "rb") as f:
                f.seek(offset)
                return f.read(limit)
        except FileNotFoundError:
            return b""

    async def read_sized(self, attempt: Attempt, stream: str, offset: int, limit: int) -> Output:
        return read_file(os.path.join(attempt.run_dir, stream), offset, limit)

    async def cancel(self, attempt: Attempt, grace: float) -> None:
        """TERM to the wrapper's process group and to every process of the attempt (its cgroup, or those carrying
        its marker: `setsid` descendants too), the rest of `grace` for them to end, then KILL to all of them."""
        pid = attempt.pid
        leader = pid is not None and pid > 0 and _same_process(pid, attempt)
        if not leader and not self.containment.alive(attempt):
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        if pid and leader:
            _killpg(pid, signal.SIGTERM)
        self.containment.signal(attempt, signal.SIGTERM)
        if leader:
            try:
                await asyncio.wait_for(self._exited(attempt), grace)
            except TimeoutError:
                pass
        # The leader may end on TERM while others ignore it: they get the rest of the grace, then KILL. A cgroup
        # tells exactly (an orphan's zombie, which init may be slow to reap, is in no cgroup but in its group).
        contained = self.containment.contained(attempt)
        while loop.time() < deadline and (
            self.containment.alive(attempt) or (not contained and pid and _group_alive(pid))
        ):
            await asyncio.sleep(0.05)
        if pid and _group_alive(pid):
            _killpg(pid, signal.SIGKILL)
        await self.containment.kill(attempt)
        if leader:
            await self._exited(attempt)

    def attach(self, listener: object) -> None:
        return None  # this machine is always reachable

    def settled(self, attempt: Attempt) -> None:
        self.journal.settled(attempt.run_dir)
        self._final_sizes.pop(attempt.run_dir, None)
        self._success_checks.pop(attempt.run_dir, None)

    def _recorded_code(self, run_dir: str) -> int | None:
        """The exit code the attempt's wrapper recorded: in the exit journal, or (a wrapper of a jobtui before it)
        in its run directory's exit file; None if there is none."""
        code = self.journal.code(run_dir)
        return code if code is not None else read_exit_file(run_dir)

    async def missing_files(self, paths: Callable[[], Sequence[str]]) -> tuple[Sequence[str], set[str]]:
        """(the paths asked, those of them not on this machine): a stat each, off the event loop (a stalled network
        file system never stalls the engine)."""
        asked = paths()
        return asked, await asyncio.to_thread(missing_here, asked)

    async def close(self) -> None:
        await self.spawner.close()
        self.containment.close()

    async def _exited(self, attempt: Attempt) -> None:
        """Return once the attempt's process has ended: as the spawner reports it, or watched through a pidfd (a
        process an earlier engine started, or whose spawner died); reap it if it is our own child.

        Without a pid (the wrapper was never found, yet its exit code was recorded) there is nothing to wait for.
        """
        pid = attempt.pid
        if not pid:
            return
        end = await self.spawner.ended(pid)
        if end is not None:
            self._ends[pid] = (Usage(end.cpu_seconds, end.max_rss_kb << 10), end.cgroup, end.status)
            if end.output_sizes is not None and end.cgroup is not None and end.cgroup[2]:  # its cgroup empty: final
                self._final_sizes[attempt.run_dir] = {STDOUT: end.output_sizes[0], STDERR: end.output_sizes[1]}
            return
        fd = self._pidfds.pop(pid, None)
        try:
            if fd is None:
                fd = os.pidfd_open(pid)
                if not _same_process(pid, attempt):
                    return
            await _readable(fd, None)
        except ProcessLookupError:
            return
        finally:
            if fd is not None:
                os.close(fd)
            if (usage := _reap(pid)) is not None:
                self._ends[pid] = (usage, None, None)


def _same_process(pid: int, attempt: Attempt) -> bool:
    """`pid` is alive and is the attempt's process: its start time is the one recorded at launch.

    Without a recorded start time (the engine died between launch and saving it) the pid is trusted only if
    it runs this attempt's wrapper, whose argv names the attempt's run directory; a recycled pid does not.
    """
    start = process_start_time(pid)
    if start is None:
        return False
    if attempt.proc_start is not None:
        return start == attempt.proc_start
    if _runs_wrapper_of(pid, attempt.run_dir):
        attempt.proc_start = start
        return True
    return False


def _runs_wrapper_of(pid: int, run_dir: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return is_wrapper_of(argv, run_dir)


async def _readable(fd: int, timeout: float | None) -> bool:
    """Wait until a pidfd reports its process ended; False on timeout."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def wake() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await asyncio.wait_for(done, timeout) if timeout is not None else await done
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)


def _success_record(spec: LaunchSpec, name: str) -> PrivateFile:
    """Where the success file must be (absolute), and as whom to look (shared mode), kept in the run directory so
    a restarted engine still checks it."""
    record: dict[str, object] = {"path": os.path.join(os.path.abspath(spec.workdir), name)}
    if spec.run_as is not None:
        record |= {"uid": spec.run_as.uid, "gid": spec.run_as.gid}
    return (SUCCESS_RECORD, json.dumps(record).encode(), -1, -1)


async def _missing_success_file(run_dir: str) -> str | None:
    """The path of an attempt's success file when it does not exist; None when it does or none was asked for.

    One stat, after the exit. A job run as another account (shared mode) has it looked for with that account's
    rights (`setpriv ... test -e`), so a link it planted cannot tell it what exists where only root may look.
    """
    try:
        with open(os.path.join(run_dir, SUCCESS_RECORD), "rb") as f:
            record = json.loads(f.read(1 << 16))
    except (FileNotFoundError, ValueError):
        return None
    path = str(record["path"])
    if "uid" not in record:
        return None if os.path.exists(path) else path
    argv = [setpriv(), f"--reuid={int(record['uid'])}", f"--regid={int(record['gid'])}", "--init-groups", "--"]
    argv += ["/bin/sh", "-c", 'test -e "$1"', "jobtui-check", path]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    return None if await proc.wait() == 0 else path


def _find_wrapper(run_dir: str) -> int | None:
    """The pid of the attempt's wrapper, found by its argv (which names the run directory), or None."""
    for name in os.listdir("/proc"):
        if name.isdigit() and _runs_wrapper_of(int(name), run_dir):
            return int(name)
    return None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _killpg(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _reap(pid: int) -> Usage | None:
    """Reap `pid` if it is our child and has ended: its CPU time and peak RSS (its waited-for descendants'
    included; RSS in kB on Linux, the largest process's)."""
    try:
        reaped, _status, usage = os.wait4(pid, os.WNOHANG)
    except ChildProcessError:
        return None  # not our child: an earlier engine started it
    return Usage(usage.ru_utime + usage.ru_stime, usage.ru_maxrss << 10) if reaped else None


def _out_of_memory(attempt: Attempt) -> str:
    limit = f"{attempt.peak_memory_bytes / (1 << 20):.0f} MB" if attempt.peak_memory_bytes else "its limit"
    return (
        f"out of memory: the kernel killed the job when it reached {limit}, its memory limit (mem_mb); "
        "submit it again with more (--mem)"
    )
