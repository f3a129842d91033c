"""Reading a file of jobs (`submit --file`, `run`, `--submit`): a YAML list of jobs, or one command per line.

Which of the two a file is, is decided by its first meaningful line (the first that is neither blank nor
a `#` comment), never by whether the text happens to parse as YAML:

- the file is YAML when that line starts a list item (`-` then a space or the end of the line), a flow
  collection (`[` or `{`, so JSON is read too), a document (`---`, or a `%` directive), or a mapping key
  (a word then `:` and a space or the end of the line, as in `jobs:`);
- anything else makes it a command list: one command per line, split like a shell would (as GNU parallel
  reads them), blank lines and `#` comments skipped.

So a YAML file with a mistake in it is reported with its line and never run line by line. YAML holds a
list of jobs, each a mapping (`name:`, `command:`, ... as `jobtui submit` takes them) or a command string,
or a mapping with that list under `jobs:`. Every problem is one `ValidationError` (exit 2) naming the file
and, where it has one, the line: text that is not UTF-8, a YAML syntax or escape error, nesting too deep,
a number that is not finite (`.inf`, `.nan`), a job that is not a mapping, a `workdir` that is not a path.
A relative `workdir` is taken from the current directory.

A YAML mapping whose `jobs:` entries have an `id` (or that has `global_config:`) is a workflow instead
(`engine.workflows.schema`): it is validated whole (every problem with its line), and its jobs become specs
keyed by their ids, expanded from this process's environment. `read_jobs` also returns the `Workflow`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.errors import ValidationError
from engine.workflows import yamlnodes
from engine.workflows.schema import Workflow, WorkflowError, is_workflow, workflow_from_node

_YAML_START = re.compile(r"(-(\s|$)|[\[{]|---|%|[\w.-]+\s*:(\s|$))")
MAX_DEPTH = yamlnodes.MAX_DEPTH


class JobFileError(ValidationError):
    title = "Bad job file"


@dataclass(frozen=True)
class JobFile:
    jobs: list[dict[str, Any]]  # submission specs, as `EngineClient.submit` takes them
    workflow: Workflow | None = None  # when the file is a workflow: its name, version, digest, settings, jobs

    @property
    def workflow_info(self) -> dict[str, Any] | None:
        """What a submission says of its workflow (`EngineClient.submit(..., workflow=)`): the engine keeps a
        record of it with the jobs. None when the file is a job list."""
        w = self.workflow
        if w is None:
            return None
        info = {"name": w.name, "version": w.version, "description": w.description, "digest": w.digest}
        return {**info, "max_concurrent": w.settings.max_concurrent_jobs}


def read_job_file(name: str) -> list[dict[str, Any]]:
    """The jobs of file `name` (`-`: stdin) as submission specs; see the module's rule for the formats."""
    return read_jobs(name).jobs


def read_jobs(name: str, env: Mapping[str, str] | None = None) -> JobFile:
    """The jobs of file `name` (`-`: stdin), and its workflow when it is one (expanded from `env`, default
    this process's environment)."""
    where = "<stdin>" if name == "-" else name
    raw = _read_bytes(name, where)
    text = yamlnodes.decode(raw, where, JobFileError)
    if is_yaml(text):
        root = _compose(text, where)
        if root is not None and is_workflow(root):
            workflow = _workflow(root, raw, name, where, env, allow_cycles=False)
            specs = workflow.to_job_specs()
            if not specs:
                raise WorkflowError(f"{where}: every job is skipped by its conditions: {workflow.skipped}")
            return JobFile([s.model_dump(mode="json", exclude_defaults=True) for s in specs], workflow)
        jobs = _yaml_jobs(root, where)
    else:
        jobs = _command_lines(text, where)
    if not jobs:
        raise JobFileError(f"{where}: holds no jobs; write a YAML list of jobs or one command per line.")
    return JobFile(jobs)


def read_workflow_file(name: str, *, allow_cycles: bool = False, env: Mapping[str, str] | None = None) -> Workflow:
    """The workflow in file `name` (`-`: stdin); a file that is no workflow is an error saying so.
    `allow_cycles` (for `analyze`) reads a cyclic one: its `cycle` says where, and it must not be queued."""
    where = "<stdin>" if name == "-" else name
    raw = _read_bytes(name, where)
    text = yamlnodes.decode(raw, where, WorkflowError)
    root = _compose(text, where) if is_yaml(text) else None
    if root is None or not is_workflow(root):
        raise WorkflowError(
            f"{where}: not a workflow; a workflow is a mapping with `jobs:`, each job with an `id:` "
            "(see `jobtui create`)."
        )
    return _workflow(root, raw, name, where, env, allow_cycles=allow_cycles)


