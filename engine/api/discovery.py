"""Finding the engine that runs on a state directory, without loading the engine itself (CLI start-up)."""

from __future__ import annotations

import fcntl
import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING

from engine.accounts import DEFAULT_SHARED_SOCKET
from engine.api.tokens import read_owner_token
from engine.errors import EngineUnavailable

if TYPE_CHECKING:
    from engine.api.client import HttpClient

SOCKET_NAME = "engine.sock"
LOCK_NAME = "engine.lock"


def engine_running(state_dir: Path) -> bool:
    """True when a process holds the state directory's engine lock."""
    path = state_dir / LOCK_NAME
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def attach(state_dir: Path, user: str | None = None, token: str | None = None) -> HttpClient:
    """A client of the engine running on `state_dir`, or a clear error saying how to start one.

    It presents `token` (a user's own: `jobtui --token FILE`, or `$JOBTUI_TOKEN`), else the owner's token
    from the state directory; the engine knows the user by the token alone. A shared engine (the socket in
    $JOBTUI_SOCKET, or this machine's shared socket when no engine of one's own runs) needs no token: it
    knows each caller by the kernel's peer credentials.
    """
    shared = shared_socket()
    if shared is not None:
        return _client(shared, token, user)
    sock = state_dir / SOCKET_NAME
    try:
        running = engine_running(state_dir) and sock.exists()
    except PermissionError as e:
        raise EngineUnavailable(
            f"cannot reach the engine on {state_dir}: permission denied ({e.filename}); "
            "its state directory is its owner's alone.",
            title="Cannot reach the engine",
        ) from e
    if not running and DEFAULT_SHARED_SOCKET.exists():
        return _client(DEFAULT_SHARED_SOCKET, token, user)  # this machine's shared engine knows us by our uid
    if not running:
        raise EngineUnavailable(
            f"no jobtui engine is running on {state_dir}. Start one with `jobtui --serve` "
            f"(add --state-dir {state_dir} if it is not the default), or run `jobtui` to open the TUI with its own."
        )
    if token is None:
        token = read_owner_token(state_dir)
    if token is None:
        raise EngineUnavailable(
            f"the engine on {state_dir} runs, but its owner's token there cannot be read; "
            "give your own with --token FILE or $JOBTUI_TOKEN (the owner issues it: `jobtui token USER`).",
            title="No token",
        )
    return _client(sock, token, user)


def shared_engine_reachable() -> bool:
    """Is a shared engine named ($JOBTUI_SOCKET) or serving this machine at its well-known socket?"""
    return shared_socket() is not None or DEFAULT_SHARED_SOCKET.exists()


def shared_socket() -> Path | None:
    """The socket named by $JOBTUI_SOCKET: a shared engine, which knows each caller by the kernel's word."""
    value = os.environ.get("JOBTUI_SOCKET")
    return Path(value) if value else None


def _client(sock: Path, token: str | None, user: str | None) -> HttpClient:
    from engine.api.client import HttpClient  # here, so that hosting an engine never loads an HTTP client

    return HttpClient(sock, token, user or getpass.getuser())
