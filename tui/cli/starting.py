"""A verb run while the engine is still starting (it holds the state directory, loading its store, and
serves no socket yet) waits for it, saying so, instead of reporting no engine at all.
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

from engine.errors import EngineUnavailable, ValidationError
from tui.cli.sanitize import say

START_WAIT_ENV = "JOBTUI_START_WAIT"
DEFAULT_START_WAIT = 60.0  # seconds: a store of some 100,000 jobs loads in well under this
POLL = 0.1


async def wait_while_starting(state_dir: Path) -> None:
    """Return at once where no engine is starting on `state_dir`; else once it serves (or stops: attaching
    then says there is none), or raise after `$JOBTUI_START_WAIT` seconds."""
    from engine.api.discovery import shared_socket
    from engine.api.starting import stored_jobs

    if shared_socket() is not None or not starting(state_dir):
        return
    limit = start_wait()
    jobs = stored_jobs(state_dir)
    loading = f"loading {jobs:,} jobs" if jobs is not None else "loading its jobs"
    say(f"jobtui: the engine on {state_dir} is starting ({loading}); waiting up to {limit:g} s for it...", err=True)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while starting(state_dir):
        if loop.time() >= deadline:
            raise EngineUnavailable(
                f"the engine on {state_dir} is still starting after {limit:g} s ({loading}). Try again in a "
                f"moment, or wait longer with {START_WAIT_ENV}=SECONDS.",
                title="Engine still starting",
            )
        await asyncio.sleep(POLL)


def starting(state_dir: Path) -> bool:
    """An engine holds `state_dir` and its socket is not there yet, or is one an engine killed before left
    behind (it refuses connections until the starting engine replaces it)."""
    from engine.api.discovery import SOCKET_NAME, engine_running
    from engine.api.starting import engine_starting

    if engine_starting(state_dir):
        return True
    try:
        return engine_running(state_dir) and not _accepts(state_dir / SOCKET_NAME)
    except OSError:  # not ours to read: attaching says so
        return False


def _accepts(path: Path) -> bool:
    """Does a server listen on the Unix socket `path` (it may not serve yet: the connection then waits)?"""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except OSError:
            return True  # something else (a full backlog, a timeout): let the call itself say
        return True


def start_wait() -> float:
    """`$JOBTUI_START_WAIT` (seconds), else the default."""
    text = os.environ.get(START_WAIT_ENV, "").strip()
    if not text:
        return DEFAULT_START_WAIT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise ValidationError(f"${START_WAIT_ENV}={text!r}: give a number of seconds, 0 or more.")
    return value
