"""The result of reading a workflow file: `Workflow`, its `WorkflowJob`s and `Settings`, and the batch of
`JobSpec`s it becomes (`to_job_specs`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.service.jobspec import Condition, JobSpec
from engine.workflows.graph import GraphNode
from engine.workflows.model import JobType


@dataclass(frozen=True)
class Settings:
    max_retries: int | None = None
    timeout: float | None = None
    max_concurrent_jobs: int | None = None  # the smallest of global_config's and every job's resource_limits'


@dataclass(frozen=True)
class WorkflowJob:
    id: str
    name: str
    job_type: JobType
    spec: JobSpec  # the whole job, every parent in `after` (see `to_job_specs` for the batch)
    after: Mapping[str, Condition]  # parent id -> condition, declared order (skip_if_failed applied)
    line: int
    tags: tuple[str, ...] = ()
    skipped: str | None = None  # why it will not run, decided when read (only_if, a parent that will not run)


@dataclass(frozen=True)
class Workflow:
    name: str
    version: str | None
    description: str
    digest: str  # sha256 of the file's bytes, hex
    source: str  # the file as named (`<stdin>` for standard input)
    base_dir: str  # the directory relative paths are taken from
    settings: Settings
    jobs: tuple[WorkflowJob, ...]
    branch: str | None = None  # the branch `only_if_branch` compared with, when a job has one
    cycle: tuple[str, ...] = ()  # only when read with allow_cycles: one cycle of the graph
    _by_id: dict[str, WorkflowJob] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update({job.id: job for job in self.jobs})

    def job(self, job_id: str) -> WorkflowJob:
        return self._by_id[job_id]

    @property
    def skipped(self) -> dict[str, str]:
        """The jobs that will not run, with the reason, decided when the workflow was read."""
        return {job.id: job.skipped for job in self.jobs if job.skipped}

    def graph(self) -> list[GraphNode]:
        """The graph `graph.analyze` takes: edges as declared, each job weighed by its timeout."""
        return [
            GraphNode(
                job.id,
                tuple(job.after),
                job.spec.timeout,
                job.name,
                {p: c for p, c in job.after.items() if c != "success"},
            )
            for job in self.jobs
        ]

    def to_job_specs(self) -> list[JobSpec]:
        return to_job_specs(self)

    def as_dict(self) -> dict[str, Any]:
        """Who the workflow is (for a record of it, or `analyze --json`)."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "digest": self.digest,
            "file": self.source,
            "settings": {
                "max_retries": self.settings.max_retries,
                "timeout": self.settings.timeout,
                "max_concurrent_jobs": self.settings.max_concurrent_jobs,
            },
            "skipped": self.skipped,
        }


def to_job_specs(workflow: Workflow) -> list[JobSpec]:
    """The workflow as one batch: every job that will run, keyed by its id, its edges to the jobs that will
    not run dropped (only `any` edges can be left there: a `success` or `failure` child of such a job does
    not run either)."""
    specs = []
    for job in workflow.jobs:
        if job.skipped:
            continue
        gone = {p for p in job.after if workflow.job(p).skipped}
        if not gone:
            specs.append(job.spec)
            continue
        after = [p for p in job.spec.after if p not in gone]
        when = {p: c for p, c in job.spec.after_when.items() if p not in gone}
        specs.append(job.spec.model_copy(update={"after": after, "after_when": when}))
    return specs
