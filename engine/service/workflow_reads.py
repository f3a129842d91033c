"""Reads of workflows: the list and one workflow with its jobs. A workflow is its record (`models.WorkflowRecord`,
kept by the engine) and the jobs that carry its id; its status is derived from them (`wire.workflow_status`),
never stored. The detail with levels and critical path is `engine.workflows.detail` (the graph's layer).
"""

from __future__ import annotations

from typing import Any

from engine.core.engine import Engine
from engine.models import Job, WorkflowRecord
from engine.service.verbs import JobService
from engine.wire import workflow_summary, workflows_result


def jobs_by_workflow(engine: Engine) -> dict[int, list[Job]]:
    """The jobs of every workflow, in id order: one pass over the jobs."""
    found: dict[int, list[Job]] = {}
    for job in engine.jobs():
        if job.workflow_id is not None:
            found.setdefault(job.workflow_id, []).append(job)
    return found


def workflow_jobs(engine: Engine, workflow_id: int) -> tuple[WorkflowRecord, list[Job]]:
    """The record of workflow `workflow_id` (NotFound when there is none) and its jobs, in id order."""
    record = engine.workflow(workflow_id)
    return record, [job for job in engine.jobs() if job.workflow_id == workflow_id]


def list_workflows(service: JobService) -> dict[str, Any]:
    """`GET /api/workflows`: every workflow, in id order, with its status and its jobs' counts by status."""
    engine = service.engine
    jobs = jobs_by_workflow(engine)
    return workflows_result([workflow_summary(w, jobs.get(w.id, [])) for w in engine.workflows()])


def summary_of(service: JobService, workflow_id: int) -> dict[str, Any]:
    """One workflow as `list_workflows` shows it."""
    return workflow_summary(*workflow_jobs(service.engine, workflow_id))
