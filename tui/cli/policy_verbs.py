"""Handlers of the policy verbs: `approvals` (what waits for me to approve) and `fairshare` (usage and shares);
and the environment a submission sends (`--clean-env` sends none)."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from tui.cli.output import as_json, table
from tui.cli.sanitize import say

if TYPE_CHECKING:
    from engine.api.client import EngineClient


def sent_environment(args: argparse.Namespace) -> dict[str, str] | None:
    """This process's environment, sent with a submission (the engine drops the deny-listed names); None with
    `--clean-env`: the jobs start from the engine's base environment."""
    return None if getattr(args, "clean_env", False) else dict(os.environ)


def add_clean_env(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--clean-env",
        action="store_true",
        help="do not send this shell's environment: jobs start from the engine's (a login environment in shared "
        "mode), plus their own env",
    )


async def cmd_approvals(client: EngineClient, args: argparse.Namespace) -> int:
    jobs = await client.approvals()
    if args.json:
        print(as_json(jobs))
        return 0
    if not jobs:
        say("nothing awaits your approval.")
        return 0
    rows = [
        {
            "id": j["id"],
            "name": j["name"],
            "user": j["user"],
            "team": j["team"],
            "rule": (j.get("extra") or {}).get("approval_rule") or "(asked by submitter)",
            "message": j["message"],
        }
        for j in jobs
    ]
    say(table(rows, ["id", "name", "user", "team", "rule", "message"]))
    say("approve with `jobtui approve ID...`, or refuse with `jobtui reject ID... --reason TEXT`.")
    return 0


async def cmd_fairshare(client: EngineClient, args: argparse.Namespace) -> int:
    report: dict[str, Any] = await client.fairshare()
    if args.json:
        print(as_json(report))
        return 0
    state = "on" if report["enabled"] else "off (set fairshare: enabled: true in the config)"
    say(f"fair share over time: {state}; half-life {report['half_life_hours']:g} h, weight {report['weight']}")
    if report["teams"]:
        say(table(report["teams"], ["team", "share", "usage", "factor"]))
    if report["users"]:
        say(table(report["users"], ["user", "team", "share", "usage", "factor", "bonus"]))
    else:
        say("no usage yet, and no jobs queued.")
    return 0
