"""`jobtui run FILE --dry-run`: validate the file, ask the engine where each job would start now (or why not),
and print the plan by level; nothing is queued or run.

The placement is the engine's own (`POST /api/queue/plan`, `engine.service.planning`), so it needs an engine:
the one running on the state directory, or one hosted here for the question and stopped right after (its
queue is left as it was). Exit status: 0 when the file would be accepted, 2 when some job can never start
(the submission would be refused).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.config import Config
from engine.workflows.graph import GraphNode, analyze
from tui.cli.output import as_json, table
from tui.cli.sanitize import say, visible
from tui.context import host_or_attach


def levels_of(specs: list[dict[str, Any]]) -> list[list[int]]:
    """The batch's jobs by execution level (indexes into `specs`), from their dependencies within the batch."""
    ids = [str(s.get("key") or f"#{i + 1}") for i, s in enumerate(specs)]
    keys = {str(s["key"]) for s in specs if s.get("key")}
    nodes = []
    for job_id, spec in zip(ids, specs, strict=True):
        after = spec.get("after")
        after = after if isinstance(after, list) else []
        nodes.append(GraphNode(job_id, tuple(dict.fromkeys(d for d in after if isinstance(d, str) and d in keys))))
    result = analyze(nodes)
    index = {job_id: i for i, job_id in enumerate(ids)}
    return [[index[job_id] for job_id in level] for level in result.levels]


async def dry_run(
    config: Config,
    state_dir: Path,
    specs: list[dict[str, Any]],
    as_json_output: bool,
    token: str | None = None,
    source: str = "",
    workflow: str | None = None,
    skipped: dict[str, str] | None = None,
) -> int:
    client, host = await host_or_attach(config, state_dir, token)
    try:
        plan = await client.plan(specs)
    finally:
        await client.close()
        if host is not None:
            await host.stop()
    levels = levels_of(specs)
    jobs = plan["jobs"]
    for number, level in enumerate(levels):
        for i in level:
            jobs[i]["level"] = number
            jobs[i]["after"] = specs[i].get("after") or []
    if as_json_output:
        document = {
            "file": source,
            "workflow": workflow,
            "ok": plan["ok"],
            "levels": [[jobs[i]["key"] or f"#{i + 1}" for i in level] for level in levels],
            "jobs": jobs,
            "skipped": skipped or {},
        }
        print(as_json(document))
    else:
        say(report(jobs, levels, plan["ok"], source, workflow, skipped or {}))
    return 0 if plan["ok"] else 2


def gpus_note(job: dict[str, Any]) -> str:
    """` (GPUs 0,1)`: the devices a job would get where it would start; "" when none."""
    return f" (GPUs {','.join(map(str, job['gpus']))})" if job.get("gpus") else ""


def report(
    jobs: list[dict[str, Any]],
    levels: list[list[int]],
    ok: bool,
    source: str,
    workflow: str | None,
    skipped: dict[str, str],
) -> str:
    what = f'workflow "{visible(workflow)}"' if workflow is not None else "job file"
    head = f"Dry run of {visible(source)} ({what}): {len(jobs)} job(s) in {len(levels)} level(s); nothing was queued."
    rows = []
    for number, level in enumerate(levels):
        for i in level:
            job = jobs[i]
            rows.append(
                {
                    "level": number,
                    "job": job["key"] or f"#{i + 1}",
                    "name": job["name"],
                    "node": job["node"] + gpus_note(job) if job["node"] else None,
                    "why not": job["reason"],
                }
            )
    lines = [head, "", table(rows, ["level", "job", "name", "node", "why not"])]
    if skipped:
        lines += ["", "Will not run (their conditions, decided now):"]
        lines += [f"  {visible(job)}: {visible(why)}" for job, why in skipped.items()]
    never = sum(not j["runnable"] for j in jobs)
    if ok:
        lines += ["", "Every job can run; `jobtui run` without --dry-run queues them."]
    else:
        lines += ["", f"{never} job(s) can never start: the submission would be refused. Fix them first."]
    return "\n".join(lines)
