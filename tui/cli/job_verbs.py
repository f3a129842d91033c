"""Handlers of the verbs about jobs themselves: submit, wait, list, show, logs and run."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ValidationError
from tui.cli import gpu_verbs
from tui.cli.output import DEFAULT_FIELDS, as_json, describe_job, id_list, project
from tui.cli.policy_verbs import sent_environment
from tui.cli.sanitize import LogFilter, say, visible
from tui.cli.tables import print_ids, print_table

if TYPE_CHECKING:
    from engine.api.client import EngineClient


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
        "success_file": getattr(args, "success_file", None),
    }
    spec.update({k: v for k, v in pairs.items() if v is not None})
    if args.requires_approval:
        spec["requires_approval"] = True
    if getattr(args, "progress_file", None):
        spec["progress_files"] = list(args.progress_file)
    spec.update(gpu_verbs.submit_fields(args))
    return spec


def submission_key(args: argparse.Namespace) -> str:
    """`--key`, or a new key for this invocation: a submission the client sends twice is then submitted once."""
    return args.key if args.key is not None else uuid.uuid4().hex


async def cmd_submit(client: EngineClient, args: argparse.Namespace) -> int:
    from tui.jobfile import JobFile, read_jobs  # here: the job file reader loads the spec model (pydantic)

    found = read_jobs(args.file) if args.file else JobFile([_spec_from_args(args)])
    if getattr(args, "dry_run", False):
        return await gpu_verbs.submit_dry_run(client, found.jobs, args.json)
    key, environment = submission_key(args), sent_environment(args)
    jobs = await client.submit(found.jobs, key=key, workflow=found.workflow_info, environment=environment)
    ids = [j["id"] for j in jobs]
    if args.json:
        print(as_json({"ids": ids}))
    elif args.quiet:
        print_ids(jobs)
    else:
        for job in jobs:
            say(f"submitted job {job['id']} ({visible(job['name'])}) [{visible(job['status'])}]")
            if job["status"] == "rejected":  # --no-wait, its GPUs busy
                say(f"jobtui: job {job['id']}: {visible(job['message'])}", err=True)
    return 1 if any(job["status"] == "rejected" for job in jobs) else 0


async def cmd_wait(client: EngineClient, args: argparse.Namespace) -> int:
    if not args.ids and not args.all:
        raise ValidationError("name the jobs to wait for, or give --all.")
    ids = args.ids or None
    loop = asyncio.get_running_loop()
    deadline = None if args.timeout is None else loop.time() + args.timeout
    while True:
        chunk = 30.0 if deadline is None else max(0.1, min(30.0, deadline - loop.time()))
        result = await client.wait(ids, chunk, include_blocked=args.include_blocked)
        if ids is None:
            ids = sorted(int(i) for i in result["statuses"])  # --all: the jobs unended when we started
        if result["done"]:
            break
        if deadline is not None and loop.time() >= deadline:
            say(f"jobtui: gave up after {args.timeout:g} s; still pending: {id_list(result['pending'])}", err=True)
            return 1
    statuses = {int(k): v for k, v in result["statuses"].items()}
    blocked = result.get("blocked") or []
    if blocked:  # not waited for: they may wait for an approver for days
        which = ", ".join(map(str, blocked))
        say(
            f"jobtui: job(s) {which} await approval (or run after a job that does) and were not waited for; "
            "`jobtui approvals` lists what you may approve, `jobtui wait --include-blocked` waits for them too.",
            err=True,
        )
    if args.json:
        print(as_json(statuses))
    return 0 if all(s == "completed" for s in statuses.values()) else 1


async def cmd_list(client: EngineClient, args: argparse.Namespace) -> int:
    jobs = await client.list_jobs(args.status, args.limit, not args.active, args.user)
    fields = args.output.split(",") if args.output else DEFAULT_FIELDS
    if args.json or args.format == "json":
        print(as_json(project(jobs, fields) if args.output else jobs))
    elif args.quiet:
        print_ids(jobs)
    else:
        print_table(jobs, fields)
    return 0


async def cmd_show(client: EngineClient, args: argparse.Namespace) -> int:
    detail = await client.job(args.id)
    if args.json:
        print(as_json(detail))
    else:
        say(describe_job(detail))
    return 0


async def cmd_logs(client: EngineClient, args: argparse.Namespace) -> int:
    """The output, terminal controls removed or made visible (`sanitize.LogFilter`); `--raw` as it is."""
    stream = "stderr" if args.stderr else "stdout"
    if args.json:  # one chunk, as the API gives it: {job_id, attempt, stream, offset, data, done}
        print(as_json(await client.logs(args.id, stream, 0, 1 << 20, args.attempt)))
        return 0
    offset = 0
    out = sys.stdout.buffer
    safe = None if args.raw else LogFilter()
    while True:
        chunk = await client.logs(args.id, stream, offset, 1 << 20, args.attempt)
        if chunk["data"]:
            out.write((chunk["data"] if safe is None else safe.feed(chunk["data"])).encode())
            out.flush()
            offset = chunk["offset"]
            continue
        if chunk["done"] or not args.follow:
            if safe is not None:
                out.write(safe.flush().encode())
                out.flush()
            return 0
        await asyncio.sleep(0.25)


async def cmd_run(args: argparse.Namespace) -> int:
    """`jobtui run FILE`: attaches to the running engine, or hosts one for as long as the jobs run.

    `--tag T` keeps the jobs tagged T (`--with-deps`: and their ancestors), `--dry-run` only prints the
    plan, `-o FILE` writes the results at the end; Ctrl-C is `tui.cli.follow`'s."""
    from tui.cli.follow import RunOptions, run_and_follow
    from tui.cli.run_options import check_output_path, command_prefix, select_tagged
    from tui.cli.starting import wait_while_starting
    from tui.context import load_context, load_token
    from tui.jobfile import read_jobs

    if args.with_deps and not args.tag:
        raise ValidationError("--with-deps goes with --tag T (it adds the jobs those depend on); give --tag.")
    if args.dry_run and args.output:
        raise ValidationError("--dry-run runs nothing, so there are no results for -o; drop one of them.")
    output = Path(args.output) if args.output else None
    if output is not None:
        check_output_path(output)
    config, state_dir = load_context(args)
    token = load_token(args)
    await wait_while_starting(state_dir)  # else a starting engine's lock would look like none to host_or_attach
    where = "<stdin>" if args.file == "-" else args.file
    found = read_jobs(args.file)
    specs = found.jobs
    if args.tag:
        specs, notes = select_tagged(specs, args.tag, args.with_deps, where)
        for note in notes:
            say(f"jobtui: {note}", err=True)
    workflow = found.workflow
    name = workflow.name if workflow is not None else None
    if args.dry_run:
        from tui.cli.dry_run import dry_run

        skipped = workflow.skipped if workflow is not None else {}
        return await dry_run(config, state_dir, specs, args.json, token, where, name, skipped)
    options = RunOptions(
        source=where,
        workflow=name,
        workflow_info=found.workflow_info,
        output=output,
        on_interrupt=args.on_interrupt,
        prefix=command_prefix(args),
        config_path=args.config,
        ids_only=args.quiet,
        environment=sent_environment(args),
    )
    return await run_and_follow(config, state_dir, specs, args.json, token, submission_key(args), options)
