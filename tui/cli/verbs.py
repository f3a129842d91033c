"""The verb table: every CLI verb once, with its help line, its arguments and its handler."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from tui.cli import completion
from tui.cli import gpu_verbs as gpus
from tui.cli import job_verbs as jobs
from tui.cli import metrics_verbs as metrics
from tui.cli import notify_verbs as notify
from tui.cli import policy_verbs as policy
from tui.cli import queue_verbs as queue
from tui.cli import status_verbs as status
from tui.cli import tree_verbs as trees
from tui.cli import workflow_verbs as workflows
from tui.cli.attaching import ClientHandler, with_client

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


@dataclass(frozen=True)
class Verb:
    name: str
    help: str  # the sub-command's line in `jobtui --help`, and its description
    add_arguments: Callable[[argparse.ArgumentParser], None]  # its own; --config/--state-dir/--token/--json come free
    run: Handler


def attached(handler: ClientHandler) -> Handler:
    """`handler` called with a client attached to the engine running on the state directory, closed after."""

    async def run(args: argparse.Namespace) -> int:
        return await with_client(handler, args)

    return run


def imported(module: str, name: str) -> Handler:
    """The handler `name` of `module`, imported when the verb runs: building the parser (`--help`, a TAB's
    completion) then never loads what only that verb needs."""

    async def run(args: argparse.Namespace) -> int:
        handler: Handler = getattr(importlib.import_module(module), name)
        return await handler(args)

    return run


def _no_arguments(p: argparse.ArgumentParser) -> None:
    pass


def _submit(p: argparse.ArgumentParser) -> None:
    p.add_argument("--file", "-f", help="YAML list of jobs, or one command per line ('-' for stdin)")
    p.add_argument("--name")
    p.add_argument("--priority", type=int)
    p.add_argument("--cpus", type=int)
    p.add_argument("--mem", help="memory, e.g. 4096, 512M, 4G")
    p.add_argument("--gpus", type=int, help="how many GPUs (any free ones unless --gpu-ids names them)")
    p.add_argument("--after", type=int, nargs="+", default=[], metavar="ID")
    p.add_argument("--retries", type=int)
    p.add_argument("--timeout", help="seconds, or 15m, 2h")
    p.add_argument("--requires-approval", action="store_true")
    p.add_argument("--env", action="append", default=[], metavar="K=V")
    p.add_argument("--workdir")
    p.add_argument(
        "--success-file",
        metavar="PATH",
        help="a file (relative to the working directory) the job must write: exiting 0 without it fails the job",
    )
    p.add_argument(
        "--progress-file",
        action="append",
        default=[],
        metavar="PATH",
        help="a file in the working directory to follow for progress ({name}: the job's name), e.g. {name}.sta",
    )
    p.add_argument("--node", help="node name or glob")
    gpus.add_submit_arguments(p)
    p.add_argument("--tag", action="append", default=[])
    _key(p)
    add_quiet(p)
    policy.add_clean_env(p)
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ARGS...")


def add_quiet(p: argparse.ArgumentParser) -> None:
    """`-q/--quiet`: only the job ids, one a line, for scripts."""
    p.add_argument("-q", "--quiet", action="store_true", help="print only the job ids, one a line (for scripts)")


def at_least_one(text: str) -> int:
    """An argparse type: a whole number of 1 or more (a limit of 0 would start nothing, ever)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give 1 or more.") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} would let no job start; give 1 or more.")
    return value


def _key(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--key",
        help="idempotency key: submitting again with the same key and jobs submits nothing new "
        "(default: a new one for each invocation, so that a lost connection is retried safely)",
    )


def _wait(p: argparse.ArgumentParser) -> None:
    p.add_argument("ids", nargs="*", metavar="ID", help="job ids, or one workflow as wf:ID")
    p.add_argument("--all", action="store_true", help="every job not yet ended")
    p.add_argument("--timeout", type=float, help="give up after this many seconds (exit 1)")
    p.add_argument(
        "--include-blocked",
        action="store_true",
        help="wait for jobs awaiting approval too (by default they are reported and not waited for)",
    )


