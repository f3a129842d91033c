"""A tree as one batch of job specs: one job per `qsub.{id}`, in tree order.

Each job runs `sh qsub.{id}` in its directory of the run directory, which the node must see at the same path
(a local node, or a node sharing this file system); its key is `DIR/ID`, its edges the `qsub.finished.{k}` it
waits for, its name `DIR/qsub.{id}`, its tag the directory. It succeeds only when `qsub.finished.{id}` exists
after a zero exit (its `success_file`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from engine.trees.layout import Tree, TreeJob


def job_spec(tree_job: TreeJob, workdir: Path, node: str, ids: Mapping[str, int] | None = None) -> dict[str, Any]:
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
        "command": ["sh", tree_job.script],
        "success_file": tree_job.marker,
    }
    return spec


def tree_specs(
    tree: Tree, node: str, ids: Mapping[str, int] | None = None, only: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """Specs of the tree's jobs (those whose key is in `only`, if given), in tree order; `tree.root` is the run
    directory. Edges to jobs outside the batch must be in `ids` (key -> job id)."""
    return [job_spec(job, tree.path(job).resolve(), node, ids) for job in tree.jobs if only is None or job.key in only]
