"""Reading a workflow document into a `Workflow`: its shape, its jobs, their edges and ids, cycles, and the
conditions decided when read.

Edges. `dependencies:` (or `after:`) is a list whose items are an id (`build`: waits for build to complete)
or a one-key mapping `{build: failure}`, or a mapping of ids to conditions (`after: {build: success,
lint: any}`). Conditions: `success` (Slurm afterok, the default), `failure` (afternotok: only once the parent
failed), `any` (afterany: once the parent ended, whatever way).

Conditions are decided when the workflow is read, from the submitter's environment, so the engine needs no
new notion of them: `skip_if_failed: [ids]` (each must be a parent) makes those edges `success` (an `any`
edge then skips the job when that parent failed; a `failure` edge would never run: refused);
`only_if: {NAME: value}` compares with the job's environment (the submitter's, overlaid with `environment`);
`only_if_branch: main` compares with the branch the caller gives (`tui.jobfile`: `$JOBTUI_BRANCH`, else
the git branch checked out in the workflow's directory; unknown: the condition is false). A job whose
condition is false does not run (`Workflow.skipped` says why), nor does any child waiting for it with
`success` or `failure`; a child's `any` edge to it is dropped, as to a parent that ended.
"""

from __future__ import annotations

from collections.abc import Callable
from difflib import get_close_matches
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from engine.service.jobspec import Condition
from engine.workflows import yamlnodes
from engine.workflows.graph import GraphNode, analyze
from engine.workflows.jobs import JobReader
from engine.workflows.model import (
    CONDITIONS,
    Conditions,
    GlobalConfig,
    HttpOptions,
    JobModel,
    ResourceLimits,
    RetryConfig,
    TextLoader,
    WorkflowModel,
)
from engine.workflows.problems import Loc, WorkflowError
from engine.workflows.workflow import Workflow, WorkflowJob


