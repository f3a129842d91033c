"""A tree as one batch of job specs: one job per `qsub.{id}`, in tree order.

Each job runs `sh qsub.{id}` in its directory of the run directory, which the node sees at the same path (a local
node, or a node sharing this file system) or, for a tree staged to a remote node, below `remote` there; its key
is `DIR/ID`, its edges the `qsub.finished.{k}` it waits for, the other files it lists its `wait_for_files`, its name
`DIR/qsub.{id}`, its tag the directory. It succeeds only when `qsub.finished.{id}` exists after a zero exit (its
`success_file`). A job of a staged tree brings back, as it ends, its `--results` files, the markers and its output
into its directory of the run directory (its `copy_back`, done by the engine: `engine.trees.results`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.trees.layout import FINISHED, ROOT, Tree, TreeJob

MARKERS = f"{FINISHED}*"  # brought back with a staged tree's results: which steps ended normally


def job_spec(
    tree_job: TreeJob,
    workdir: str,
    node: str,
    ids: Mapping[str, int] | None = None,
    back: Path | None = None,
    results: Sequence[str] = (),
) -> dict[str, Any]:
    """The spec of one tree job; an edge to a job already submitted (its key in `ids`) names that job's id. With
    `back` (its directory here, for a tree staged to the node), the files matching `results`, the markers and its
    output are copied back there as it ends (`copy_back`)."""
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
    if tree_job.files:  # the other files its dependency file lists: looked for on the node before it starts
        spec["wait_for_files"] = list(tree_job.files)
    if back is not None:
        files = list(dict.fromkeys([*results, MARKERS]))
        spec["copy_back"] = {"to": str(back), "files": files, "output": f"jobtui.{tree_job.id}"}
    return spec


def tree_specs(
    tree: Tree,
    node: str,
    ids: Mapping[str, int] | None = None,
    only: Collection[str] | None = None,
    remote: str | None = None,
    results: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Specs of the tree's jobs (those whose key is in `only`, if given), in tree order; `tree.root` is the run
    directory, `remote` its copy's absolute path on the node (None: the node sees `tree.root`; else each job's
    `results` globs, markers and output come back to its directory as it ends). Edges to jobs outside the batch
    must be in `ids` (key -> job id)."""
    return [
        job_spec(job, workdir(tree, job, remote), node, ids, None if remote is None else tree.path(job), results)
        for job in tree.jobs
        if only is None or job.key in only
    ]


def workdir(tree: Tree, job: TreeJob, remote: str | None) -> str:
    """Where `job` runs: its directory of the run directory, here or in the copy on the node."""
    if remote is None:
        return str(tree.path(job).resolve())
    return remote if job.directory == ROOT else posixpath.join(remote, job.directory)
