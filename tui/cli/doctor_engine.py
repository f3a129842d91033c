"""`jobtui doctor`'s engine checks: is an engine there, does its API answer, and who are you to it.

It attaches as the verbs do (`discovery.attach`): to the engine running on the state directory, else to a
shared engine's socket ($JOBTUI_SOCKET, or the config's `shared: socket:`), presenting the same token.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import __version__
from engine.api.discovery import SOCKET_NAME, attach, engine_running
from engine.config import Config
from engine.errors import JobTuiError
from tui.cli.doctor_checks import Check, one_line
from tui.context import TOKEN_ENV, load_token

if TYPE_CHECKING:
    from engine.api.client import HttpClient

API_TIMEOUT = 5.0
SOCKET_ENV = "JOBTUI_SOCKET"


async def engine(state_dir: Path, config: Config | None, args: argparse.Namespace) -> list[Check]:
    """Two checks: `engine` (running, its API version) and `identity` (the user and role it sees)."""
    try:
        running = engine_running(state_dir)
        unreadable = ""
    except PermissionError:
        running, unreadable = False, f"{state_dir} is another user's (permission denied); "
    shared = [s for s in shared_sockets(config) if s.exists()]
    if not running and not shared:
        where = ", ".join(str(s) for s in shared_sockets(config))
        return [
            Check(
                "engine",
                "warn",
                f"{unreadable}none runs on {state_dir}, and no shared engine at {where}; start one with "
                "`jobtui --serve` (or `jobtui`, which hosts one while it is open)",
            ),
            Check("identity", "skip", "no engine to ask"),
        ]
    try:  # no token to present (a bad --token file, the owner's unreadable) is the identity's failure
        client = attach(state_dir, token=load_token(args))
    except JobTuiError as e:
        there = f"runs on {state_dir}" if running else f"a shared engine's socket is at {shared[0]}"
        return [Check("engine", "ok", f"{there} (its API not asked)"), Check("identity", "fail", one_line(e.message))]
    try:
        return await _ask_engine(client, state_dir, args)
    finally:
        await client.close()


def shared_sockets(config: Config | None) -> list[Path]:
    """Where a shared engine would listen: $JOBTUI_SOCKET, then the config's `shared: socket:`."""
    named = os.environ.get(SOCKET_ENV)
    return [*([Path(named)] if named else []), (config or Config()).shared.socket]


async def _ask_engine(client: HttpClient, state_dir: Path, args: argparse.Namespace) -> list[Check]:
    where = client.where
    health = await _ask("engine", client.health(), where, "see the engine's log")
    if isinstance(health, Check):
        return [health, Check("identity", "skip", "the engine did not answer")]
    found = _health(health, where)
    own = where == str(state_dir / SOCKET_NAME)
    source = _token_source(args, state_dir) if own else "your Unix user (the shared socket's peer credentials)"
    fix = (
        f"{source} is not one it knows; ask an admin for a token of your own (`jobtui token USER`)"
        if own
        else "ask the engine's admin to add your account"
    )
    me = await _ask("identity", client.me(), where, fix)
    if isinstance(me, Check):
        return [found, me]
    team = f", team {me['team']}" if me.get("team") else ""
    return [found, Check("identity", "ok", f"you are {me['user']} ({me['role']}{team}), by {source}")]


def _health(health: dict[str, Any], where: str) -> Check:
    found = f"runs at {where} (pid {health.get('pid')}), API {health.get('version')}"
    if health.get("version") != __version__:
        return Check("engine", "warn", f"{found}, but this jobtui is {__version__}: restart the engine to match")
    return Check("engine", "ok", found)


async def _ask(name: str, call: Awaitable[dict[str, Any]], where: str, fix: str) -> dict[str, Any] | Check:
    """The answer of `call`, or a failed check saying why there is none, and `fix`."""
    try:
        return await asyncio.wait_for(call, API_TIMEOUT)
    except TimeoutError:
        return Check(name, "fail", f"the engine at {where} gave no answer in {API_TIMEOUT:g} s; see its log")
    except JobTuiError as e:
        return Check(name, "fail", f"the engine at {where} said: {one_line(e.message)}; {fix}")


def _token_source(args: argparse.Namespace, state_dir: Path) -> str:
    path = getattr(args, "token", None)
    if path is not None:
        return f"the token of --token {path}"
    if os.environ.get(TOKEN_ENV, "").strip():
        return f"the token in ${TOKEN_ENV}"
    return f"the owner's token ({state_dir}/owner.token)"
