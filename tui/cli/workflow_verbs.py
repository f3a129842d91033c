"""Workflows in the CLI: `jobtui analyze FILE` and `jobtui create` (files, read and written without an engine),
and the workflows an engine keeps: `jobtui workflows`, and `show`, `cancel`, `wait` and `requeue --failed`
given `wf:ID` instead of job ids.

`analyze` validates a workflow (`engine.workflows.schema`) and prints its analysis (`engine.workflows.graph`):
a table for people (through `sanitize`), everything as JSON with `--json`, or the graph as Graphviz DOT or
Mermaid. A cyclic workflow is analysed too: the cycle is shown and the exit status is 1. `create` writes
the commented sample workflow (`engine.workflows.sample`), and never over an existing file.

A verb on job ids takes one workflow as `wf:ID` (`with_workflows`): its job ids go on to the job verb as they
always did, a workflow to its own handler; a bad id is one line and exit 2 (`wf:x`, `abc`), an unknown
workflow exit 1. `wait wf:ID` exits 0 when the workflow completed (its status, derived by the engine, counts a
job skipped only by a condition as done), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from engine.errors import ValidationError
from engine.workflows.graph import Analysis, analyze
from engine.workflows.sample import DEFAULT_NAME, sample_workflow
from engine.workflows.schema import Workflow
from tui.cli.output import as_json, duration, id_list, table
from tui.cli.sanitize import say, visible
from tui.jobfile import read_workflow_file

if TYPE_CHECKING:
    from engine.api.client import EngineClient

_SOURCES = {"history": "past runs", "timeout": "timeouts", "unknown": "unknown (0 s)"}


def add_analyze_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="the workflow file (YAML or JSON; '-' for stdin)")
    drawing = p.add_mutually_exclusive_group()
    drawing.add_argument("--dot", action="store_true", help="print the graph as Graphviz DOT")
    drawing.add_argument("--mermaid", action="store_true", help="print the graph as a Mermaid flowchart")
    p.add_argument(
        "--durations",
        metavar="FILE",
        help="median past run times, a YAML/JSON mapping of job name to seconds: the critical path weighs "
        "these instead of the timeouts",
    )


def add_create_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default=DEFAULT_NAME, help=f"the workflow's name (default: {DEFAULT_NAME})")
    p.add_argument("--output", "-o", metavar="FILE", help="write it here (never over an existing file); default stdout")


async def cmd_analyze(args: argparse.Namespace) -> int:
    if args.json and (args.dot or args.mermaid):
        raise ValidationError("--json, --dot and --mermaid each choose the output; give one of them.")
    workflow = read_workflow_file(args.file, allow_cycles=True)
    medians = read_durations(args.durations) if args.durations else None
    result = analyze(workflow.graph(), medians, title=workflow.name)
    if args.dot or args.mermaid:
        sys.stdout.write(result.dot() if args.dot else result.mermaid())  # their text is escaped for the format
    elif args.json:
        print(as_json({"workflow": workflow.as_dict(), **result.as_dict()}))
    else:
        say(report(workflow, result))
    return 0 if result.valid else 1


async def cmd_create(args: argparse.Namespace) -> int:
    text = sample_workflow(args.name)
    if args.output in (None, "-"):
        sys.stdout.write(text)
        return 0
    try:
        with open(args.output, "x", encoding="utf-8") as out:
            out.write(text)
    except FileExistsError as e:
        raise ValidationError(
            f"{args.output}: already exists; `jobtui create` never overwrites a file: give another --output."
        ) from e
    if args.json:
        print(as_json({"file": str(Path(args.output).resolve()), "name": args.name}))
    else:
        say(f"wrote the sample workflow to {args.output}; next: jobtui analyze {args.output}")
    return 0


def report(workflow: Workflow, result: Analysis) -> str:
    """The analysis for people: the properties, the levels, the critical path, the jobs that will not run."""
    rows: list[tuple[str, Any]] = [
        ("workflow", workflow.name),
        ("version", workflow.version),
        ("file", workflow.source),
        ("sha256", workflow.digest[:16]),
        ("jobs", len(workflow.jobs)),
        ("valid DAG", "yes" if result.valid else "no: dependency cycle " + " -> ".join(result.cycle)),
    ]
    lines: list[str] = []
    if result.valid:
        sources = Counter(result.weights[i].source for i in result.critical_path)
        weighed = ", ".join(f"{n} from {_SOURCES[s]}" for s, n in sources.most_common())
        rows += [
            ("execution levels", len(result.levels)),
            ("critical path", f"{len(result.critical_path)} jobs, {duration(result.critical_seconds)} ({weighed})"),
            ("max parallelism", result.max_parallelism),
        ]
        if workflow.settings.max_concurrent_jobs is not None:
            rows.append(("max concurrent", workflow.settings.max_concurrent_jobs))
        lines += ["", "Execution order:"]
        lines += [f"  Level {n}: {', '.join(level)}" for n, level in enumerate(result.levels)]
        lines += ["", "Critical path:", "  " + " -> ".join(result.critical_path)]
    if workflow.skipped:
        lines += ["", "Will not run (their conditions, decided now):"]
        lines += [f"  {job}: {why}" for job, why in workflow.skipped.items()]
    head = table([{"property": k, "value": v} for k, v in rows], ["property", "value"])
    return "\n".join([head, *lines])


def read_durations(name: str) -> dict[str, float]:
    """A mapping of job names to seconds, from a YAML or JSON file."""
    try:
        data = yaml.safe_load(Path(name).read_text(encoding="utf-8"))
    except OSError as e:
        raise ValidationError(f"{name}: cannot read the durations ({e.strerror or e}); check the path.") from e
    except (yaml.YAMLError, UnicodeError) as e:
        raise ValidationError(f"{name}: not a YAML/JSON mapping of job names to seconds ({e}).") from e
    if not isinstance(data, dict):
        raise ValidationError(f"{name}: write a mapping of job names to seconds, e.g. {{build: 240, test: 95.5}}.")
    durations = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValidationError(f"{name}: {key!r}: {value!r} is not a number of seconds.")
        durations[str(key)] = float(value)
    return durations


# -- workflows in the engine: `workflows`, and `show`, `cancel`, `wait`, `requeue --failed` of `wf:ID` ----------

WORKFLOW_PREFIX = "wf:"
WorkflowHandler = Callable[["EngineClient", argparse.Namespace, int], Awaitable[int]]
JobHandler = Callable[["EngineClient", argparse.Namespace], Awaitable[int]]
SUMMARY_FIELDS = ["id", "name", "version", "status", "jobs", "counts", "submitter", "created"]


def parse_target(text: str) -> int | str:
    """A job id (an int), or the id of a workflow from `wf:ID` (as text, `wf:3`); anything else is an error."""
    if text.startswith(WORKFLOW_PREFIX):
        number = text[len(WORKFLOW_PREFIX) :]
        if not (number.isascii() and number.isdigit() and int(number) > 0):
            raise ValidationError(
                f"{text!r} is not a workflow; write wf: and its number, e.g. wf:3 (`jobtui workflows` lists them)."
            )
        return f"{WORKFLOW_PREFIX}{int(number)}"
    if not (text.isascii() and text.isdigit()):
        raise ValidationError(f"{text!r} is neither a job id (a number) nor a workflow (wf:ID).")
    return int(text)


def with_workflows(jobs: JobHandler, workflow: WorkflowHandler) -> JobHandler:
    """A verb on job ids (`args.id` or `args.ids`, as text) that also takes one workflow as `wf:ID`: job ids go
    to `jobs` as ints, as they always did; a workflow goes to `workflow` with its id."""

    async def run(client: EngineClient, args: argparse.Namespace) -> int:
        many = hasattr(args, "ids")
        targets = [parse_target(t) for t in (args.ids if many else [args.id])]
        refs = [t for t in targets if isinstance(t, str)]
        failed = getattr(args, "failed", False)
        if not refs:
            if failed:
                raise ValidationError("--failed requeues the failed part of a workflow: name it as wf:ID.")
            if many:
                args.ids = targets
            else:
                args.id = targets[0]
            return await jobs(client, args)
        if len(targets) > 1 or getattr(args, "all", False):
            raise ValidationError(f"give one workflow ({refs[0]}) alone, without job ids or --all.")
        return await workflow(client, args, int(refs[0][len(WORKFLOW_PREFIX) :]))

    return run


async def cmd_workflows(client: EngineClient, args: argparse.Namespace) -> int:
    """`jobtui workflows`: every workflow, its status and its jobs' counts by status."""
    found = await client.workflows()
    if args.json:
        print(as_json(found))
    elif not found:
        say("no workflows; `jobtui run FILE` or `jobtui submit --file FILE` queues one.")
    else:
        say(table([_summary_row(w) for w in found], SUMMARY_FIELDS))
    return 0