class Reader(JobReader):
    """A workflow document read into a `Workflow`, every problem reported at once (`Problems.fail`)."""

    # -- the steps

    def read(self, digest: str, allow_cycles: bool) -> Workflow:
        self._check_shape()
        try:
            raw = TextLoader("").construct_document(self.root)
        except yaml.MarkedYAMLError as e:
            raise yamlnodes.marked(e, self.source, WorkflowError) from e
        listed = raw.get("jobs") if isinstance(raw, dict) else None
        for item in listed if isinstance(listed, list) else []:
            job_id = item.get("id") if isinstance(item, dict) else None
            self.ids.append(job_id if isinstance(job_id, str) else None)
        try:
            top = WorkflowModel.model_validate(raw)
        except PydanticError as e:
            for error in e.errors():
                self._pydantic_problem(error)
            top = WorkflowModel.model_construct(global_config=GlobalConfig(), jobs=[])
        jobs: list[tuple[int, JobModel]] = []  # the jobs that are valid on their own, with their index
        items = raw.get("jobs") if isinstance(raw, dict) else None
        for i, item in enumerate(items if isinstance(items, list) else []):
            try:
                jobs.append((i, JobModel.model_validate(item)))
            except PydanticError as e:
                for error in e.errors():
                    self._pydantic_problem({**error, "loc": ("jobs", i, *error["loc"])})
        edges = {i: self._edges(i, job) for i, job in jobs}
        self._check_ids(jobs, edges)
        cycle: tuple[str, ...] = ()
        if not self.problems:  # a graph of valid jobs and known ids
            cycle = tuple(analyze([GraphNode(job.id, tuple(edges[i])) for i, job in jobs]).cycle)
            if cycle and not allow_cycles:
                first, job = next((i, job) for i, job in jobs if job.id == cycle[0])
                self.problem(
                    ["jobs", first, "dependencies" if job.dependencies is not None else "after"],
                    f"dependency cycle: {' -> '.join(cycle)}; remove one of these dependencies.",
                )
        settings = self._settings(top, [job for _, job in jobs])
        built = [self._job(i, job, edges[i], settings) for i, job in jobs]
        self.fail()
        workflow_jobs = self._decide_skips([job for job in built if job is not None], [job for _, job in jobs])
        return Workflow(
            name=top.name or (Path(self.source).stem if not self.source.startswith("<") else "workflow"),
            version=top.version,
            description=top.description or "",
            digest=digest,
            source=self.source,
            base_dir=self.base_dir,
            settings=settings,
            jobs=tuple(workflow_jobs),
            branch=self._branch if isinstance(self._branch, str) else None,
            cycle=cycle,
        )

    def _check_shape(self) -> None:
        if not isinstance(self.root, yaml.MappingNode):
            self.problem([], "a workflow is a mapping (name:, global_config:, jobs: ...), not a list.")
            self.fail()
        jobs = yamlnodes.value_of(self.root, "jobs")
        if isinstance(jobs, yaml.SequenceNode):
            for i, item in enumerate(jobs.value):
                if yamlnodes.value_of(item, "id") is None:
                    self.problem(
                        ["jobs", i],
                        "has no `id`: this file mixes a workflow (jobs with id:, job_type:, dependencies:) with a "
                        "job list (name:, command:, after: by key); write every job the workflow's way, with an id.",
                    )
        self.fail()

    def _pydantic_problem(self, error: Any) -> None:
        path: Loc = list(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            key = str(path[-1])
            known = _known_keys(path[:-1])
            close = get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "; remove it or check its spelling"
            message = f"unknown key{hint}"
        elif error["type"] == "missing":
            message = "required; add it"
        elif path == ["jobs"] and error["type"] == "too_short":
            message = "a workflow needs at least one job"
        self.problem(path, message)

    def _edges(self, index: int, job: JobModel) -> dict[str, Condition]:
        """The parents of job `index` with their conditions, from `dependencies:` or `after:`."""
        if job.dependencies is not None and job.after is not None:
            self.problem(["jobs", index, "after"], "give `dependencies:` or `after:`, not both")
            return {}
        key = "after" if job.after is not None else "dependencies"
        value = job.after if job.after is not None else job.dependencies
        edges: dict[str, Condition] = {}
        usage = "write a list of ids ([build, test]), items such as {build: failure}, or {build: success, lint: any}"
        items: list[tuple[Loc, Any, Any]]
        if value is None:
            return edges
        if isinstance(value, dict):
            items = [(["jobs", index, key, k], k, v) for k, v in value.items()]
        elif isinstance(value, list):
            items = []
            for n, item in enumerate(value):
                if isinstance(item, dict) and len(item) == 1:
                    ((parent, when),) = item.items()
                    items.append((["jobs", index, key, n], parent, when))
                elif isinstance(item, str):
                    items.append((["jobs", index, key, n], item, "success"))
                else:
                    self.problem(["jobs", index, key, n], f"{item!r} is not a dependency; {usage}")
        else:
            self.problem(["jobs", index, key], f"{value!r} is not a list of dependencies; {usage}")
            return edges
        for path, parent, when in items:
            if not isinstance(parent, str):
                self.problem(path, f"{parent!r} is not a job id; {usage}")
            elif when not in CONDITIONS:
                self.problem(
                    path,
                    f"{when!r} is not a condition; use success (afterok), failure (afternotok) or any (afterany)",
                )
            elif parent in edges:
                self.problem(path, f"names {parent!r} twice; give each parent once")
            else:
                edges[parent] = cast(Condition, when)
        return edges

    def _check_ids(self, jobs: list[tuple[int, JobModel]], edges: dict[int, dict[str, Condition]]) -> None:
        first: dict[str, int] = {}
        for i, job_id in enumerate(self.ids):  # every job's, valid or not: a dependency on it is no mistake
            if job_id is None:
                continue
            if job_id in first:
                line = yamlnodes.line_at(self.root, ["jobs", first[job_id], "id"])
                self.problem(["jobs", i, "id"], f"the id {job_id!r} is already used by the job at line {line}")
            else:
                first[job_id] = i
        for i, job in jobs:
            parents = edges[i]
            key = "after" if job.after is not None else "dependencies"
            for parent in parents:
                if parent not in first:
                    close = get_close_matches(parent, list(first), n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    self.problem(
                        self._edge_path(i, key, parent),
                        f"depends on {parent!r}, which is no job of this workflow{hint}",
                    )
            for n, named in enumerate(job.conditions.skip_if_failed if job.conditions else []):
                path: Loc = ["jobs", i, "conditions", "skip_if_failed", n]
                if named not in parents:
                    self.problem(path, f"names {named!r}, which is not a dependency of this job; add it there first")
                elif parents[named] == "failure":
                    self.problem(path, f"{named!r} is a `failure` dependency: with skip_if_failed the job never runs")
                else:
                    parents[named] = "success"

    def _edge_path(self, index: int, key: str, parent: str) -> Loc:
        node = yamlnodes.value_of(yamlnodes.value_of(self.root, "jobs").value[index], key)  # type: ignore[union-attr]
        if isinstance(node, yaml.SequenceNode):
            for n, item in enumerate(node.value):
                if (isinstance(item, yaml.ScalarNode) and item.value == parent) or yamlnodes.value_of(
                    item, parent
                ) is not None:
                    return ["jobs", index, key, n]
        return ["jobs", index, key, parent]

    # -- conditions decided when read

    def branch(self) -> str | None:
        if not self._branch_known:
            self._branch = cast(Callable[[], str | None], self._branch)()
            self._branch_known = True
        return cast(str | None, self._branch)

    def _decide_skips(self, jobs: list[WorkflowJob], models: list[JobModel]) -> list[WorkflowJob]:
        conditions = {job.id: job.conditions for job in models}
        reasons: dict[str, str] = {}
        for job in jobs:
            reason = self._condition_fails(job, conditions[job.id])
            if reason:
                reasons[job.id] = reason
        children: dict[str, list[WorkflowJob]] = {}
        for job in jobs:
            for parent in job.after:
                children.setdefault(parent, []).append(job)
        pending = list(reasons)
        while pending:  # a job that will not run takes its success and failure children with it
            parent = pending.pop()
            for child in children.get(parent, []):
                if child.id not in reasons and child.after[parent] != "any":
                    reasons[child.id] = f"its dependency {parent!r} does not run"
                    pending.append(child.id)
        if not reasons:
            return jobs
        return [WorkflowJob(j.id, j.name, j.job_type, j.spec, j.after, j.line, j.tags, reasons.get(j.id)) for j in jobs]

    def _condition_fails(self, job: WorkflowJob, conditions: Conditions | None) -> str | None:
        if conditions is None:
            return None
        seen = {**self.env, **job.spec.env}
        for name, wanted in conditions.only_if.items():
            actual = seen.get(name)
            if actual != wanted:
                now = "unset" if actual is None else f"{actual!r}"
                return f"only_if: {name} is {now}, not {wanted!r}"
        if conditions.only_if_branch is not None:
            actual = self.branch()
            if actual != conditions.only_if_branch:
                now = "unknown" if actual is None else f"{actual!r}"
                return f"only_if_branch: the branch is {now}, not {conditions.only_if_branch!r}"
        return None


def _known_keys(path: Loc) -> list[str]:
    """The keys a mapping at `path` may hold, for a did-you-mean hint."""
    models: dict[str, type[BaseModel]] = {
        "global_config": GlobalConfig,
        "retry_config": RetryConfig,
        "resource_limits": ResourceLimits,
        "conditions": Conditions,
        "http": HttpOptions,
    }
    if not path:
        return list(WorkflowModel.model_fields)
    last = path[-1]
    if isinstance(last, int):
        return list(JobModel.model_fields)
    model = models.get(str(last))
    return list(model.model_fields) if model else []
