"""`jobtui tree`: a directory of `qsub.{id}` scripts and `qsub.dependency.{id}` files (the jobauto layout) run as
one workflow. `init` checks the tree, copies it to a new dated run directory beside it, fills in the
placeholders of the copies and submits one job per script; `status`, `stop`, `cancel` and `resume` act on a
run directory, found again through its `tree.json` (the workflow records it was submitted as).

Where the jobs run: on a local node, a cluster on this machine (no `via`), a node given `--shared-fs` or one found
to see the run directory at the same path (`init` asks it), in the run directory itself; on an SSH node or a
cluster reached `via:` one, in a copy of the run directory made by `init` under the node's work root
(`engine.trees.staging`: rsync over the node's SSH settings, else SFTP), and `resume` copies it again (rsync keeps
newer files there). Results come back as each job ends: the engine brings back the files of its directory matching
`--results`, the `qsub.finished.*` markers and the job's stdout/stderr (as `jobtui.{id}.stdout`/`.stderr`; the
jobs' `copy_back`, `engine.trees.results`); `tree sync RUN`, and every `tree status`, do the same for jobs that
ended since the last sync (after an engine that could not copy, say). Nothing local is deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import Conflict, JobTuiError, NotFound, ValidationError
from engine.service.jobspec import batch_order, parse_specs
from engine.trees import placeholders
from engine.trees.layout import ROOT, Tree, id_order, scan
from engine.trees.specs import tree_specs
from engine.trees.states import DONE, FAILED, ORDER, RUNNING, STOPPED, WAITING, job_state
from tui.cli.attaching import with_client
from tui.cli.output import as_json
from tui.cli.sanitize import say, visible

if TYPE_CHECKING:
    from engine.api.client import EngineClient
    from engine.config import Config
    from engine.trees.staging import Remote

STATE = "tree.json"
QUELIST = "quelist"
SHARED_KINDS = {"local"}  # nodes that see this machine's files at the same paths
_RUN_NAME = re.compile(r"[A-Za-z0-9_.,+@%=:~-]+")


def add_arguments(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="tree_verb", metavar="ACTION", required=True)
    init = _action(actions, "init", "copy a tree to a new dated run directory, fill in its placeholders, submit it")
    init.add_argument("src", metavar="SRC", help="the tree: material directories of qsub.{id} + qsub.dependency.{id}")
    init.add_argument(
        "--node", required=True, help="where the jobs run; an ssh node or a cluster via one gets a copy of the run"
    )
    init.add_argument("--name", help="the run directory's name before its date (default: SRC's name)")
    init.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="fill in __NAME__ (repeatable)")
    init.add_argument("--results", default="", metavar="PAT,...", help="result files to keep (recorded in tree.json)")
    init.add_argument("--max-queued", type=int, metavar="K", help="at most K of the tree's jobs running at once")
    init.add_argument("--only-init", action="store_true", help="copy and fill in only; submit nothing")
    init.add_argument("--cpus", type=int, help="cores of each job (a cluster allocates them: e.g. the tree's maxcore)")
    init.add_argument("--mem", help="memory of each job, e.g. 4096, 512M, 4G")
    init.add_argument("--timeout", help="time limit of each job: seconds, or 15m, 2h")
    init.add_argument(
        "--shared-fs",
        action="store_true",
        help="the node (ssh or cluster via one) sees the run directory at the same path; found without it when the "
        "node can read and write it there",
    )
    status = _action(actions, "status", "per directory: done, running, waiting, failed (also written to RUN/quelist)")
    status.add_argument("run", nargs="?", default=".", metavar="RUN", help="the run directory (default: here)")
    status.add_argument("--no-sync", action="store_true", help="do not bring back results of a staged tree first")
    sync = _action(actions, "sync", "bring back the results of the jobs that ended (a tree staged to a node)")
    sync.add_argument("run", nargs="?", default=".", metavar="RUN", help="the run directory (default: here)")
    stop = _action(actions, "stop", "cancel one directory's jobs (running and waiting); the others go on")
    stop.add_argument("target", metavar="RUN/DIR")
    cancel = _action(actions, "cancel", "cancel every unfinished job of the tree")
    cancel.add_argument("run", metavar="RUN")
    resume = _action(actions, "resume", "requeue stopped jobs and submit scripts added since; completed ones stay")
    resume.add_argument("run", metavar="RUN")
    resume.add_argument("--failed", action="store_true", help="also requeue the failed jobs")


def _action(actions: Any, name: str, text: str) -> argparse.ArgumentParser:
    sub: argparse.ArgumentParser = actions.add_parser(name, help=text, description=text)
    sub.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON output")
    return sub


async def cmd_tree(args: argparse.Namespace) -> int:
    if args.tree_verb == "init":
        return await cmd_init(args)
    handler: dict[str, Callable[[EngineClient, argparse.Namespace], Awaitable[int]]] = {
        "status": cmd_status,
        "stop": cmd_stop,
        "cancel": cmd_cancel,
        "resume": cmd_resume,
        "sync": cmd_sync,
    }
    return await with_client(handler[args.tree_verb], args)


def _config(args: Any) -> Config:
    """The config this command read (`--config`): the engine's, when given the same."""
    from tui.context import load_context

    return load_context(args)[0]


