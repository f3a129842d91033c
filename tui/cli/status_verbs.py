"""Handlers of the verbs that look at the engine: nodes, events (the event stream, `-f` to follow) and history."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from engine.errors import ValidationError
from tui.cli.output import as_json, cell, duration
from tui.cli.sanitize import say, visible
from tui.cli.tables import print_table

if TYPE_CHECKING:
    from engine.api.client import EngineClient
    from engine.events import Event

RECENT_EVENTS = 50  # `jobtui events` without --since: this many of the latest


def add_events_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--follow", action="store_true", help="keep following new events until Ctrl-C")
    p.add_argument(
        "--since",
        type=int,
        metavar="SEQ",
        help=f"the events after number SEQ (default: the last {RECENT_EVENTS}; with -f, from now)",
    )


async def cmd_nodes(client: EngineClient, args: argparse.Namespace) -> int:
    nodes = await client.nodes()
    if args.json:
        print(as_json(nodes))
        return 0
    if not nodes:
        say("no nodes: the config names none (see sample_configs/ for local, SSH and cluster nodes)")
        return 0
    print_table([node_row(n) for n in nodes], ["name", "kind", "state", "cores", "memory", "running", "gpus", "labels"])
    return 0


def node_row(node: dict[str, Any]) -> dict[str, Any]:
    """A node record as the columns of `jobtui nodes`: use out of capacity, up or down."""
    gpus = node.get("gpus") or []
    held = len(node.get("gpu_holders") or {})
    mem = node.get("mem_mb") or 0
    return {
        "name": node["name"],
        "kind": node.get("kind"),
        "state": "up" if node.get("reachable") else "down",
        "cores": f"{node.get('used_cores', 0)}/{node.get('cores', 0)}",
        "memory": f"{_gib(node.get('used_mem_mb') or 0)}/{_gib(mem)} GiB" if mem else "-",
        "running": node.get("running", 0),
        "gpus": f"{held}/{len(gpus)}" if gpus else "-",
        "labels": node.get("labels") or None,
    }


def _gib(mb: int) -> str:
    return f"{mb / 1024:.0f}" if mb >= 10 * 1024 else f"{mb / 1024:.1f}"


async def cmd_history(client: EngineClient, args: argparse.Namespace) -> int:
    detail = await client.job(args.id)
    if args.json:
        print(as_json({"job_id": args.id, "events": detail["events"], "attempts": detail["attempts"]}))
        return 0
    job = detail["job"]
    say(f"job {job['id']} ({visible(job['name'])}) [{visible(job['status'])}]: {len(detail['events'])} change(s)")
    rows = [
        {
            "at": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["at"])),
            "event": e["kind"],
            "change": f"{e['from_status'] or '-'} -> {e['to_status']}",
            "by": e["actor"],
            "message": e["message"] or e.get("reason") or None,
        }
        for e in detail["events"]
    ]
    print_table(rows, ["at", "event", "change", "by", "message"])
    for attempt in detail["attempts"]:
        say(attempt_line(attempt))
    return 0


def attempt_line(attempt: dict[str, Any]) -> str:
    """One attempt on one line: `attempt 2 on local: finished, exit 0, 4m17s: why`."""
    start, end = attempt.get("started_at"), attempt.get("finished_at")
    took = f", {duration(end - start)}" if start is not None and end is not None else ""
    why = f": {cell(attempt['message'])}" if attempt.get("message") else ""
    head = f"attempt {attempt['number']} on {cell(attempt['node'])}: {cell(attempt['status'])}"
    return f"{head}, exit {cell(attempt['exit_code'])}{took}{why}"


async def cmd_events(client: EngineClient, args: argparse.Namespace) -> int:
    """The events after --since (default: the latest few), to now; with -f, and every new one until Ctrl-C.

    One line per event for people; with --json one JSON object per line (`seq`, `kind` and the event's data),
    for `jq`. A node's samples are shown when its reachability changes, not at every sample."""
    if args.since is not None and args.since < 0:
        raise ValidationError("--since takes an event number, 0 or more (`jobtui events` shows them).")
    now = int((await client.snapshot(limit=0))["seq"])
    since = args.since if args.since is not None else (now if args.follow else max(0, now - RECENT_EVENTS))
    if since >= now and not args.follow:
        if not args.json:
            say(f"no events after {since} (the latest is {now}); `jobtui events -f` waits for new ones", err=True)
        return 0
    shown = _EventLines(args.json)
    async for event in client.events(since):
        shown.write(event)
        if not args.follow and event.seq >= now:
            break
    return 0


class _EventLines:
    """Events as lines on stdout, flushed one by one (a follower reads them as they come)."""

    def __init__(self, as_json_lines: bool) -> None:
        self.as_json_lines = as_json_lines
        self.reachable: dict[str, bool] = {}
        self.last_line: dict[int, str] = {}  # per job: a change that shows nothing new (its output grew) is skipped

    def write(self, event: Event) -> None:
        if self.as_json_lines:
            print(json.dumps({"seq": event.seq, "kind": event.kind, **event.data()}, default=str))
        else:
            line = self.describe(event)
            if line is None:
                return
            data = event.data()
            at = data.get("updated_at") if event.kind == "job_changed" else None
            say(f"{event.seq:>7}  {time.strftime('%H:%M:%S', time.localtime(at))}  {line}")
        sys.stdout.flush()

    def describe(self, event: Event) -> str | None:
        data = event.data()
        if event.kind == "job_changed":
            line = _job_line(data)
            if self.last_line.get(data["id"]) == line:
                return None
            self.last_line[data["id"]] = line
            return line
        if event.kind == "job_removed":
            ids = data.get("ids") or []
            return f"removed job(s) {', '.join(map(str, ids))}"
        if event.kind == "nodes_sampled":
            node, up = str(data.get("node")), bool(data.get("reachable"))
            if self.reachable.get(node) == up:
                return None
            self.reachable[node] = up
            why = f": {visible(data['reason'])}" if not up and data.get("reason") else ""
            return f"node {visible(node)} {'up' if up else 'down'}{why}"
        if event.kind == "resync":
            return f"events were missed ({visible(data.get('reason', ''))}); `jobtui list` shows where things are now"
        if "job_id" in data:
            return f"job {data['job_id']}: {visible(event.kind.replace('_', ' '))}"
        return f"{visible(event.kind.replace('_', ' '))}: {_fields(data)}"


def _job_line(job: dict[str, Any]) -> str:
    node = f" on {visible(job['node'])}" if job.get("node") and job.get("status") in ("starting", "running") else ""
    message = f" ({visible(job['message'])})" if job.get("message") else ""
    percent = (job.get("progress") or {}).get("percent")
    progress = f" {percent:.0f}%" if isinstance(percent, (int, float)) and job.get("status") == "running" else ""
    status = visible(job.get("status", ""))
    return f"job {job.get('id')} ({visible(job.get('name', ''))}) {status}{node}{progress}{message}"


def _fields(data: dict[str, Any]) -> str:
    limits = data.get("limits")
    values: dict[str, Any] = limits if isinstance(limits, dict) else data
    return ", ".join(f"{visible(k)} {visible(v)}" for k, v in values.items())