def _list(p: argparse.ArgumentParser) -> None:
    p.add_argument("--status", "-s", action="append", help="filter: waiting, running, failed, ... (repeatable)")
    p.add_argument("-o", "--output", help="fields, e.g. id,name,progress.percent,resources.cpus")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("-l", "--limit", type=int, default=50, help="most recent N (0: all)")
    p.add_argument("--user")
    p.add_argument("--active", action="store_true", help="hide ended jobs")
    add_quiet(p)


def _one_id(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", type=int)


def _logs(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", type=int)
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("--stderr", action="store_true")
    p.add_argument("--attempt", type=int)
    p.add_argument("--raw", action="store_true", help="the output exactly as written, terminal controls and all")


def _ids(p: argparse.ArgumentParser) -> None:
    p.add_argument("ids", type=int, nargs="+")


def _target(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", metavar="ID", help="a job id, or a workflow as wf:ID")


def _targets(p: argparse.ArgumentParser) -> None:
    p.add_argument("ids", nargs="+", metavar="ID", help="job ids, or one workflow as wf:ID")


def _requeue(p: argparse.ArgumentParser) -> None:
    _targets(p)
    p.add_argument("--failed", action="store_true", help="with wf:ID: run its failed, cancelled and skipped jobs again")


def _reject(p: argparse.ArgumentParser) -> None:
    p.add_argument("ids", type=int, nargs="+")
    p.add_argument("--reason", "-r", required=True)


def _priority(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", type=int)
    p.add_argument("priority", type=int)


def _concurrency(p: argparse.ArgumentParser) -> None:
    for flag in ("--max-concurrent", "--user-max-concurrent", "--team-max-concurrent"):
        p.add_argument(flag, type=at_least_one, metavar="N")
    p.add_argument("--fair-share", choices=["on", "off"])
    gpus.add_concurrency_arguments(p)


def _cleanup(p: argparse.ArgumentParser) -> None:
    p.add_argument("--days", type=float, required=True)


def _token(p: argparse.ArgumentParser) -> None:
    p.add_argument("user")


def _run(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a job file or a workflow file ('-' for stdin)")
    _key(p)
    policy.add_clean_env(p)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="validate the file and print where each job would start now, or why not (by level); queue nothing",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="when the run ends, write per-job results to FILE (JSON)")
    p.add_argument("--tag", action="append", default=[], metavar="T", help="run only the jobs tagged T (repeatable)")
    p.add_argument("--with-deps", action="store_true", help="with --tag: also run the jobs those depend on")
    p.add_argument(
        "--on-interrupt",
        choices=["cancel", "detach"],
        help="on Ctrl-C while this process hosts the engine: cancel the unfinished jobs, or detach (hand them to "
        "a background `jobtui --serve`); default: ask on a terminal, else detach",
    )
    add_quiet(p)


# In `jobtui --help` order.
VERBS: tuple[Verb, ...] = (
    Verb("submit", "submit a job (`-- CMD ARGS...`) or many (`--file F|-`)", _submit, attached(jobs.cmd_submit)),
    Verb(
        "wait",
        "block until jobs (or a workflow, wf:ID) are terminal; exit 1 if any did not complete",
        _wait,
        attached(workflows.with_workflows(jobs.cmd_wait, workflows.cmd_wait_workflow)),
    ),
    Verb("list", "list jobs", _list, attached(jobs.cmd_list)),
    Verb(
        "show",
        "every detail of a job, or of a workflow (wf:ID: its jobs, edges, levels, critical path)",
        _target,
        attached(workflows.with_workflows(jobs.cmd_show, workflows.cmd_show_workflow)),
    ),
    Verb("position", "a job's place in the queue", _one_id, attached(queue.cmd_position)),
    Verb("logs", "print a job's output", _logs, attached(jobs.cmd_logs)),
    Verb(
        "cancel",
        "cancel jobs, or every unfinished job of a workflow (wf:ID)",
        _targets,
        attached(workflows.with_workflows(queue.cmd_cancel, workflows.cmd_cancel_workflow)),
    ),
    Verb("approve", "approve jobs", _ids, attached(queue.cmd_approve)),
    Verb(
        "approvals",
        "the jobs awaiting approval that you may approve, with the rule that holds each",
        _no_arguments,
        attached(policy.cmd_approvals),
    ),
    Verb(
        "requeue",
        "requeue jobs, or a workflow's failed part (wf:ID --failed)",
        _requeue,
        attached(workflows.with_workflows(queue.cmd_requeue, workflows.cmd_requeue_workflow)),
    ),
    Verb("reject", "reject jobs awaiting approval", _reject, attached(queue.cmd_reject)),
    Verb("priority", "set a queued job's priority (lead/admin)", _priority, attached(queue.cmd_priority)),
    Verb("stats", "queue statistics", _no_arguments, attached(queue.cmd_stats)),
    Verb(
        "fairshare",
        "fair share over time: each user's and team's share, decayed usage, factor and priority bonus",
        _no_arguments,
        attached(policy.cmd_fairshare),
    ),
    Verb("me", "your jobs and best queue position", _no_arguments, attached(queue.cmd_me)),
    Verb("concurrency", "show or set the concurrency limits", _concurrency, attached(queue.cmd_concurrency)),
    Verb(
        "gpus",
        "every node's GPU devices: name, memory, utilisation, and the job and user holding each",
        gpus.add_gpus_arguments,
        attached(gpus.cmd_gpus),
    ),
    Verb("cleanup", "delete ended jobs older than N days", _cleanup, attached(queue.cmd_cleanup)),
    Verb("token", "issue an API token for a user (admin)", _token, attached(queue.cmd_token)),
    Verb(
        "nodes",
        "the nodes: up or down, cores, memory and GPUs in use, running jobs",
        _no_arguments,
        attached(status.cmd_nodes),
    ),
    Verb(
        "events",
        "the engine's events (job changes, nodes up or down); -f follows them",
        status.add_events_arguments,
        attached(status.cmd_events),
    ),
    Verb(
        "history",
        "every change of a job: when, from what to what, by whom; then its attempts",
        _one_id,
        attached(status.cmd_history),
    ),
    Verb(
        "completion",
        'print the shell completion script: `eval "$(jobtui completion bash)"` (bash, zsh, fish)',
        completion.add_arguments,
        completion.cmd_completion,
    ),
    Verb("run", "submit a file of jobs and follow them to the end with live progress", _run, jobs.cmd_run),
    Verb(
        "workflows",
        "the workflows submitted: status, jobs by status, submitter (wf:ID for show, cancel, wait, requeue)",
        _no_arguments,
        attached(workflows.cmd_workflows),
    ),
    Verb(
        "analyze",
        "check a workflow file: levels, critical path, parallelism (--json, --dot, --mermaid)",
        workflows.add_analyze_arguments,
        workflows.cmd_analyze,
    ),
    Verb("create", "write a sample workflow file to start from", workflows.add_create_arguments, workflows.cmd_create),
    Verb(
        "tree",
        "run a tree of qsub.{id} scripts and qsub.dependency.{id} files: init, status, sync, stop, cancel, resume",
        trees.add_arguments,
        trees.cmd_tree,
    ),
    Verb(
        "metrics",
        "success and error rates, run and wait times, utilisation (--since 7d, --by user|team|node|tag)",
        metrics.add_arguments,
        attached(metrics.cmd_metrics),
    ),
    Verb(
        "notify",
        "try the config's hooks: `notify test HOOK` sends a sample event",
        notify.add_arguments,
        notify.cmd_notify,
    ),
    Verb(
        "doctor",
        "check this installation: config, state dir, engine, nodes, cgroups, GPUs, tools",
        _no_arguments,
        imported("tui.cli.doctor", "cmd_doctor"),
    ),
)
BY_NAME = {verb.name: verb for verb in VERBS}
