"""GPUs and targets on the command line: `submit`'s device, wait and target options, `submit --dry-run`,
`jobtui gpus` (every node's devices and who holds them) and the local limits of `jobtui concurrency`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from engine.errors import ValidationError
from tui.cli.output import as_json, table
from tui.cli.sanitize import say, visible

if TYPE_CHECKING:
    from engine.api.client import EngineClient

NO_LIMIT = "none"  # `--local-gpu-max-concurrent none`: take the limit away


def add_submit_arguments(p: argparse.ArgumentParser) -> None:
    """`submit`'s GPU and target options."""
    p.add_argument("--gpu-ids", metavar="I,J", help="the GPU devices it needs, e.g. 0,2 (it waits for them)")
    p.add_argument("--any-gpu", action="store_true", help="any free GPUs (1 unless --gpus says more)")
    p.add_argument("--no-wait", action="store_true", help="reject it at once (gpus_busy) if its GPUs are not free now")
    p.add_argument(
        "--dry-run", action="store_true", help="say whether it would start now, where and on which GPUs; queue nothing"
    )
    p.add_argument("--label", action="append", default=[], metavar="KEY=GLOB", help="a node label it needs")
    p.add_argument("--target", choices=["local", "remote", "auto"], help="local nodes, remote ones, or either")


def submit_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The spec fields of `submit`'s GPU and target options (only those given)."""
    fields: dict[str, Any] = {}
    if args.gpu_ids is not None:
        fields["gpu_ids"] = parse_gpu_ids(args.gpu_ids)
    if args.any_gpu:
        fields["any_gpu"] = True
    if args.no_wait:
        fields["no_wait"] = True
    if args.target is not None:
        fields["target"] = args.target
    labels = {}
    for item in args.label:
        key, sep, pattern = item.partition("=")
        if not sep or not key:
            raise ValidationError(f"--label {item!r}: write it as KEY=GLOB, e.g. --label gpu_type='a100*'.")
        labels[key] = pattern
    if labels:
        fields["labels"] = labels
    return fields


def parse_gpu_ids(text: str) -> list[int]:
    """`0,2` as [0, 2]; anything else is a ValidationError that says how to write it."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise ValidationError(f"--gpu-ids {text!r}: give device indexes separated by commas, e.g. --gpu-ids 0,2.")
    return [int(p) for p in parts]


async def submit_dry_run(client: EngineClient, specs: list[dict[str, Any]], as_json_output: bool) -> int:
    """Would each job start now, on which node and devices; else its place in the queue and why it waits.
    Exit 2 when one can never start (the submission would be refused)."""
    plan = await client.plan(specs)
    if as_json_output:
        print(as_json(plan))
    else:
        for job in plan["jobs"]:
            say(dry_run_line(job))
    return 0 if plan["ok"] else 2


def dry_run_line(job: dict[str, Any]) -> str:
    name = visible(job["name"])
    if not job["runnable"]:
        return f"{name}: can never start: {visible(job['reason'])}; the submission would be refused."
    if job["node"] is not None:
        gpus = f", GPUs {','.join(map(str, job['gpus']))}" if job["gpus"] else ""
        return f"{name}: would start now on {visible(job['node'])}{gpus}."
    return f"{name}: would wait, at position {job['position']} in the queue: {visible(job['reason'])}."


def add_gpus_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--node", help="only nodes whose name matches this glob")


async def cmd_gpus(client: EngineClient, args: argparse.Namespace) -> int:
    """`jobtui gpus`: per node and device, its name, memory, utilisation and the job and user holding it."""
    from fnmatch import fnmatchcase

    nodes = [n for n in await client.nodes() if args.node is None or fnmatchcase(n["name"], args.node)]
    rows = [{"node": n["name"], "kind": n["kind"], **device} for n in nodes for device in n.get("gpus") or []]
    if args.json:
        print(as_json([{"node": n["name"], "kind": n["kind"], "gpus": n.get("gpus") or []} for n in nodes]))
        return 0
    if not rows:
        where = f"matching {args.node!r}" if args.node else "configured"
        say(f"no GPUs on the nodes {where}; set gpus: in a node's config, or install nvidia-smi/NVML there.")
        return 0
    for row in rows:
        row["memory"] = _memory(row)
        row["util"] = f"{row['utilization_pct']}%" if row["utilization_pct"] is not None else None
        row["held by"] = f"job {row['job_id']} ({row['user']})" if row["job_id"] is not None else "free"
    say(table(rows, ["node", "index", "name", "memory", "util", "held by"]))
    return 0


def _memory(device: dict[str, Any]) -> str | None:
    total, used = device.get("memory_total_mb"), device.get("memory_used_mb")
    if total is None:
        return None
    return f"{used or 0}/{total} MB"


def add_concurrency_arguments(p: argparse.ArgumentParser) -> None:
    """`concurrency`'s limits on local nodes (the queue seed's), each a number or `none`."""
    for flag, what in (("--local-gpu-max-concurrent", "GPUs"), ("--local-job-max-concurrent", "jobs")):
        p.add_argument(flag, type=_limit, metavar="N|none", help=f"{what} on local nodes at once ('none': no limit)")


def concurrency_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The local limits given: a number, or None for `none` (no limit)."""
    changes = {}
    for key in ("local_gpu_max_concurrent", "local_job_max_concurrent"):
        value = getattr(args, key, None)
        if value is not None:
            changes[key] = None if value == NO_LIMIT else value
    return changes


def _limit(text: str) -> int | str:
    if text.strip().lower() == NO_LIMIT:
        return NO_LIMIT
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 0 or more, or 'none'")
    return int(text)
