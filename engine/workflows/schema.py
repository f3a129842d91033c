"""Workflow files: the DAG format of the seed (`dag-orchestrator-cli`), validated strictly, as one `Workflow`.

The entry point: `parse_workflow` (a file's bytes), `workflow_from_node` (a document already composed) and
`is_workflow`. The format is described where each part is read: the file and its keys in `model`, job types
and the mapping onto `JobSpec` in `jobs`, edges and conditions in `reader`, environment values in
`expansion`, what is refused in `problems`; the result (`Workflow`, `to_job_specs`) is in `workflow`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping

import yaml

from engine.workflows import yamlnodes
from engine.workflows.expansion import expand
from engine.workflows.model import WORKFLOW_ONLY_KEYS
from engine.workflows.problems import WorkflowError
from engine.workflows.reader import Reader
from engine.workflows.workflow import Settings, Workflow, WorkflowJob, to_job_specs

__all__ = [
    "Settings",
    "Workflow",
    "WorkflowError",
    "WorkflowJob",
    "expand",
    "is_workflow",
    "parse_workflow",
    "to_job_specs",
    "workflow_from_node",
]


def is_workflow(root: yaml.Node | None) -> bool:
    """True when a document is a workflow: a mapping with a `jobs:` list where a job has an `id`, or with a
    key only a workflow has (`global_config`). A job list never has either."""
    if not isinstance(root, yaml.MappingNode):
        return False
    if any(yamlnodes.value_of(root, key) is not None for key in WORKFLOW_ONLY_KEYS):
        return True
    jobs = yamlnodes.value_of(root, "jobs")
    return isinstance(jobs, yaml.SequenceNode) and any(
        yamlnodes.value_of(item, "id") is not None for item in jobs.value
    )


def parse_workflow(
    data: bytes,
    source: str,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    branch: str | Callable[[], str | None] | None = None,
    allow_cycles: bool = False,
) -> Workflow:
    """The workflow in `data` (the file's bytes), named `source` in errors. `base_dir` (default: the file's
    directory, or the current one for `<stdin>`) anchors relative paths; `env` is the submitter's
    environment (default: this process's); `branch` is the branch `only_if_branch` compares with (or a
    function giving it, called only when a job asks). `allow_cycles` reads a cyclic graph without refusing
    it (for `analyze`, which reports the cycle): such a workflow is never to be queued."""
    text = yamlnodes.decode(data, source, WorkflowError)
    root = yamlnodes.compose(text, source, WorkflowError)
    if root is None:
        raise WorkflowError(f"{source}: holds no workflow; write a mapping with name: and jobs:.")
    yamlnodes.check_nodes(root, source, WorkflowError)
    return workflow_from_node(root, data, source, base_dir=base_dir, env=env, branch=branch, allow_cycles=allow_cycles)


def workflow_from_node(
    root: yaml.Node,
    data: bytes,
    source: str,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    branch: str | Callable[[], str | None] | None = None,
    allow_cycles: bool = False,
) -> Workflow:
    """`parse_workflow` for a document already composed (and checked) by the caller, as `tui.jobfile` does."""
    if base_dir is None:
        base_dir = os.getcwd() if source.startswith("<") else os.path.dirname(os.path.abspath(source))
    reader = Reader(root, source, os.path.abspath(base_dir), os.environ if env is None else env, branch)
    return reader.read(hashlib.sha256(data).hexdigest(), allow_cycles)
