"""A tree as one batch of job specs: one job per `qsub.{id}`, in tree order.

Each job runs `sh qsub.{id}` in its directory of the run directory, which the node must see at the same path
(a local node, or a node sharing this file system); its key is `DIR/ID`, its edges the `qsub.finished.{k}` it
waits for, its name `DIR/qsub.{id}`, its tag the directory. It succeeds only when `qsub.finished.{id}` exists
after a zero exit: the engine's `success_file` where the engine has it, else the command checks it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from engine.service.jobspec import JobSpec
from engine.trees.layout import Tree, TreeJob

NO_MARKER_EXIT = 3
# `sh qsub.ID`, then: exit 0 without the marker is a failure (exit 3, said on stderr).
_CHECKED = (
    'sh "$1"; rc=$?; if [ "$rc" -eq 0 ] && [ ! -e "$2" ]; then '
    f'echo "jobtui: $1 exited 0 without writing $2 (no_finished_marker)" >&2; exit {NO_MARKER_EXIT}; fi; exit "$rc"'
)


def has_success_file() -> bool:
    return "success_file" in JobSpec.model_fields


def job_spec(
    tree_job: TreeJob, workdir: Path, node: str, ids: Mapping[str, int] | None = None, success_file: bool = False
) -> dict[str, Any]:
    """The spec of one tree job; an edge to a job already submitted (its key in `ids`) names that job's id."""
    ids = ids or {}
    parents = [f"{tree_job.directory}/{parent}" for parent in tree_job.after]
    spec: dict[str, Any] = {
        "name": tree_job.name,
        "key": tree_job.key,
        "workdir": str(workdir),
        "node": node,
        "tags": [tree_job.directory],
        "after": [ids.get(parent, parent) for parent in parents],
    }
    if success_file:
        spec["command"] = ["sh", tree_job.script]
        spec["success_file"] = tree_job.marker
    else:
        spec["command"] = ["sh", "-c", _CHECKED, "qsub-tree", tree_job.script, tree_job.marker]
    return spec


def tree_specs(
    tree: Tree, node: str, ids: Mapping[str, int] | None = None, only: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """Specs of the tree's jobs (those whose key is in `only`, if given), in tree order; `tree.root` is the run
    directory. Edges to jobs outside the batch must be in `ids` (key -> job id)."""
    marker = has_success_file()
    return [
        job_spec(job, tree.path(job).resolve(), node, ids, marker)
        for job in tree.jobs
        if only is None or job.key in only
    ]
