"""Hosting an engine: the state-directory lock, the API socket, start and orderly stop.

Used by `jobtui --serve` (headless) and by the TUI when no engine runs yet. Stopping leaves running
jobs running: the next engine re-attaches them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import gc
import getpass
import logging
import os
import socket
from pathlib import Path

import uvicorn

from engine.accounts import can_switch_users
from engine.api.discovery import LOCK_NAME, SOCKET_NAME
from engine.api.local_client import LocalClient
from engine.api.peer import PeerAwareHTTP
from engine.api.server import build_app
from engine.api.tokens import TokenRegistry, ensure_owner_token
from engine.config import Config
from engine.core.engine import Engine
from engine.errors import ConfigError, EngineLocked, JobTuiError, StartupError
from engine.executors.wrapper import setpriv
from engine.service.verbs import JobService
from engine.trees.results import ResultsBack

log = logging.getLogger(__name__)
GC_THRESHOLDS = (20_000, 50, 100)  # Python's defaults are (700, 10, 10)
MAX_SOCKET_PATH = 107  # bytes: a Unix socket's sun_path holds 108, the last for the terminating NUL


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the host decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


class StateLock:
    """An exclusive lock on a state directory, held for the engine's lifetime."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise EngineLocked(
                f"an engine (pid {holder}) already runs on {self.path.parent}; `jobtui` attaches to it, "
                "or stop it first."
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except BaseException:
            os.close(fd)  # closing drops the lock too
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def check_socket_path(path: Path) -> None:
    """Refuse, before anything is made, a socket path longer than a Unix socket may have."""
    size = len(os.fsencode(path))
    if size > MAX_SOCKET_PATH:
        raise ConfigError(
            f"the engine's socket would be {path}, {size} bytes long, and a Unix socket path may have at most "
            f"{MAX_SOCKET_PATH} bytes. Choose a state directory with a shorter path: --state-dir DIR or "
            "JOBTUI_HOME=DIR."
        )


def make_state_dir(state_dir: Path) -> None:
    """Create the state directory (mode 0700) where it is missing; a file in its way is bad input."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except (FileExistsError, NotADirectoryError) as e:
        blocker = next((p for p in (state_dir, *state_dir.parents) if p.exists() and not p.is_dir()), state_dir)
        where = f"{state_dir} is" if blocker == state_dir else f"{state_dir}: {blocker} is"
        raise ConfigError(
            f"{where} a file, not a directory, so the state directory cannot be there. Give another with "
            "--state-dir DIR or JOBTUI_HOME=DIR, or move the file away."
        ) from e


def state_dir_error(state_dir: Path, error: OSError) -> StartupError:
    """What an OS error while setting up `state_dir` means for the user, and what to do."""
    cause = f"{error.strerror or error}: {error.filename or state_dir}"
    elsewhere = "give another with --state-dir DIR or JOBTUI_HOME=DIR"
    if error.errno == errno.EROFS:
        text = f"the state directory is on a read-only file system ({cause}); remount it read-write, or {elsewhere}."
    elif error.errno in (errno.EACCES, errno.EPERM):
        text = (
            f"this user may not write in the state directory ({cause}); fix its owner and permissions (or its "
            f"immutable attribute, `lsattr -d`), or {elsewhere}."
        )
    elif error.errno in (errno.ENOSPC, errno.EDQUOT):
        text = f"no space is left for the state directory ({cause}); free space there, or {elsewhere}."
    else:
        text = f"the state directory cannot be used ({cause}); {elsewhere}."
    return StartupError(f"{state_dir}: {text}")


def listen_error(address: tuple[str, int], error: OSError | OverflowError) -> JobTuiError:
    """What a failure to listen on `--listen HOST:PORT` means for the user, and what to do."""
    host, port = address
    given = f"--listen {host}:{port}"
    number = getattr(error, "errno", None)
    cause = os.strerror(number) if isinstance(error, OSError) and number and number > 0 else str(error)
    if isinstance(error, OverflowError):
        return ConfigError(f"{given}: the port must be 1-65535.")
    if isinstance(error, socket.gaierror) or (number is not None and number < 0):  # getaddrinfo's EAI_* codes
        return ConfigError(f"{given}: cannot find the address of {host}; give an address of this machine.")
    if number == errno.EADDRNOTAVAIL:
        return ConfigError(f"{given}: {host} is not an address of this machine ({cause}); give one it has.")
    if number == errno.EADDRINUSE:
        return StartupError(f"{given}: another program listens there ({cause}); choose another port, or stop it.")
    if number == errno.EACCES:
        return StartupError(f"{given}: not allowed ({cause}); ports below 1024 need privileges, choose a higher one.")
    return StartupError(f"{given}: cannot listen there ({cause}).")


def bind_unix_socket(path: Path, mode: int = 0o600) -> socket.socket:
    """A listening socket only its owner may connect to (mode 0600, created so from the start).

    A shared engine's socket (mode 0666) is open to every local user: the kernel tells who connects.
    """
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # stale: we hold the lock, so no engine is behind it
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        old = os.umask(0o177)
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
        os.chmod(path, mode)
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def check_shared_mode(socket_path: Path) -> None:
    """Shared mode runs every local job as its submitter: that takes root, and util-linux's setpriv."""
    check_socket_path(socket_path)
    if not can_switch_users():
        raise StartupError(
            f"shared mode (mode: shared in the config) runs each job as its submitter, which needs root; this "
            f"process runs as uid {os.geteuid()}. Start it as root (e.g. a system service), or use personal mode."
        )
    try:
        setpriv()
    except FileNotFoundError as e:
        raise StartupError(f"shared mode: {e}.") from e


