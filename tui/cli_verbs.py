"""The CLI verbs, each a thin call on an `EngineClient` attached to the running engine."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from engine.api.client import EngineClient, HttpClient
from engine.api.discovery import attach
from engine.errors import EngineUnavailable, ValidationError
from tui.cli_output import DEFAULT_FIELDS, as_json, describe_job, project, table
from tui.context import load_context


def read_job_file(name: str) -> list[dict[str, Any]]:
    """A YAML list of jobs (or `{jobs: [...]}`), or one command per line as GNU parallel reads them."""
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text()
    except OSError as e:
        raise ValidationError(f"{name}: cannot read the job file ({e.strerror}); check the path.") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict) and "jobs" in data:
        data = data["jobs"]
    if isinstance(data, list) and all(isinstance(item, dict) for item in data):
        return [{**item, "workdir": os.path.abspath(item.get("workdir") or ".")} for item in data]
    jobs = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            jobs.append({"command": shlex.split(line), "workdir": os.getcwd()})
        except ValueError as e:
            raise ValidationError(f"{name}:{number}: cannot split this command line ({e}); check its quotes.") from e
    return jobs


def _spec_from_args(args: argparse.Namespace) -> dict[str, Any]:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise ValidationError("no command given; write `jobtui submit [options] -- CMD ARGS...` or use --file.")
    spec: dict[str, Any] = {"command": command, "after": args.after, "tags": args.tag, "workdir": os.getcwd()}
    env = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValidationError(f"--env {item!r}: write it as NAME=VALUE.")
        env[key] = value
    spec["env"] = env
    pairs = {
        "name": args.name,
        "priority": args.priority,
        "cpus": args.cpus,
        "mem_mb": args.mem,
        "gpus": args.gpus,
        "retries": args.retries,
        "timeout": args.timeout,
        "workdir": os.path.abspath(args.workdir) if args.workdir else None,
        "node": args.node,
    }
    spec.update({k: v for k, v in pairs.items() if v is not None})
    if args.requires_approval:
        spec["requires_approval"] = True
    return spec


async def cmd_submit(client: EngineClient, args: argparse.Namespace) -> int:
    specs = read_job_file(args.file) if args.file else [_spec_from_args(args)]
    jobs = await client.submit(specs)
    ids = [j["id"] for j in jobs]
    if args.json:
        print(as_json({"ids": ids}))
    else:
        for job in jobs:
            print(f"submitted job {job['id']} ({job['name']}) [{job['status']}]")
    return 0


async def cmd_wait(client: EngineClient, args: argparse.Namespace) -> int:
    if not args.ids and not args.all:
        raise ValidationError("name the jobs to wait for, or give --all.")
    ids = args.ids or None
    loop = asyncio.get_running_loop()
    deadline = None if args.timeout is None else loop.time() + args.timeout
    while True:
        chunk = 30.0 if deadline is None else max(0.1, min(30.0, deadline - loop.time()))
        result = await client.wait(ids, chunk)
        if ids is None:
            ids = sorted(int(i) for i in result["statuses"])  # --all: the jobs unended when we started
        if result["done"]:
            break
        if deadline is not None and loop.time() >= deadline:
            print(f"jobtui: gave up after {args.timeout:g} s; still pending: {result['pending']}", file=sys.stderr)
            return 1
    statuses = {int(k): v for k, v in result["statuses"].items()}
    if args.json:
        print(as_json(statuses))
    return 0 if all(s == "completed" for s in statuses.values()) else 1


async def cmd_list(client: EngineClient, args: argparse.Namespace) -> int:
    jobs = await client.list_jobs(args.status, args.limit or None, not args.active, args.user)
    fields = args.output.split(",") if args.output else DEFAULT_FIELDS
    if args.json or args.format == "json":
        print(as_json(project(jobs, fields) if args.output else jobs))
    else:
        print(table(jobs, fields))
    return 0


async def cmd_show(client: EngineClient, args: argparse.Namespace) -> int:
    detail = await client.job(args.id)
    print(as_json(detail) if args.json else describe_job(detail))
    return 0


async def cmd_logs(client: EngineClient, args: argparse.Namespace) -> int:
    stream = "stderr" if args.stderr else "stdout"
    if args.json:  # one chunk, as the API gives it: {job_id, attempt, stream, offset, data, done}
        print(as_json(await client.logs(args.id, stream, 0, 1 << 20, args.attempt)))
        return 0
    offset = 0
    out = sys.stdout.buffer
    while True:
        chunk = await client.logs(args.id, stream, offset, 1 << 20, args.attempt)
        if chunk["data"]:
            out.write(chunk["data"].encode())
            out.flush()
            offset = chunk["offset"]
            continue
        if chunk["done"] or not args.follow:
            return 0
        await asyncio.sleep(0.25)


async def cmd_each(client: EngineClient, args: argparse.Namespace) -> int:
    actions: dict[str, Callable[[int], Awaitable[dict[str, Any]]]] = {
        "cancel": client.cancel,
        "approve": client.approve,
        "requeue": client.requeue,
        "reject": lambda job_id: client.reject(job_id, args.reason),
    }
    results, failed = [], 0
    for job_id in args.ids:
        try:
            job = await actions[args.verb](job_id)
            results.append({"id": job_id, "ok": True, "status": job["status"], "message": job["message"]})
        except EngineUnavailable:
            raise
        except Exception as e:  # report each id, carry on with the rest
            failed += 1
            results.append({"id": job_id, "ok": False, "error": str(e)})
    for r in results if not args.json else []:
        print(
            f"job {r['id']}: {r['status']} {r['message']}".rstrip() if r["ok"] else f"job {r['id']}: {r['error']}",
            file=sys.stdout if r["ok"] else sys.stderr,
        )
    if args.json:
        print(as_json(results))
    return 1 if failed else 0


async def cmd_simple(client: EngineClient, args: argparse.Namespace) -> int:
    if args.verb == "stats":
        result: Any = await client.stats()
    elif args.verb == "me":
        result = await client.me()
    elif args.verb == "position":
        result = {"id": args.id, "position": await client.position(args.id)}
    elif args.verb == "priority":
        result = await client.set_priority(args.id, args.priority)
    elif args.verb == "cleanup":
        result = {"deleted": await client.cleanup(args.days)}
    else:
        changes = {
            "max_concurrent": args.max_concurrent,
            "user_max_concurrent": args.user_max_concurrent,
            "team_max_concurrent": args.team_max_concurrent,
            "fair_share": None if args.fair_share is None else args.fair_share == "on",
        }
        changes = {k: v for k, v in changes.items() if v is not None}
        result = await (client.set_limits(changes) if changes else client.limits())
    if args.json or not isinstance(result, dict):
        print(as_json(result))
    else:
        width = max(map(len, result)) if result else 0
        for key, value in result.items():
            print(f"{key:<{width}}  {value if not isinstance(value, (dict, list)) else as_json(value)}")
    return 0


async def cmd_token(client: HttpClient, args: argparse.Namespace) -> int:
    result = await client._call("POST", "/api/tokens", json={"user": args.user})  # HTTP only: tokens are for remote use
    print(as_json(result) if args.json else result["token"])
    return 0


VERB_FUNCS = {
    "submit": cmd_submit,
    "wait": cmd_wait,
    "list": cmd_list,
    "show": cmd_show,
    "logs": cmd_logs,
    "cancel": cmd_each,
    "approve": cmd_each,
    "reject": cmd_each,
    "requeue": cmd_each,
    "priority": cmd_simple,
    "stats": cmd_simple,
    "me": cmd_simple,
    "position": cmd_simple,
    "concurrency": cmd_simple,
    "cleanup": cmd_simple,
    "token": cmd_token,
}


async def run_verb(args: argparse.Namespace) -> int:
    config, state_dir = load_context(args)
    if args.verb == "run":
        from tui.follow import run_and_follow

        return await run_and_follow(config, state_dir, read_job_file(args.file), args.json)
    client = attach(state_dir)
    try:
        return await VERB_FUNCS[args.verb](client, args)
    finally:
        await client.close()