# -- init -------------------------------------------------------------------------------------------------------


def parse_results(text: str) -> list[str]:
    """`--results 'PAT,...'`: globs relative to a job's directory."""
    patterns = [p.strip() for p in text.split(",") if p.strip()]
    for pattern in patterns:
        if any(ord(c) < 32 for c in pattern) or pattern.startswith(("/", "~")) or ".." in pattern.split("/"):
            raise ValidationError(f"--results {pattern!r}: give globs relative to a job's directory (no '..', '/').")
    return patterns


def job_resources(args: argparse.Namespace) -> dict[str, Any]:
    """What `--cpus`, `--mem` and `--timeout` ask for each job of the tree (kept in tree.json for `resume`)."""
    given = {"cpus": args.cpus, "mem_mb": args.mem, "timeout": args.timeout}
    return {name: value for name, value in given.items() if value is not None}


def check_resources(resources: dict[str, Any]) -> None:
    """`--cpus`, `--mem` and `--timeout` checked as the engine will check each job's: one error for the tree."""
    from pydantic import ValidationError as Invalid

    from engine.service.jobspec import JobSpec

    try:
        JobSpec.model_validate({"command": ["true"], **resources})
    except Invalid as e:
        flag = {"cpus": "--cpus", "mem_mb": "--mem", "timeout": "--timeout"}
        said = [f"{flag.get(str(err['loc'][0]), err['loc'][0])}: {err['msg'].removeprefix('Value error, ')}"
                for err in e.errors()]  # fmt: skip
        raise ValidationError("; ".join(said) + ". Nothing was copied or submitted.") from None


def with_resources(specs: list[dict[str, Any]], resources: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**spec, **resources} for spec in specs]


def run_directory(src: Path, name: str | None) -> Path:
    base = name if name is not None else src.name
    if not _RUN_NAME.fullmatch(base):
        raise ValidationError(f"--name {base!r}: use letters, digits and _ . , + @ % = : ~ - only.")
    return src.parent / f"{base}-{time.strftime('%Y%m%d-%H%M%S')}"


async def cmd_init(args: argparse.Namespace) -> int:
    src = Path(args.src).expanduser().resolve()
    tree = scan(src)  # every check on the tree, before anything is copied
    values = placeholders.parse_sets(args.set)
    results = parse_results(args.results)
    if args.max_queued is not None and args.max_queued < 1:
        raise ValidationError(f"--max-queued {args.max_queued}: give at least 1.")
    resources = job_resources(args)
    check_resources(resources)
    specs = with_resources(tree_specs(tree, args.node), resources)
    batch_order(parse_specs(specs, "tree"))  # what the engine will check, checked now
    warnings = [*tree.warnings, *placeholders.unused(values, [tree.path(j) / j.script for j in tree.jobs])]
    run_dir = run_directory(src, args.name)
    if args.only_init:  # no engine needed: where to stage comes from the config
        from engine.trees import staging

        config = _config(args)
        known = any(node.name == args.node for node in config.nodes)
        remote = staging.remote_of(config, args.node) if known and not args.shared_fs else None
        run = _copy(tree, run_dir, values, results, args)
        if remote is not None:
            await _push(run_dir, remote, update=False)
        return _report(args, run, None, warnings)
    return await with_client(
        lambda client, a: _init_and_submit(client, a, tree, run_dir, values, results, warnings), args
    )