def bind_shared_socket(path: Path) -> socket.socket:
    """The shared engine's socket, in a directory every user may enter (0755, created if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    return bind_unix_socket(path, 0o666)


class EngineHost:
    def __init__(
        self, config: Config, state_dir: Path, owner: str | None = None, tcp: tuple[str, int] | None = None
    ) -> None:
        self.config = config
        self.state_dir = state_dir
        self.owner = owner or getpass.getuser()
        self.tcp = tcp
        self.engine = Engine(config, state_dir, self.owner)
        self.service = JobService(self.engine)
        self.results = ResultsBack(self.engine)  # jobs' copy_back, as each ends
        self.lock = StateLock(state_dir)
        self.socket_path = state_dir / SOCKET_NAME
        self._server: _QuietServer | None = None
        self._server_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Lock the state directory, start the engine, then listen; on failure, undo and raise one clear error.

        Bad input (a state directory that is a file, a socket path too long to bind) is a ConfigError; a state
        directory the engine cannot write, or an address it cannot listen on, a StartupError; a state database
        it refuses, the store's StoreError.
        """
        check_socket_path(self.socket_path)
        if self.config.mode == "shared":
            check_shared_mode(self.config.shared.socket)
        try:
            make_state_dir(self.state_dir)
            self.lock.acquire()
        except OSError as e:
            raise state_dir_error(self.state_dir, e) from e
        try:
            try:
                await self.engine.start()
                self.results.start()
                token = ensure_owner_token(self.state_dir)
            except OSError as e:
                raise state_dir_error(self.state_dir, e) from e
            issued = (await self.engine.settings()).get("tokens", {})
            app = build_app(self.service, TokenRegistry(self.owner, token, issued))
            sockets = self._listen()
            tcp = [sock.getsockname()[:2] for sock in sockets if sock.family in (socket.AF_INET, socket.AF_INET6)]
            self.service.api_addresses = tcp  # http jobs may not call these (service.verbs)
            self._server = _QuietServer(
                uvicorn.Config(app, http=PeerAwareHTTP, log_level="warning", lifespan="off", access_log=False)
            )
            self._server_task = asyncio.get_running_loop().create_task(self._server.serve(sockets=sockets))
            # Everything loaded so far (modules, the jobs in the store) lives as long as the engine: keep it
            # out of the collector's full passes, and make those passes rarer. Each full pass walks every
            # live job; with Python's default thresholds they cost a third of the engine's CPU per job at
            # 5,000 jobs (bench/bench_local.py), and more as the queue grows.
            gc.freeze()
            gc.set_threshold(*GC_THRESHOLDS)
        except BaseException:
            await self._undo_start()
            raise

    def _listen(self) -> list[socket.socket]:
        """The API's sockets: the Unix socket in the state directory, and the --listen address if given."""
        try:
            sockets = [bind_unix_socket(self.socket_path)]
        except OSError as e:
            raise state_dir_error(self.state_dir, e) from e
        if self.config.mode == "shared":
            try:
                sockets.append(bind_shared_socket(self.config.shared.socket))
            except OSError as e:
                sockets[0].close()
                raise StartupError(
                    f"cannot make the shared socket {self.config.shared.socket} ({e.strerror or e}); "
                    "fix its directory's permissions or choose another with shared: socket: in the config."
                ) from e
        if self.tcp:
            try:
                tcp = socket.create_server(self.tcp)
                # asyncio sets TCP_NODELAY only on sockets it sees as TCP (proto 6); create_server's has proto 0,
                # and without it every small answer waits for the peer's delayed ACK (about 40 ms a request).
                tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sockets.append(tcp)
            except (OSError, OverflowError) as e:
                for sock in sockets:
                    sock.close()
                with contextlib.suppress(FileNotFoundError):
                    self.socket_path.unlink()
                raise listen_error(self.tcp, e) from e
        return sockets

    async def _undo_start(self) -> None:
        """Stop what a failed start began; the error that stopped it is the one the caller sees."""
        try:
            await self.results.close()
            await self.engine.stop()
        except Exception:
            log.warning("stopping the engine after a failed start also failed", exc_info=True)
        finally:
            self.lock.release()

    def client(self, user: str | None = None) -> LocalClient:
        return LocalClient(self.service, user or self.owner)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._server_task is not None:
            await asyncio.gather(self._server_task, return_exceptions=True)
        await self.results.close()
        await self.engine.stop()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        if self.config.mode == "shared":
            with contextlib.suppress(FileNotFoundError):
                self.config.shared.socket.unlink()
        self.lock.release()
