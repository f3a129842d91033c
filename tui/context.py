"""Which engine this process works with: config, state directory and token from the command line, then
attach or host.

Identity: a process presents the token of `--token FILE`, else the token in `$JOBTUI_TOKEN`, else the
owner's own (`<state dir>/owner.token`). A token is never a command-line value: those are visible to
every user of the machine (`ps`), so it comes from a file or from the environment.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from engine.api.client import EngineClient
from engine.api.discovery import SOCKET_NAME, attach, engine_running, shared_engine_reachable
from engine.config import Config, load_config, resolve_state_dir
from engine.errors import ConfigError

TOKEN_ENV = "JOBTUI_TOKEN"
_TOKEN = re.compile(r"[\x21-\x7e]{1,4096}")  # one word of printable ASCII: it goes into an HTTP header


def load_context(args: argparse.Namespace) -> tuple[Config, Path]:
    path = getattr(args, "config", None)
    try:
        config = load_config(path)
    except (UnicodeDecodeError, RecursionError, ValueError, OverflowError) as e:
        # what the config loader leaves unnamed: text that is not UTF-8, nesting too deep, a bad \U escape
        raise ConfigError(f"{path}: cannot read the config file ({_why(e)}); fix it or give another --config.") from e
    return config, resolve_state_dir(getattr(args, "state_dir", None), config)


def _why(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 text: byte 0x{error.object[error.start]:02x} at offset {error.start}"
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return " ".join(str(error).split()) or type(error).__name__


def load_token(args: argparse.Namespace) -> str | None:
    """The token of `--token FILE`, else of `$JOBTUI_TOKEN`; None: the owner's token file."""
    path: Path | None = getattr(args, "token", None)
    if path is not None:
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            why = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
            raise ConfigError(f"--token {path}: cannot read the token file ({why}); check the path.") from e
        if not _TOKEN.fullmatch(token):
            raise ConfigError(f"--token {path}: the file does not hold a token (one line, as `jobtui token` prints).")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        return None
    if not _TOKEN.fullmatch(token):
        raise ConfigError(f"${TOKEN_ENV} does not hold a token (one word, as `jobtui token` prints).")
    return token


async def host_or_attach(config: Config, state_dir: Path, token: str | None = None) -> tuple[EngineClient, Any]:
    """Attach to the engine running on `state_dir`, or host one in this process (returned second).

    With a `token` (another user's), or where a shared engine serves this machine, only attach: an engine
    hosted here would be this user's own.
    """
    if token is not None or engine_running(state_dir) or shared_engine_reachable():
        return attach(state_dir, token=token), None
    from engine.api.daemon import EngineHost

    host = EngineHost(config, state_dir)
    await host.start()
    return host.client(), host


def start_daemon(state_dir: Path, config_path: Path | None, wait: float = 10.0) -> int | None:
    """Start `jobtui --serve` detached on `state_dir` (its own session, output to serve.log); its pid once it
    serves, else None (`wait` seconds passed: the log says why)."""
    argv = [sys.executable, "-m", "tui.cli", "--serve", "--state-dir", str(state_dir)]
    if config_path:
        argv += ["--config", str(config_path)]
    with open(state_dir / "serve.log", "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        if engine_running(state_dir) and (state_dir / SOCKET_NAME).exists():
            return proc.pid
        time.sleep(0.1)
    return None
