"""The node agent: a small Python program the engine runs on an SSH node, one per node connection.

The engine sends this file's text to the node's `python3` on stdin (`agent.NodeAgent`; nothing of it is
on a command line) and then talks to it over the same channel. It starts attempts the way the sh scripts
do (`ssh_scripts.PRELUDE`): the run directory, the private env file (0600) and the detached wrapper
(its own session), but with no process of its own per job: no `mkdir`, `setsid`, `stat`, `cat` or timer.
While idle it makes the next run directory ahead (`.jobtui-next-PID-N` beside the last, with its `work/`),
which the next launch there takes with one rename; an agent that ends removes the one left.
As the wrappers are its children, it hears each one end (SIGCHLD) and reports it at once, with the exit
record and the short outputs, so the engine needs no poll to see a job end. The wrapper still writes the
exit file: the agent is only a faster way to the same files, and an engine, link or agent that goes away
loses nothing (the wrappers run on; the sh polls and a later agent read the same files).

It runs on Python 3.6 and later, standard library only (its tests parse it as 3.6). Messages, both
ways, are a header line `KIND ID SIZE` and SIZE bytes. Requests (`launch`, `poll`, `read`) carry JSON;
answers (`R ID`), failures (`E ID`, a message) and notices of ended attempts (`N TAG`) carry the records
of `ssh_scripts` (`L`, `F`, `X`, `S`, `D`, `P`), so one parser reads what the sh scripts and the agent say.
"""

import json
import os
import select
import signal
import sys

DATA_CAP = 64 * 1024  # a stream is sent with the state when no more than this is left of it
DATA_BUDGET = 1 << 20  # bytes of output one answer may carry in all
READ_LIMIT = 16 << 20  # the most one `read` request returns
STREAMS = (b"stdout", b"stderr")
NO_RUN_DIR, NO_ENV_FILE, NO_WRAPPER, BAD_ITEM = 90, 91, 92, 93  # the `F` codes: what could not be made or started


def _b(text):
    """A str from the engine's JSON as the bytes the node's files and argv use (UTF-8, never the locale)."""
    return text.encode("utf-8", "surrogateescape")