def _workflow(
    root: yaml.Node, raw: bytes, name: str, where: str, env: Mapping[str, str] | None, allow_cycles: bool
) -> Workflow:
    base_dir = os.getcwd() if name == "-" else os.path.dirname(os.path.abspath(name))
    environment = os.environ if env is None else env
    return workflow_from_node(
        root,
        raw,
        where,
        base_dir=base_dir,
        env=environment,
        branch=lambda: environment.get("JOBTUI_BRANCH") or _git_branch(base_dir),
        allow_cycles=allow_cycles,
    )


def _git_branch(directory: str) -> str | None:
    """The branch checked out where the workflow lies (for `only_if_branch`); None outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "-C", directory, "rev-parse", "--abbrev-ref", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    branch = done.stdout.strip()
    return branch if done.returncode == 0 and branch and branch != "HEAD" else None


def is_yaml(text: str) -> bool:
    """True when `text` is read as YAML rather than as a command list (the module's rule)."""
    first = next((s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")), "")
    return bool(_YAML_START.match(first))


def _read_bytes(name: str, where: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as e:
        raise JobFileError(f"{where}: cannot read the job file ({e.strerror or e}); check the path.") from e


def _command_lines(text: str, where: str) -> list[dict[str, Any]]:
    jobs = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            jobs.append({"command": shlex.split(line), "workdir": os.getcwd()})
        except ValueError as e:
            raise JobFileError(f"{where}:{number}: cannot split this command line ({e}); check its quotes.") from e
    return jobs


def _compose(text: str, where: str) -> yaml.Node | None:
    root = yamlnodes.compose(text, where, JobFileError)
    if root is not None:
        yamlnodes.check_nodes(root, where, JobFileError)
    return root


def _yaml_jobs(root: yaml.Node | None, where: str) -> list[dict[str, Any]]:
    if root is None:
        return []
    items: yaml.Node = root
    if isinstance(root, yaml.MappingNode):
        found = next((value for key, value in root.value if key.value == "jobs"), None)
        if found is None:
            raise JobFileError(
                f"{where}:{yamlnodes.line_of(root)}: a mapping without `jobs:`; a job file is a list of jobs, "
                "or a mapping with the list under `jobs:`."
            )
        items = found
    if not isinstance(items, yaml.SequenceNode):
        raise JobFileError(f"{where}:{yamlnodes.line_of(items)}: expected a list of jobs (`- name: ...` items).")
    loader = yaml.SafeLoader("")
    jobs = []
    for number, node in enumerate(items.value, 1):
        try:
            item = loader.construct_document(node)
        except yaml.MarkedYAMLError as e:
            raise yamlnodes.marked(e, where, JobFileError) from e
        except (ValueError, OverflowError) as e:  # a date like 2024-13-45, raised unmarked
            raise JobFileError(
                f"{where}:{yamlnodes.line_of(node)}: job {number}: {e}; quote the value to keep it as text."
            ) from e
        if isinstance(item, str):
            item = {"command": item}
        if isinstance(item, dict) and "id" in item:
            raise JobFileError(
                f"{where}:{yamlnodes.line_of(node)}: job {number} has an `id`, as a workflow's jobs do; a workflow "
                "is a mapping with its jobs under `jobs:` (see `jobtui create`), a job list names jobs by `key:`."
            )
        if not isinstance(item, dict):
            raise JobFileError(
                f"{where}:{yamlnodes.line_of(node)}: job {number} is a {_kind(item)}; write each job as a mapping "
                "(name:, command:, ...) or as a command string."
            )
        workdir = item.get("workdir")
        if workdir is not None and not isinstance(workdir, str):
            raise JobFileError(
                f"{where}:{yamlnodes.line_of(node, 'workdir')}: job {number}: workdir must be a path (text), "
                f"not {workdir!r}."
            )
        jobs.append({**item, "workdir": os.path.abspath(workdir or ".")})
    return jobs


def _kind(value: Any) -> str:
    return {list: "list", int: "number", float: "number", bool: "true/false"}.get(type(value), type(value).__name__)