async def _init_and_submit(
    client: EngineClient,
    args: argparse.Namespace,
    tree: Tree,
    run_dir: Path,
    values: dict[str, str],
    results: list[str],
    warnings: list[str],
) -> int:
    remote = await check_node(client, args.node, args.shared_fs, _config(args))
    run = _copy(tree, run_dir, values, results, args)
    if remote is not None:
        await _push(run_dir, remote, update=False)
    workflow_id = await _submit(client, run, state_of(run_dir), [j.key for j in run.jobs])
    return _report(args, run, workflow_id, warnings)


async def check_node(client: EngineClient, name: str, shared_fs: bool, config: Config) -> Remote | None:
    """The node's remote side when the tree must be copied there; None when it sees the run directory."""
    from engine.trees import staging

    nodes = {node["name"]: node for node in await client.nodes()}
    if name not in nodes:
        known = ", ".join(sorted(nodes)) or "none"
        raise ValidationError(f"--node {name!r}: no such node (the engine has: {known}).")
    if nodes[name].get("kind") in SHARED_KINDS or shared_fs:
        return None
    return staging.remote_of(config, name)


async def _push(run_dir: Path, remote: Remote, update: bool) -> None:
    """Copy the run directory to the node; where it went is recorded in tree.json. At init, a node that already sees
    the run directory at the same path, writable (the same machine, or a shared file system), gets no copy: the tree
    is recorded as `shared_fs`, as if given --shared-fs."""
    from engine.trees import staging

    stage = staging.Staging(remote)
    try:
        if not update and await stage.sees(run_dir, STATE):
            state = load_state(run_dir)
            state["shared_fs"] = True
            save_state(run_dir, state)
            return
        remote_dir, how = await stage.push(run_dir, update=update)
    finally:
        await stage.close()
    state = load_state(run_dir)
    state["remote_dir"], state["staged_by"] = remote_dir, how
    save_state(run_dir, state)


def _copy(tree: Tree, run_dir: Path, values: dict[str, str], results: list[str], args: Any) -> Tree:
    """The tree copied to `run_dir` (never over an existing one), its scripts filled in, `tree.json` written."""
    try:
        run_dir.mkdir()
    except FileExistsError as e:
        raise ValidationError(f"{run_dir}: already exists; a tree run is never copied over another.") from e
    shutil.copytree(tree.root, run_dir, symlinks=True, dirs_exist_ok=True)
    run = Tree(run_dir, list(tree.jobs), list(tree.warnings))
    for job in run.jobs:
        placeholders.substitute(run.path(job) / job.script, values)
    state = {
        "source": str(tree.root),
        "run_dir": str(run_dir),
        "node": args.node,
        "set": values,
        "results": results,
        "max_queued": args.max_queued,
        "resources": job_resources(args),
        "shared_fs": args.shared_fs,
        "workflows": [],
        "jobs": {},
    }
    save_state(run_dir, state)
    return run


def _report(args: argparse.Namespace, run: Tree, workflow_id: int | None, warnings: list[str]) -> int:
    for warning in warnings:
        say(f"jobtui: warning: {warning}", err=True)
    if args.json:
        print(as_json({"run_dir": str(run.root), "workflow": workflow_id, "jobs": len(run.jobs)}))
    elif workflow_id is None:
        say(f"{run.root}: {len(run.jobs)} job(s) copied and filled in; nothing submitted (--only-init)")
        say(f"submit them with: jobtui tree resume {run.root}")
    else:
        say(f"{run.root}: {len(run.jobs)} job(s) in {len(run.directories)} directories submitted as wf:{workflow_id}")
        say(f"follow it with: jobtui tree status {run.root}")
    return 0


# -- the run directory's state: tree.json -----------------------------------------------------------------------