async def cmd_show_workflow(client: EngineClient, args: argparse.Namespace, workflow_id: int) -> int:
    detail = await client.workflow(workflow_id)
    if args.json:
        print(as_json(detail))
    else:
        say(describe_workflow(detail))
    return 0


async def cmd_cancel_workflow(client: EngineClient, args: argparse.Namespace, workflow_id: int) -> int:
    return _acted(await client.cancel_workflow(workflow_id), "cancelled", args)


async def cmd_requeue_workflow(client: EngineClient, args: argparse.Namespace, workflow_id: int) -> int:
    if not args.failed:
        raise ValidationError(
            f"requeue wf:{workflow_id} runs the workflow's failed, cancelled and skipped jobs again, keeping what "
            "completed: add --failed to say so."
        )
    return _acted(await client.requeue_workflow(workflow_id), "requeued", args)


async def cmd_wait_workflow(client: EngineClient, args: argparse.Namespace, workflow_id: int) -> int:
    """Wait for every job of the workflow; exit 0 when the workflow completed, 1 otherwise or at --timeout."""
    ids = (await client.workflow(workflow_id))["workflow"]["job_ids"]
    loop = asyncio.get_running_loop()
    deadline = None if args.timeout is None else loop.time() + args.timeout
    while ids:
        chunk = 30.0 if deadline is None else max(0.1, min(30.0, deadline - loop.time()))
        result = await client.wait(ids, chunk)
        if result["done"]:
            break
        if deadline is not None and loop.time() >= deadline:
            say(f"jobtui: gave up after {args.timeout:g} s; still pending: {id_list(result['pending'])}", err=True)
            return 1
    summary = (await client.workflow(workflow_id))["workflow"]
    if args.json:
        print(as_json({"workflow": workflow_id, "status": summary["status"], "counts": summary["counts"]}))
    else:
        say(f"workflow {workflow_id} ({visible(summary['name'])}): {visible(summary['status'])}")
    return 0 if summary["status"] == "completed" else 1


