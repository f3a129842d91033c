"""An engine that is starting: it holds its state directory's lock but serves no socket yet, because it
loads its store first (a minute, for a large one). Clients wait for it instead of calling it absent.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from engine.api.discovery import SOCKET_NAME, engine_running

STORE_NAME = "jobtui.db"  # the engine's store in its state directory (core.engine.Engine opens it)


def engine_starting(state_dir: Path) -> bool:
    """True while an engine holds the lock of `state_dir` and its socket is not there yet."""
    try:
        return engine_running(state_dir) and not (state_dir / SOCKET_NAME).exists()
    except OSError:  # a state directory that is not ours to read: attaching says so
        return False


def engine_serving(state_dir: Path) -> bool:
    """True once the engine of `state_dir` holds its lock and has made its socket."""
    try:
        return engine_running(state_dir) and (state_dir / SOCKET_NAME).exists()
    except OSError:
        return False


def stored_jobs(state_dir: Path) -> int | None:
    """How many jobs the store of `state_dir` holds (what a starting engine loads); None when it cannot say.

    A read-only look (the store is in WAL mode, so it never blocks the engine's own writes); it gives up at
    once, rather than wait, while a migration holds the file.
    """
    path = state_dir / STORE_NAME
    if not path.exists():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=0.2)) as db:
            return int(db.execute("SELECT count(*) FROM jobs").fetchone()[0])
    except (sqlite3.Error, OSError):
        return None
