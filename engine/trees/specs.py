"""A tree as one batch of job specs: one job per `qsub.{id}`, in tree order.

Each job runs `sh qsub.{id}` in its directory of the run directory, which the node sees at the same path (a local
node, or a node sharing this file system) or, for a tree staged to a remote node, below `remote` there; its key
is `DIR/ID`, its edges the `qsub.finished.{k}` it waits for, its name `DIR/qsub.{id}`, its tag the directory. It
succeeds only when `qsub.finished.{id}` exists after a zero exit (its `success_file`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Mapping
from typing import Any

from engine.trees.layout import ROOT, Tree, TreeJob


def job_spec(tree_job: TreeJob, workdir: str, node: str, ids: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The spec of one tree job; an edge to a job already submitted (its key in `ids`) names that job's id."""
    ids = ids or {}
    parents = [f"{tree_job.directory}/{parent}" for parent in tree_job.after]
    spec: dict[str, Any] = {
        "name": tree_job.name,
        "key": tree_job.key,
        "workdir": workdir,
        "node": node,
        "tags": [tree_job.directory],
        "after": [ids.get(parent, parent) for parent in parents],
        "command": ["sh", tree_job.script],
        "success_file": tree_job.marker,
    }
    return spec


def tree_specs(
    tree: Tree,
    node: str,
    ids: Mapping[str, int] | None = None,
    only: Collection[str] | None = None,
    remote: str | None = None,
) -> list[dict[str, Any]]:
    """Specs of the tree's jobs (those whose key is in `only`, if given), in tree order; `tree.root` is the run
    directory, `remote` its copy's absolute path on the node (None: the node sees `tree.root`). Edges to jobs
    outside the batch must be in `ids` (key -> job id)."""
    return [
        job_spec(job, workdir(tree, job, remote), node, ids) for job in tree.jobs if only is None or job.key in only
    ]


def workdir(tree: Tree, job: TreeJob, remote: str | None) -> str:
    """Where `job` runs: its directory of the run directory, here or in the copy on the node."""
    if remote is None:
        return str(tree.path(job).resolve())
    return remote if job.directory == ROOT else posixpath.join(remote, job.directory)
