"""`jobtui notify test HOOK`: send one sample event to a hook of the config, from here, and say how it went.

The hook is run exactly as the engine runs it (same command environment, body, signature, timeout and
tries), with a made-up job, so a hook can be tried before a real job ends. No engine is needed.
"""

from __future__ import annotations

import argparse
import time

import httpx

from engine.config_hooks import HOOK_EVENTS
from engine.errors import ValidationError
from engine.models import Job, JobStatus
from engine.notify.delivery import deliver
from engine.notify.events import job_event, node_event, workflow_event
from tui.cli.output import as_json
from tui.cli.sanitize import say, visible
from tui.context import load_context


def add_arguments(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    test = actions.add_parser("test", help="send a sample event to HOOK and report the result")
    test.add_argument("hook", metavar="HOOK", help="a hook's name in the config's hooks:")
    test.add_argument("--event", choices=HOOK_EVENTS, help="the sample event's name (default: the hook's first)")


async def cmd_notify(args: argparse.Namespace) -> int:
    config, _ = load_context(args)
    hook = next((h for h in config.hooks if h.name == args.hook), None)
    if hook is None:
        names = ", ".join(h.name for h in config.hooks) or "none"
        raise ValidationError(f"no hook named {args.hook!r} in the config (hooks: {names}); check --config.")
    name = args.event or hook.events[0]
    payload = _sample(name)
    async with httpx.AsyncClient() as http:
        result = await deliver(hook, payload, http)
    if args.json:
        print(
            as_json({"hook": hook.name, "event": name, "ok": result.ok, "detail": result.detail, "tries": result.tries})
        )
    else:
        verdict = "delivered" if result.ok else "NOT delivered"
        say(f"hook {visible(hook.name)}: sample {name} {verdict} ({visible(result.detail)}; {result.tries} tries)")
    return 0 if result.ok else 1


def _sample(name: str) -> dict:
    now = time.time()
    if name == "node_unreachable":
        return node_event(name, "sample-node", now, "a sample event from `jobtui notify test`")
    if name == "workflow_finished":
        return workflow_event(0, "sample-workflow", {"completed": 2, "failed": 1}, now)
    job = Job(0, "sample-job", ["true"], "sample-user", status=_STATUS.get(name, JobStatus.RUNNING), created_at=now,
              tags=["sample"], message="a sample event from `jobtui notify test`")  # fmt: skip
    return {**job_event(name, job, None, now), "test": True}


_STATUS = {
    "job_completed": JobStatus.COMPLETED,
    "job_failed": JobStatus.FAILED,
    "job_skipped": JobStatus.SKIPPED,
    "job_cancelled": JobStatus.CANCELLED,
    "job_retrying": JobStatus.WAITING,
    "approval_needed": JobStatus.BLOCKED,
}
