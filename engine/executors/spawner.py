"""The spawner: a small process beside the engine that starts local attempts and reports their ends.

The engine sends it one frame per launch (the run directory to make, private files to write into it, the
attempt's cgroup to make with its limits, the wrapper's argv, environment and file actions); it makes them,
spawns the wrapper detached and answers with its pid; when a wrapper ends it reaps it, reads its cgroup's
usage, removes the cgroup if nothing is left in it, and reports all that with the wait status. The engine's
event loop thus never waits for a `mkdir`, for the kernel to make or remove a cgroup, or for a child's `exec`
(a vfork spawn holds its caller until the child has exec'd), and needs no pidfd per job.

It keeps nothing that matters: the wrapper records the exit code, and a job outlives the spawner as it
outlives the engine. The spawner ends when the engine closes its request pipe (or dies); what it spawned runs
on, re-parented, and a restarted engine finds it as it finds any job (by its argv and its pidfd).

Started as `python -I -S -c LAUNCH ROOT` (`spawner_client.LAUNCH`): no site packages, nothing from the
environment or the working directory; it imports only the standard library and `engine.containment.group`.
Frames both ways are a 4-byte big-endian length and a `marshal`ed tuple; the engine is this process's parent
and only writer.
"""

from __future__ import annotations

import marshal
import os
import selectors
import signal
import struct
from typing import Any

from engine.containment.group import AttemptGroup

HEADER = struct.Struct(">I")
MAX_FRAME = 64 << 20  # a request carries an environment and maybe a python job's code: far below this

# Requests: ("spawn", SEQ, RUN_DIR, FILES, ARGV, ENV, FILE_ACTIONS, CGROUP); FILES is [(NAME, DATA, UID, GID)], UID
# -1 for the spawner's own; CGROUP is None or (DIRS, SETTINGS, HANDED_DOWN) as `Containment.prepare` plans it.
# Replies: ("spawned", SEQ, PID), ("failed", SEQ, ERRNO, MESSAGE, STAGE) with STAGE "cgroup" or "spawn", and
# ("exited", PID, WAIT_STATUS, USER_SECONDS, SYSTEM_SECONDS, MAX_RSS_KB, CGROUP_END, OUTPUT_SIZES), CGROUP_END None or
# (CPU_SECONDS, PEAK_MEMORY_BYTES, OOM_KILLS, REMOVED), OUTPUT_SIZES the sizes of the run directory's `stdout` and
# `stderr` once the wrapper ended (0 for one that is not there).


def frame(message: tuple[Any, ...]) -> bytes:
    data = marshal.dumps(message)
    return HEADER.pack(len(data)) + data


def write_private(path: str, data: bytes, uid: int, gid: int) -> None:
    """Write `data` to a new 0600 file at `path` (never through a link), owned by `uid` when it is not -1."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        if uid != -1:
            os.fchown(fd, uid, gid)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def output_size(run_dir: str, name: str) -> int:
    try:
        return os.stat(os.path.join(run_dir, name)).st_size
    except OSError:
        return 0


def spawn(
    run_dir: str, files: list[tuple[str, bytes, int, int]], argv: list[str], env: dict[str, str], actions: list[Any]
) -> int:
    try:
        os.mkdir(run_dir, 0o700)
    except FileExistsError:
        pass
    except FileNotFoundError:  # the runs directory itself is not made yet
        os.makedirs(run_dir, mode=0o700, exist_ok=True)
    for name, data, uid, gid in files:
        write_private(os.path.join(run_dir, name), data, uid, gid)
    return os.posix_spawn(argv[0], argv, env, setsid=True, file_actions=[tuple(a) for a in actions])


class Spawner:
    def __init__(self, requests: int, replies: int) -> None:
        self.requests = requests
        self.replies = replies
        self.buffer = bytearray()
        self.outbox: list[bytes] = []  # replies, written together once a round of the loop is handled
        self.groups: dict[int, AttemptGroup] = {}  # the cgroups of the wrappers running, by pid
        self.run_dirs: dict[int, str] = {}  # the run directories of the wrappers running, by pid

    def send(self, message: tuple[Any, ...]) -> None:
        self.outbox.append(frame(message))

    def flush(self) -> None:
        view = memoryview(b"".join(self.outbox))
        self.outbox.clear()
        while view:
            view = view[os.write(self.replies, view) :]

    def handle(self, request: tuple[Any, ...]) -> None:
        _kind, seq, run_dir, files, argv, env, actions, cgroup = request
        group = None
        if cgroup is not None:
            dirs, settings, enable = cgroup
            group = AttemptGroup(dirs)
            try:
                group.make(settings, enable)
            except OSError as e:
                self.send(("failed", seq, e.errno or 0, e.strerror or str(e), "cgroup"))
                return
        try:
            pid = spawn(run_dir, files, argv, env, actions)
        except Exception as e:  # OSError, or ValueError for a NUL in an argument: that launch fails, nothing else
            if group is not None:
                group.remove()
            errno = (e.errno or 0) if isinstance(e, OSError) else 0
            self.send(("failed", seq, errno, str(e), "spawn"))
            return
        if group is not None:
            self.groups[pid] = group
        self.run_dirs[pid] = run_dir
        self.send(("spawned", seq, pid))

    def read_requests(self) -> bool:
        """Handle every whole request that has arrived; False once the engine closed the pipe."""
        data = os.read(self.requests, 1 << 20)
        if not data:
            return False
        self.buffer += data
        while len(self.buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self.buffer)
            if size > MAX_FRAME:
                raise SystemExit(f"jobtui spawner: a request of {size} bytes is not one the engine sends")
            if len(self.buffer) < HEADER.size + size:
                break
            request = marshal.loads(bytes(self.buffer[HEADER.size : HEADER.size + size]))
            del self.buffer[: HEADER.size + size]
            self.handle(request)
        return True

    def reap(self) -> None:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            group = self.groups.pop(pid, None)
            end = None
            if group is not None:
                used, oom_kills, removed = group.ended()
                end = (used.cpu_seconds, used.peak_memory_bytes, oom_kills, removed)
            run_dir = self.run_dirs.pop(pid, None)
            sizes = None if run_dir is None else (output_size(run_dir, "stdout"), output_size(run_dir, "stderr"))
            self.send(("exited", pid, status, usage.ru_utime, usage.ru_stime, usage.ru_maxrss, end, sizes))


def main() -> None:
    # The pipes move off 0 and 1 (their copies are not inherited), so no wrapper holds the engine's reply pipe.
    requests, replies = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in the engine's terminal is the engine's to handle
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    spawner = Spawner(requests, replies)
    selector = selectors.DefaultSelector()
    selector.register(requests, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    try:
        while True:
            for key, _ in selector.select():
                if key.fd == wake_r:
                    while True:
                        try:
                            if not os.read(wake_r, 512):
                                break
                        except BlockingIOError:
                            break
                    spawner.reap()
                elif not spawner.read_requests():
                    return
            spawner.reap()  # a child may end between the select and the handler's wake-up byte
            spawner.flush()
    except BrokenPipeError:
        return  # the engine is gone


if __name__ == "__main__":
    main()
