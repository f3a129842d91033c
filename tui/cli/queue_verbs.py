"""Handlers of the verbs that act on the queue: cancel, approve, reject, requeue, priority, limits and reports."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from engine.errors import EngineUnavailable
from tui.cli.output import as_json
from tui.cli.sanitize import say, visible

if TYPE_CHECKING:
    from engine.api.client import EngineClient, HttpClient


async def _each(args: argparse.Namespace, action: Callable[[int], Awaitable[dict[str, Any]]]) -> int:
    """`action` on every id of `args.ids`; each one is reported, and a failure does not stop the rest."""
    results, failed = [], 0
    for job_id in args.ids:
        try:
            job = await action(job_id)
            results.append({"id": job_id, "ok": True, "status": job["status"], "message": job["message"]})
        except EngineUnavailable:
            raise
        except Exception as e:  # report each id, carry on with the rest
            failed += 1
            results.append({"id": job_id, "ok": False, "error": str(e)})
    for r in results if not args.json else []:
        if r["ok"]:
            say(f"job {r['id']}: {visible(r['status'])} {visible(r['message'])}".rstrip())
        else:
            say(f"job {r['id']}: {visible(r['error'])}", err=True)
    if args.json:
        print(as_json(results))
    return 1 if failed else 0


async def cmd_cancel(client: EngineClient, args: argparse.Namespace) -> int:
    return await _each(args, client.cancel)


async def cmd_approve(client: EngineClient, args: argparse.Namespace) -> int:
    return await _each(args, client.approve)


async def cmd_requeue(client: EngineClient, args: argparse.Namespace) -> int:
    return await _each(args, client.requeue)


async def cmd_reject(client: EngineClient, args: argparse.Namespace) -> int:
    return await _each(args, lambda job_id: client.reject(job_id, args.reason))


def _report(result: Any, args: argparse.Namespace) -> int:
    """A dict as aligned `key  value` lines (JSON with --json); anything else as JSON."""
    if args.json or not isinstance(result, dict):
        print(as_json(result))
    else:
        width = max(map(len, result)) if result else 0
        for key, value in result.items():
            say(f"{visible(key):<{width}}  {visible(value) if not isinstance(value, (dict, list)) else as_json(value)}")
    return 0


async def cmd_stats(client: EngineClient, args: argparse.Namespace) -> int:
    return _report(await client.stats(), args)


async def cmd_me(client: EngineClient, args: argparse.Namespace) -> int:
    return _report(await client.me(), args)


async def cmd_position(client: EngineClient, args: argparse.Namespace) -> int:
    return _report({"id": args.id, "position": await client.position(args.id)}, args)


async def cmd_priority(client: EngineClient, args: argparse.Namespace) -> int:
    return _report(await client.set_priority(args.id, args.priority), args)


async def cmd_cleanup(client: EngineClient, args: argparse.Namespace) -> int:
    return _report({"deleted": await client.cleanup(args.days)}, args)


async def cmd_concurrency(client: EngineClient, args: argparse.Namespace) -> int:
    changes = {
        "max_concurrent": args.max_concurrent,
        "user_max_concurrent": args.user_max_concurrent,
        "team_max_concurrent": args.team_max_concurrent,
        "fair_share": None if args.fair_share is None else args.fair_share == "on",
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    return _report(await (client.set_limits(changes) if changes else client.limits()), args)


async def cmd_token(client: HttpClient, args: argparse.Namespace) -> int:
    result = await client._call("POST", "/api/tokens", json={"user": args.user})  # HTTP only: tokens are for remote use
    if args.json:
        print(as_json(result))
    else:
        say(visible(result["token"]))
    return 0