def _read_head(path, limit=4096):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_range(path, offset, count):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return b""
    try:
        chunks = []
        while count > 0:
            chunk = os.pread(fd, min(count, 1 << 20), offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
            count -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _make_dirs(*paths):
    """Each directory in turn, its parents too when they are missing (`mkdir -p`, without a stat per level)."""
    for path in paths:
        try:
            os.mkdir(path)
        except FileExistsError:
            if not os.path.isdir(path):
                raise
        except FileNotFoundError:
            os.makedirs(path, exist_ok=True)


def _remove_spare(spare):
    for path in (spare + b"/work", spare):
        try:
            os.rmdir(path)
        except OSError:
            pass


def _size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _alive(pid, start):
    """Is `pid` running (not a zombie) and, with `start`, still the process that started then?"""
    line = _read_head(b"/proc/%d/stat" % pid)
    if not line or b") " not in line:
        return False
    fields = line[line.rindex(b") ") + 2 :].split()
    if not fields or fields[0] == b"Z":
        return False
    return start is None or (len(fields) > 19 and fields[19] == b"%d" % start)


def _exit_word(run_dir):
    """The exit file's first line and `;` once it is whole (a cut-short file reads as absent)."""
    data = _read_head(run_dir + b"/exit")
    if not data or b"\n" not in data:
        return b""
    return data[: data.index(b"\n")] + b";"


def report(items):
    """The records of `ssh_scripts.parse_report` for (run_dir, pid, start, out_offset, err_offset, files, ended)."""
    out = []
    budget = DATA_BUDGET
    for index, (run_dir, pid, start, out_offset, err_offset, files, ended) in enumerate(items):
        if pid is None:
            text = _read_head(run_dir + b"/pid") or b""
            pid = int(text.split()[0]) if text.split() and text.split()[0].isdigit() else None
        alive = pid is not None and not ended and _alive(pid, start)  # read before the exit file
        exit_word = _exit_word(run_dir)
        pid_word = b"%d" % pid if pid is not None else b"-"
        out.append(b"X %d %d %s %s\n" % (index, 1 if alive else 0, pid_word, exit_word))
        sizes = [_size(run_dir + b"/" + stream) or 0 for stream in STREAMS]
        out.append(b"S %d %d %d\n" % (index, sizes[0], sizes[1]))
        for n, offset in enumerate((out_offset, err_offset)):  # (no zip: its strict= is not in Python 3.6)
            stream, left = STREAMS[n], sizes[n] - offset
            if 0 < left <= DATA_CAP and left <= budget:
                data = _read_range(run_dir + b"/" + stream, offset, left)
                budget -= len(data)
                out.append(b"D %d %s %d %d\n" % (index, stream, offset, len(data)) + data + b"\n")
        for path in files:
            size = _size(path)
            if size is not None:
                out.append(b"P %d %d %s\n" % (index, size, path))
    return b"".join(out)


class Agent:
    """Serves one engine on fds 0 (requests) and 1 (answers and notices) until fd 0 closes."""

    def __init__(self, wrapper, in_fd=0, out_fd=1):
        self.wrapper = wrapper
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.children = {}  # wrapper pid -> (tag, run_dir)
        self.umask = os.umask(0o077)
        os.umask(self.umask)
        self.env = dict(os.environb)
        lc = self.env.pop(b"JOBTUI_AGENT_LC", None)  # LC_CTYPE as the login had it (Python may coerce it)
        if lc is not None:
            if lc.startswith(b"="):
                self.env[b"LC_CTYPE"] = lc[1:]
            else:
                self.env.pop(b"LC_CTYPE", None)
        self.default_signals = [getattr(signal, n) for n in ("SIGPIPE", "SIGXFSZ", "SIGXFZ") if hasattr(signal, n)]
        self.spares = {}  # runs directory -> an empty run directory (with its work/) made while idle
        self.made = 0

    def send(self, kind, ident, body):
        data = b"%s %s %d\n" % (kind, ident, len(body)) + body
        while data:
            data = data[os.write(self.out_fd, data) :]

    def serve(self):
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(wake_w)
        self.send(b"H", b"0", b"%d.%d" % sys.version_info[:2])
        pending = b""
        try:
            while True:
                pending = self.step(wake_r, pending)
        except EOFError:
            return  # the engine or its link went away: the wrappers run on without us
        finally:
            for spare in self.spares.values():
                if spare is not None:
                    _remove_spare(spare)

    def step(self, wake_r, pending):
        """Wait for a request or an ended wrapper and serve it; while idle, make the next run directories."""
        idle = 0 if any(spare is None for spare in self.spares.values()) else None
        readable = select.select([self.in_fd, wake_r], [], [], idle)[0]
        if not readable:
            self.make_spares()
            return pending
        if wake_r in readable:
            try:
                os.read(wake_r, 4096)
            except OSError:
                pass
            self.reap()
        if self.in_fd in readable:
            chunk = os.read(self.in_fd, 1 << 16)
            if not chunk:
                raise EOFError()
            pending = self.handle(pending + chunk)
        return pending

    def handle(self, pending):
        """Serve every whole request in `pending`; what is left of it."""
        while b"\n" in pending:
            header, rest = pending.split(b"\n", 1)
            op, ident, size = header.split(b" ")
            if len(rest) < int(size):
                break
            body, pending = rest[: int(size)], rest[int(size) :]
            try:
                answer = getattr(self, "op_" + op.decode("ascii"))(json.loads(body.decode("utf-8", "surrogateescape")))
            except Exception as e:  # one bad request never ends the agent
                self.send(b"E", ident, (type(e).__name__ + ": " + str(e)).encode("utf-8", "replace"))
            else:
                self.send(b"R", ident, answer)
        return pending

    def op_launch(self, items):
        out = []
        for index, item in enumerate(items):
            try:
                run_dir, tag, env = _b(item["run_dir"]), _b(item["tag"]), _b(item["env"])
                argv = [b"/bin/sh", b"-c", self.wrapper, b"jobtui-wrapper", run_dir, _b(item["workdir"])]
                argv += [_b(word) for word in item["argv"]]
            except Exception:  # this item only: the others of the request still start
                out.append(b"F %d %d\n" % (index, BAD_ITEM))
                continue
            failed = self.prepare(run_dir, env)
            if failed:
                out.append(b"F %d %d\n" % (index, failed))
                continue
            try:
                pid = self.spawn(argv)
            except OSError:
                out.append(b"F %d %d\n" % (index, NO_WRAPPER))
                continue
            self.children[pid] = (tag, run_dir)
            stat = (_read_head(b"/proc/%d/stat" % pid) or b"").split(b"\n")[0]
            out.append(b"L %d %d %s\n" % (index, pid, stat))
        return b"".join(out)

    def prepare(self, run_dir, env):
        """The run directory (0700) and the env file (0600); the `F` code of what failed, or 0."""
        os.umask(0o077)
        try:
            try:
                if not self.take_spare(run_dir):
                    _make_dirs(run_dir, run_dir + b"/work")
            except OSError:
                return NO_RUN_DIR
            try:
                fd = os.open(run_dir + b"/env", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    while env:
                        env = env[os.write(fd, env) :]
                finally:
                    os.close(fd)
            except OSError:
                return NO_ENV_FILE
            return 0
        finally:
            os.umask(self.umask)

    def take_spare(self, run_dir):
        """Rename the directory made ahead into `run_dir` (one call where making it is two); False: none fits."""
        parent = os.path.dirname(run_dir)
        if parent not in self.spares and len(self.spares) < 8:
            self.spares[parent] = None  # made while idle, for the next launch there
        spare = self.spares.get(parent)
        if spare is None:
            return False
        self.spares[parent] = None
        try:
            os.rename(spare, run_dir)
        except OSError:
            _remove_spare(spare)
            return False
        return True

    def make_spares(self):
        os.umask(0o077)
        try:
            for parent, spare in list(self.spares.items()):
                if spare is None:
                    self.made += 1
                    spare = parent + b"/.jobtui-next-%d-%d" % (os.getpid(), self.made)
                    try:
                        _make_dirs(spare, spare + b"/work")
                    except OSError:
                        _remove_spare(spare)
                        del self.spares[parent]  # not there to be made: launches there make their own
                        continue
                    self.spares[parent] = spare
        finally:
            os.umask(self.umask)

    def spawn(self, argv):
        """Start the wrapper in its own session, stdin and outputs on /dev/null; its pid once it runs."""
        if hasattr(os, "posix_spawn"):
            to_null = [
                (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ]
            return os.posix_spawn(
                argv[0], argv, self.env, file_actions=to_null, setsid=True, setsigdef=self.default_signals
            )
        ready_r, ready_w = os.pipe()  # close-on-exec: it reads EOF once the wrapper runs (or failed)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - only on Python < 3.8
            try:
                os.setsid()
                null = os.open("/dev/null", os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                for number in self.default_signals:
                    signal.signal(number, signal.SIG_DFL)
                os.execve(argv[0], argv, self.env)
            finally:
                os._exit(127)
        os.close(ready_w)
        os.read(ready_r, 1)
        os.close(ready_r)
        return pid

    def op_poll(self, items):
        return report(
            [
                (_b(i["run_dir"]), i["pid"], i["start"], i["out"], i["err"], [_b(p) for p in i["files"]], False)
                for i in items
            ]
        )

    def op_read(self, request):
        """`SIZE` (0 for no file), a newline, then up to `limit` bytes from `offset`."""
        path = _b(request["path"])
        size = _size(path) or 0
        return b"%d\n" % size + _read_range(path, request["offset"], min(request["limit"], READ_LIMIT))

    def reap(self):
        """Report every wrapper that ended: its exit record, output sizes and short outputs."""
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is not None:
                tag, run_dir = child
                self.send(b"N", tag, report([(run_dir, pid, None, 0, 0, [], True)]))


def serve(wrapper):
    """The agent's entry point: the engine appends a call to it, with the wrapper script, to this text."""
    Agent(wrapper).serve()
