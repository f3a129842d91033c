"""Handlers of the verbs that act on the queue: cancel, approve, reject, requeue, priority, limits and reports."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from engine.errors import EngineUnavailable
from tui.cli import gpu_verbs
from tui.cli.output import as_json, waiting_lines
from tui.cli.sanitize import say, visible
from tui.cli.tables import print_table

if TYPE_CHECKING:
    from engine.api.client import EngineClient, HttpClient


async def _each(args: argparse.Namespace, action: Callable[[int], Awaitable[dict[str, Any]]], done: str) -> int:
    """`action` on every id of `args.ids`, one line each (`done` says what was done: "cancelled"); a failure
    is reported on stderr and does not stop the rest."""
    results, failed = [], 0
    for job_id in args.ids:
        try:
            job = await action(job_id)
            results.append({"id": job_id, "ok": True, "status": job["status"], "message": job["message"]})
            if not args.json:
                say(confirmation(done, job))
        except EngineUnavailable:
            raise
        except Exception as e:  # report each id, carry on with the rest
            failed += 1
            results.append({"id": job_id, "ok": False, "error": str(e)})
            if not args.json:
                say(f"jobtui: {about_job(job_id, str(e))}", err=True)
    if args.json:
        print(as_json(results))
    elif failed and len(args.ids) > 1:
        say(f"jobtui: {failed} of {len(args.ids)} job(s) not {done}; see above.", err=True)
    return 1 if failed else 0


def confirmation(done: str, job: dict[str, Any]) -> str:
    """What was done to which job, and where that left it (`approved job 7 (train); now waiting`); a
    rejection with its message (who, and the reason given)."""
    name = f" ({visible(job['name'])})" if job.get("name") else ""
    now = "" if job["status"] == done else f"; now {visible(job['status'])}"
    why = f": {visible(job['message'])}" if done == "rejected" and job.get("message") else ""
    return f"{done} job {job['id']}{name}{now}{why}"


def about_job(job_id: int, error: str) -> str:
    """`error` about job `job_id`, naming the job once: the engine's own messages name it already."""
    text = visible(error)
    return text if text.startswith((f"job {job_id} ", f"job {job_id}:", f"job {job_id};")) else f"job {job_id}: {text}"


async def cmd_cancel(client: EngineClient, args: argparse.Namespace) -> int:
    return await _each(args, client.cancel, "cancelled")


async def cmd_approve(client: EngineClient, args: argparse.Namespace) -> int:
    return await _each(args, client.approve, "approved")


async def cmd_requeue(client: EngineClient, args: argparse.Namespace) -> int:
    return await _each(args, client.requeue, "requeued")


async def cmd_reject(client: EngineClient, args: argparse.Namespace) -> int:
    return await _each(args, lambda job_id: client.reject(job_id, args.reason), "rejected")


def _report(result: Any, args: argparse.Namespace) -> int:
    """A dict as aligned `key  value` lines (JSON with --json); anything else as JSON."""
    if args.json or not isinstance(result, dict):
        print(as_json(result))
    else:
        say(key_values(result))
    return 0


def key_values(result: dict[str, Any]) -> str:
    """Aligned `key  value` lines; a nested mapping as `k v, k v` and a list as its items, on the same line."""
    width = max(map(len, result)) if result else 0
    return "\n".join(f"{visible(key):<{width}}  {inline(value)}" for key, value in result.items())


def inline(value: Any) -> str:
    """One value of a report on one line: `on`/`off` for a flag, `-` for nothing."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, dict):
        return ", ".join(f"{visible(k)} {inline(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(inline(v) for v in value) or "-"
    return "-" if value is None else visible(value)


async def cmd_stats(client: EngineClient, args: argparse.Namespace) -> int:
    return _report(await client.stats(), args)


async def cmd_me(client: EngineClient, args: argparse.Namespace) -> int:
    """Who you are, your counts, then your running and pending jobs, one line each."""
    me = await client.me()
    if args.json:
        print(as_json(me))
        return 0
    jobs = {"running": me.pop("running_jobs", []), "pending": me.pop("pending_jobs", [])}
    allowed = me.pop("capabilities", {})
    me["may"] = [name.replace("_", " ") for name, yes in allowed.items() if yes]
    say(key_values(me))
    for kind, rows in jobs.items():
        if rows:
            say(f"\n{kind}:")
            print_table(rows, ["id", "name", "status", "priority", "node", "progress.percent", "elapsed"])
    return 0


async def cmd_position(client: EngineClient, args: argparse.Namespace) -> int:
    position = await client.position(args.id)
    waiting = (await client.job(args.id))["job"].get("waiting")
    if args.json:
        print(as_json({"id": args.id, "position": position, "waiting": waiting}))
        return 0
    if position is None and waiting is None:
        say(f"job {args.id} is not waiting in the queue (position -); `jobtui show {args.id}` says where it is.")
    elif position is None:
        say(f"job {args.id} is not in the ready queue yet")
    else:
        say(f"job {args.id}: position {position} in the queue")
    for line in waiting_lines(waiting):
        say(line)
    return 0


async def cmd_priority(client: EngineClient, args: argparse.Namespace) -> int:
    job = await client.set_priority(args.id, args.priority)
    if args.json:
        print(as_json(job))
    else:
        say(f"set the priority of job {job['id']} ({visible(job['name'])}) to {job['priority']}")
    return 0


async def cmd_cleanup(client: EngineClient, args: argparse.Namespace) -> int:
    deleted = await client.cleanup(args.days)
    if args.json:
        print(as_json({"deleted": deleted}))
    else:
        say(f"deleted {deleted} ended job(s) older than {args.days:g} day(s), with their output")
    return 0


async def cmd_concurrency(client: EngineClient, args: argparse.Namespace) -> int:
    changes = {
        "max_concurrent": args.max_concurrent,
        "user_max_concurrent": args.user_max_concurrent,
        "team_max_concurrent": args.team_max_concurrent,
        "fair_share": None if args.fair_share is None else args.fair_share == "on",
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    changes.update(gpu_verbs.concurrency_changes(args))
    return _report(await (client.set_limits(changes) if changes else client.limits()), args)


async def cmd_token(client: HttpClient, args: argparse.Namespace) -> int:
    result = await client._call("POST", "/api/tokens", json={"user": args.user})  # HTTP only: tokens are for remote use
    if args.json:
        print(as_json(result))
    else:
        say(visible(result["token"]))
    return 0