def _acted(result: dict[str, Any], verb: str, args: argparse.Namespace) -> int:
    if args.json:
        print(as_json(result))
        return 0
    summary = result["workflow"]
    for job in result["jobs"]:
        say(f"job {job['id']}: {visible(job['status'])} {visible(job['message'])}".rstrip())
    name, count = visible(summary["name"]), len(result["jobs"])
    say(f"workflow {summary['id']} ({name}): {verb} {count} job(s); it is now {visible(summary['status'])}")
    return 0


def _edge(edge: dict[str, Any]) -> str:
    """A parent as `show wf:ID` lists it: its id, and its condition when that is not `success`."""
    return str(edge["id"]) if edge["when"] == "success" else f"{edge['id']}({edge['when']})"


def _summary_row(summary: dict[str, Any]) -> dict[str, Any]:
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(summary["created_at"]))
    return {**summary, "created": created}


def describe_workflow(detail: dict[str, Any]) -> str:
    """`jobtui show wf:ID`: the record, the jobs with their edges, the levels and the critical path."""
    w = detail["workflow"]
    version = f" {visible(w['version'])}" if w["version"] else ""
    lines = [f"Workflow {w['id']}: {visible(w['name'])}{version}  [{visible(w['status'])}]"]
    counts = ", ".join(f"{visible(k)} {v}" for k, v in w["counts"].items())
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(w["created_at"]))
    for key, value in [
        ("description", w["description"]),
        ("submitter", w["submitter"]),
        ("created", created),
        ("sha256", w["digest"][:16]),
        ("jobs", f"{w['jobs']} ({counts})" if counts else w["jobs"]),
    ]:
        if value not in (None, ""):
            lines.append(f"  {key:<12} {visible(value)}")
    names = {job["id"]: job["name"] for job in detail["jobs"]}
    path = detail["critical_path"]
    if path["jobs"]:
        chain = " -> ".join(f"{i} {visible(names.get(i, ''))}" for i in path["jobs"])
        lines.append(f"  {'critical':<12} {chain} ({duration(path['seconds'])} of timeouts)")
    lines.append("  levels:")
    lines += [f"    {n}: {' '.join(map(str, level))}" for n, level in enumerate(detail["levels"])]
    rows = [{**job, "after": " ".join(map(_edge, job["after"]))} for job in detail["jobs"]]
    table_text = table(rows, ["id", "name", "status", "level", "after", "attempts", "message"])
    lines += ["  jobs:", *("    " + line for line in table_text.splitlines())]
    return "\n".join(lines)
