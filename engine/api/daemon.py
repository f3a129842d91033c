"""Hosting an engine: the state-directory lock, the API socket, start and orderly stop.

Used by `jobtui --serve` (headless) and by the TUI when no engine runs yet. Stopping leaves running
jobs running: the next engine re-attaches them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import getpass
import logging
import os
import socket
from pathlib import Path

import uvicorn

from engine.api.discovery import LOCK_NAME, SOCKET_NAME
from engine.api.local_client import LocalClient
from engine.api.server import build_app
from engine.api.tokens import TokenRegistry, ensure_owner_token
from engine.config import Config
from engine.core.engine import Engine
from engine.errors import EngineLocked
from engine.service.verbs import JobService

log = logging.getLogger(__name__)
GC_THRESHOLDS = (20_000, 50, 100)  # Python's defaults are (700, 10, 10)


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
            holder = os.read(fd, 32).decode().strip() or "unknown"
            os.close(fd)
            raise EngineLocked(
                f"an engine (pid {holder}) already runs on {self.path.parent}; `jobtui` attaches to it, "
                "or stop it first."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def bind_unix_socket(path: Path) -> socket.socket:
    """A listening socket only its owner may connect to (mode 0600, created so from the start)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # stale: we hold the lock, so no engine is behind it
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(128)
    sock.setblocking(False)
    return sock


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
        self.lock = StateLock(state_dir)
        self.socket_path = state_dir / SOCKET_NAME
        self._server: _QuietServer | None = None
        self._server_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.lock.acquire()
        try:
            await self.engine.start()
            token = ensure_owner_token(self.state_dir)
            issued = (await self.engine.settings()).get("tokens", {})
            app = build_app(self.service, TokenRegistry(self.owner, token, issued))
            sockets = [bind_unix_socket(self.socket_path)]
            if self.tcp:
                sockets.append(socket.create_server(self.tcp))
            self._server = _QuietServer(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
            self._server_task = asyncio.get_running_loop().create_task(self._server.serve(sockets=sockets))
            # Everything loaded so far (modules, the jobs in the store) lives as long as the engine: keep it
            # out of the collector's full passes, and make those passes rarer. Each full pass walks every
            # live job; with Python's default thresholds they cost a third of the engine's CPU per job at
            # 5,000 jobs (bench/bench_local.py), and more as the queue grows.
            gc.freeze()
            gc.set_threshold(*GC_THRESHOLDS)
        except BaseException:
            await self.engine.stop()
            self.lock.release()
            raise

    def client(self, user: str | None = None) -> LocalClient:
        return LocalClient(self.service, user or self.owner)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._server_task is not None:
            await asyncio.gather(self._server_task, return_exceptions=True)
        await self.engine.stop()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self.lock.release()
