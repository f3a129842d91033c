"""`jobtui doctor`: what this installation is, check by check, and what to do where one is not ok.

Config, mode, state directory, the engine on it (its API and who you are to it), every node, cgroups,
GPUs and tools. Each check is ok, warn, fail or skip, with one line of detail; the exit code is 1 when
one failed. A check that breaks is a failed check, never a traceback. Textual is not loaded.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable
from pathlib import Path

from engine.config import Config, resolve_state_dir
from engine.errors import ConfigError
from tui.cli import doctor_checks as system
from tui.cli.doctor_checks import Check, failed, guarded, one_line
from tui.cli.doctor_engine import engine
from tui.cli.doctor_nodes import nodes
from tui.cli.output import as_json
from tui.cli.sanitize import say, visible
from tui.context import load_context


async def cmd_doctor(args: argparse.Namespace) -> int:
    checks = await run_checks(args)
    if args.json:
        print(as_json({"ok": not _failed(checks), "checks": [c.data() for c in checks]}))
    else:
        say(render(checks))
    return 1 if _failed(checks) else 0


async def run_checks(args: argparse.Namespace) -> list[Check]:
    """Every check, in the order they are shown."""
    config, config_check = _config(args)
    state_dir = resolve_state_dir(getattr(args, "state_dir", None), config or Config())
    checks = [guarded("jobtui", system.version), config_check]
    checks.append(guarded("mode", lambda: system.mode(config)) if config else Check("mode", "skip", "no config"))
    checks.append(guarded("state dir", lambda: system.state_dir(state_dir, config)))
    engine_checks, node_checks = await asyncio.gather(
        _guarded_many("engine", engine(state_dir, config, args)),
        _guarded_many("nodes", nodes(config)) if config else _skipped("nodes", "no config"),
    )
    checks += engine_checks + node_checks
    checks.append(guarded("cgroups v2", system.cgroups))
    checks.append(guarded("containment", lambda: system.containment(config)))
    checks.append(guarded("gpus", lambda: system.gpus(config)))
    try:
        checks += system.tools(config)
    except Exception as e:
        checks.append(failed("tools", e))
    return checks


def render(checks: list[Check]) -> str:
    """An aligned table (every cell made safe for a terminal) and a count by status."""
    rows = [(visible(c.name), c.status, visible(c.detail)) for c in checks]
    name_w = max(len("CHECK"), *(len(r[0]) for r in rows))
    lines = [f"{'CHECK':<{name_w}}  STATUS  DETAIL"]
    lines += [f"{name:<{name_w}}  {status:<6}  {detail}" for name, status, detail in rows]
    counts = {s: sum(c.status == s for c in checks) for s in ("ok", "warn", "fail", "skip")}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return "\n".join(lines)


def _failed(checks: list[Check]) -> bool:
    return any(c.status == "fail" for c in checks)


def _config(args: argparse.Namespace) -> tuple[Config | None, Check]:
    path: Path | None = getattr(args, "config", None)
    where = str(path) if path else "the embedded default (no --config given)"
    try:
        config, _ = load_context(args)
    except ConfigError as e:
        return None, Check("config", "fail", one_line(e.message))
    except Exception as e:
        return None, failed("config", e)
    kinds = ", ".join(f"{n.name} ({n.kind})" for n in config.nodes)
    return config, Check("config", "ok", f"{where}: parses; mode {config.mode}; nodes {kinds}")


async def _guarded_many(name: str, checks: Awaitable[list[Check]]) -> list[Check]:
    try:
        return await checks
    except Exception as e:
        return [failed(name, e)]


async def _skipped(name: str, why: str) -> list[Check]:
    return [Check(name, "skip", why)]
