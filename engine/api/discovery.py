"""Finding the engine that runs on a state directory, without loading the engine itself (CLI start-up)."""

from __future__ import annotations

import fcntl
import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING

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


def attach(state_dir: Path, user: str | None = None) -> HttpClient:
    """A client of the engine running on `state_dir`, or a clear error saying how to start one."""
    token = read_owner_token(state_dir)
    sock = state_dir / SOCKET_NAME
    if not engine_running(state_dir) or token is None or not sock.exists():
        raise EngineUnavailable(
            f"no jobtui engine is running on {state_dir}. Start one with `jobtui --serve` "
            f"(add --state-dir {state_dir} if it is not the default), or run `jobtui` to open the TUI with its own."
        )
    from engine.api.client import HttpClient  # here, so that hosting an engine never loads an HTTP client

    return HttpClient(sock, token, user or getpass.getuser())