def load_state(run_dir: Path) -> dict[str, Any]:
    path = run_dir / STATE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ValidationError(f"{run_dir}: no {STATE}; give a run directory made by `jobtui tree init`.") from e
    except (OSError, ValueError) as e:
        raise ValidationError(f"{path}: cannot read it ({e}).") from e
    if not isinstance(state, dict) or not isinstance(state.get("workflows"), list):
        raise ValidationError(f"{path}: not a tree state file; it was changed by hand?")
    return state


def state_of(run_dir: Path) -> dict[str, Any]:
    return load_state(run_dir)


def save_state(run_dir: Path, state: dict[str, Any]) -> None:
    path = run_dir / STATE
    tmp = path.with_name(f".{STATE}.tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


async def _submit(client: EngineClient, run: Tree, state: dict[str, Any], keys: list[str]) -> int | None:
    """Submit the jobs of `keys` into the tree's workflow record (one record for the whole tree, so that its
    `--max-queued` holds across resumes), or a new record when it has none yet or the engine no longer has it;
    recorded in tree.json before returning."""
    if not keys:
        return None
    known: dict[str, int] = state["jobs"]
    specs = tree_specs(run, state["node"], known, set(keys), state.get("remote_dir"), state.get("results") or [])
    specs = with_resources(specs, state.get("resources") or {})
    info = {
        "name": f"tree:{run.root.name}",
        "description": str(run.root),
        "max_concurrent": state.get("max_queued"),
    }
    jobs = None
    if state["workflows"]:
        try:
            jobs = await client.submit(specs, key=_submission_key(), workflow={**info, "join": state["workflows"][0]})
        except NotFound:  # cleaned up with its jobs: the tree goes on in a new record
            state["workflows"].clear()
    if jobs is None:
        jobs = await client.submit(specs, key=_submission_key(), workflow=info)
    workflow_id = int(jobs[0]["workflow_id"])
    if workflow_id not in state["workflows"]:
        state["workflows"].append(workflow_id)
    for spec, job in zip(specs, jobs, strict=True):
        known[spec["key"]] = int(job["id"])
    save_state(run.root, state)
    return workflow_id


def _submission_key() -> str:
    return f"tree-{uuid.uuid4().hex}"


# -- status, stop, cancel, resume -------------------------------------------------------------------------------


def _run_dir(text: str) -> Path:
    return Path(text).expanduser().resolve()


async def tree_jobs(client: EngineClient, state: dict[str, Any]) -> list[dict[str, Any]]:
    """The tree's jobs as the engine has them, each with its `key` (DIR/ID), `directory` and `script`, in tree
    order; a job the engine no longer has (cleaned up) is left out."""
    by_id: dict[int, dict[str, Any]] = {}
    for workflow_id in state["workflows"]:
        try:
            detail = await client.workflow(int(workflow_id))
        except NotFound:
            continue
        by_id.update({job["id"]: job for job in detail["jobs"]})
    found = []
    for key, job_id in state["jobs"].items():
        if job_id in by_id:
            directory, _, ident = key.rpartition("/")
            found.append({**by_id[job_id], "key": key, "directory": directory, "script": f"qsub.{ident}"})
    found.sort(key=lambda j: (j["directory"] != ROOT, j["directory"], id_order(j["script"][len("qsub.") :])))
    return found


async def cmd_status(client: EngineClient, args: argparse.Namespace) -> int:
    run_dir = _run_dir(args.run)
    state = load_state(run_dir)
    jobs = await tree_jobs(client, state)
    if state.get("remote_dir") and not args.no_sync:
        try:
            await sync(client, run_dir, state, jobs, _config(args))
        except JobTuiError as e:  # the status is still worth showing; the next one tries again
            say(f"jobtui: warning: results not brought back: {e.message}", err=True)
    for job in jobs:
        job["state"] = job_state(job["status"])
        job["scheduler_id"] = None
        if job["state"] == RUNNING or (job["state"] == WAITING and job["attempts"]):
            attempts = (await client.job(job["id"]))["attempts"]
            job["scheduler_id"] = attempts[-1].get("external_id") if attempts else None
    directories: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for job in jobs:
        directories.setdefault(job["directory"], {}).setdefault(job["state"], []).append(job)
    (run_dir / QUELIST).write_text(quelist(jobs), encoding="utf-8")
    if args.json:
        rows = [_json_job(job) for job in jobs]
        print(as_json({"run_dir": str(run_dir), "workflows": state["workflows"], "jobs": rows}))
        return 0
    say(f"{run_dir}  (workflows: {', '.join(f'wf:{w}' for w in state['workflows']) or 'none submitted'})")
    for directory, states in directories.items():
        parts = [f"{name} {_names(states[name])}" for name in ORDER if name in states]
        say(f"  {visible(directory)}: " + "; ".join(parts))
    return 0


def _json_job(job: dict[str, Any]) -> dict[str, Any]:
    fields = ("key", "directory", "script", "id", "status", "state", "reason", "scheduler_id", "message")
    return {name: job.get(name) for name in fields}


def _names(jobs: list[dict[str, Any]]) -> str:
    def one(job: dict[str, Any]) -> str:
        scheduler = f" [{job['scheduler_id']}]" if job["scheduler_id"] else ""
        return f"{job['script']} #{job['id']}{scheduler}"

    return ", ".join(visible(one(job)) for job in jobs)


def quelist(jobs: list[dict[str, Any]]) -> str:
    """The plain-text list written to RUN/quelist: one job a line."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    lines = [f"# jobtui tree status, {stamp}: directory, script, state, status, job id, scheduler id"]
    for job in jobs:
        scheduler = job.get("scheduler_id") or "-"
        lines.append(f"{job['directory']}\t{job['script']}\t{job['state']}\t{job['status']}\t{job['id']}\t{scheduler}")
    return "\n".join(lines) + "\n"


async def cmd_stop(client: EngineClient, args: argparse.Namespace) -> int:
    target = Path(args.target.rstrip("/"))
    run_dir, directory = _run_dir(str(target.parent)), target.name
    if args.target.rstrip("/").endswith("/."):
        run_dir, directory = _run_dir(str(target)), ROOT
    state = load_state(run_dir)
    jobs = [job for job in await tree_jobs(client, state) if job["directory"] == directory]
    if not jobs:
        raise ValidationError(f"{args.target}: no jobs of the tree in directory {directory!r}; check the name.")
    stopped = []
    for job in reversed(jobs):  # children first: each is cancelled, none skipped by its parent's cancel
        if job["status"] in ("completed", "failed", "missing", "rejected", "cancelled", "skipped"):
            continue
        try:
            await client.cancel(job["id"])
            stopped.append(job)
        except Conflict:  # it ended meanwhile
            pass
    if args.json:
        print(as_json({"directory": directory, "cancelled": [job["id"] for job in stopped]}))
    else:
        names = ", ".join(f"{job['script']} #{job['id']}" for job in reversed(stopped)) or "nothing left to stop"
        say(f"{visible(directory)}: cancelled {visible(names)}; `jobtui tree resume {run_dir}` runs them again")
    return 0


async def cmd_cancel(client: EngineClient, args: argparse.Namespace) -> int:
    run_dir = _run_dir(args.run)
    state = load_state(run_dir)
    cancelled: list[int] = []
    for workflow_id in state["workflows"]:
        try:
            result = await client.cancel_workflow(int(workflow_id))
        except NotFound:
            continue
        cancelled += [job["id"] for job in result["jobs"]]
    if args.json:
        print(as_json({"run_dir": str(run_dir), "cancelled": cancelled}))
    else:
        say(f"{run_dir}: cancelled {len(cancelled)} job(s)")
    return 0


async def cmd_resume(client: EngineClient, args: argparse.Namespace) -> int:
    run_dir = _run_dir(args.run)
    state = load_state(run_dir)
    tree = scan(run_dir)  # scripts added since are checked like the first ones
    values = {name: placeholders.check_value(name, value) for name, value in state.get("set", {}).items()}
    new = [job for job in tree.jobs if job.key not in state["jobs"]]
    remote = None
    if new or state.get("remote_dir"):
        remote = await check_node(client, state["node"], bool(state.get("shared_fs")), _config(args))
    for job in new:  # scripts added since are filled in too (those of --only-init already were: a no-op)
        placeholders.substitute(tree.path(job) / job.script, values)
    specs = tree_specs(tree, state["node"], state["jobs"], {job.key for job in new}, state.get("remote_dir"))
    specs = with_resources(specs, state.get("resources") or {})
    batch_order(parse_specs(specs, "tree"))
    if remote is not None:  # fixed and new scripts go to the node before anything runs again
        await _push(run_dir, remote, update=True)
        state = load_state(run_dir)
    again = {"cancelled", "skipped", *(("failed", "missing") if args.failed else ())}
    requeued = []
    for row in await tree_jobs(client, state):  # in tree order: a parent before its children
        if row["status"] in again:
            await client.requeue(row["id"])
            requeued.append(row["id"])
    workflow_id = await _submit(client, tree, state, [job.key for job in new])
    if args.json:
        print(as_json({"run_dir": str(run_dir), "requeued": requeued, "submitted": len(new), "workflow": workflow_id}))
    else:
        where = f" as wf:{workflow_id}" if workflow_id is not None else ""
        say(f"{run_dir}: requeued {len(requeued)} job(s); submitted {len(new)} new job(s){where}")
    return 0


# -- results back -----------------------------------------------------------------------------------------------

ENDED = (DONE, FAILED, STOPPED)


async def cmd_sync(client: EngineClient, args: argparse.Namespace) -> int:
    run_dir = _run_dir(args.run)
    state = load_state(run_dir)
    if not state.get("remote_dir"):
        fetched: list[str] = []
        jobs: list[str] = []
    else:
        fetched, jobs = await sync(client, run_dir, state, await tree_jobs(client, state), _config(args))
    if args.json:
        print(as_json({"run_dir": str(run_dir), "fetched": fetched, "jobs": jobs}))
    elif not state.get("remote_dir"):
        say(f"{run_dir}: the jobs run in this directory itself; nothing to bring back")
    else:
        say(f"{run_dir}: {len(fetched)} file(s) brought back for {len(jobs)} job(s) that ended")
    return 0


async def sync(
    client: EngineClient, run_dir: Path, state: dict[str, Any], jobs: list[dict[str, Any]], config: Config
) -> tuple[list[str], list[str]]:
    """Bring back, for each job of a staged tree that ended since the last sync (or ended again after a resume),
    the files of its directory matching the tree's `results`, the `qsub.finished.*` markers and its stdout/stderr
    (as `jobtui.{id}.stdout`/`.stderr`); recorded per job in tree.json (`synced`: key -> attempts). (files fetched
    as DIR/NAME, keys of the jobs synced)."""
    synced: dict[str, int] = state.setdefault("synced", {})
    due = [
        job
        for job in jobs
        if job_state(job["status"]) in ENDED and job["attempts"] and synced.get(job["key"]) != job["attempts"]
    ]
    if not due:
        return [], []
    from engine.trees import staging

    remote = staging.remote_of(config, state["node"])
    if remote is None:
        raise ValidationError(f"{run_dir}: node {state['node']!r} sees this machine's files now; nothing to sync.")
    fetched: list[str] = []
    stage = staging.Staging(remote)
    try:
        for directory in dict.fromkeys(job["directory"] for job in due):
            got = await stage.pull(state["remote_dir"], directory, _local(run_dir, directory), state["results"])
            fetched += [f"{directory}/{name}" for name in got]
    finally:
        await stage.close()
    for job in due:
        ident, where = job["script"][len("qsub.") :], _local(run_dir, job["directory"])
        for stream in ("stdout", "stderr"):
            await _save_output(client, job["id"], stream, where / f"jobtui.{ident}.{stream}")
        synced[job["key"]] = job["attempts"]
    save_state(run_dir, state)
    return fetched, [job["key"] for job in due]


def _local(run_dir: Path, directory: str) -> Path:
    return run_dir if directory == ROOT else run_dir / directory


async def _save_output(client: EngineClient, job_id: int, stream: str, path: Path) -> None:
    """The job's last attempt's `stream`, as the engine reads it, written to `path` (when it is not empty)."""
    chunks: list[str] = []
    offset = 0
    while True:
        chunk = await client.logs(job_id, stream, offset, 1 << 20)
        if not chunk["data"]:
            break
        chunks.append(chunk["data"])
        offset = chunk["offset"]
        if offset >= chunk["size"]:
            break
    if chunks:
        path.write_text("".join(chunks), encoding="utf-8")
