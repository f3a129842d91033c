"""`jobtui metrics [--since 7d] [--by user|team|node|tag]`: the engine's figures over a window, as a table of
groups (or one column overall), or JSON with --json."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from tui.cli.output import as_json, duration, table
from tui.cli.sanitize import say

if TYPE_CHECKING:
    from engine.api.client import EngineClient

COLUMNS = ["group", "ended", "success", "p95 run", "avg run", "avg wait", "per hour", "core-h", "util", "gpu-h"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", default="7d", help="the window: 90m, 12h, 7d, 2w (default 7d)")
    p.add_argument("--by", choices=["user", "team", "node", "tag"], help="one line per user, team, node or tag")


async def cmd_metrics(client: EngineClient, args: argparse.Namespace) -> int:
    result = await client.metrics(args.since, args.by)
    if args.json:
        print(as_json(result))
        return 0
    rows = [_row("all", result["overall"])]
    rows += [_row(name or "-", figures) for name, figures in sorted((result.get("groups") or {}).items())]
    say(f"metrics of the last {duration(result['window_seconds'])}")
    say(table(rows, COLUMNS))
    errors = result["overall"]["errors_by_reason"]
    if errors:
        say("errors: " + ", ".join(f"{reason} {count}" for reason, count in errors.items()))
    licences = result["overall"]["licence_hours"]
    if licences:
        say("licence-hours: " + ", ".join(f"{pool} {hours:.2f}" for pool, hours in licences.items()))
    return 0


def _row(group: str, f: dict[str, Any]) -> dict[str, Any]:
    def seconds(value: float | None) -> str:
        return "-" if value is None else duration(value)

    def share(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    return {
        "group": group,
        "ended": f["ended"],
        "success": share(f["success_rate"]),
        "p95 run": seconds(f["run_seconds"]["p95"]),
        "avg run": seconds(f["run_seconds"]["avg"]),
        "avg wait": seconds(f["wait_seconds"]["avg"]),
        "per hour": f"{f['throughput_per_hour']:.2f}",
        "core-h": f"{f['core_hours']:.2f}",
        "util": share(f["utilisation"]),
        "gpu-h": f"{f['gpu_hours']:.2f}",
    }
