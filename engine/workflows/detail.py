"""A submitted workflow as `GET /api/workflows/{id}` and `jobtui show wf:ID` give it: its record and status
(`service.workflow_reads`), its jobs with their edges and conditions, and its graph's execution levels and
critical path (`graph.analyze`, each job weighed by the median run time of completed jobs of its name, else by its
timeout). It reads; it changes nothing.
"""

from __future__ import annotations

from typing import Any

from engine.models import Job
from engine.service.verbs import JobService
from engine.service.workflow_reads import workflow_jobs
from engine.wire import workflow_detail_result, workflow_job, workflow_summary
from engine.workflows.graph import GraphNode, analyze


def graph_of(jobs: list[Job]) -> list[GraphNode]:
    """The jobs as a graph (ids as text); an edge to a job outside them (a dependency by id) is left out."""
    ids = {job.id for job in jobs}
    return [
        GraphNode(
            str(job.id),
            tuple(str(p) for p in job.after if p in ids),
            job.timeout,
            job.name,
            {str(p): when for p, when in job.after_when.items() if p in ids},
        )
        for job in jobs
    ]


def workflow_detail(service: JobService, workflow_id: int) -> dict[str, Any]:
    record, jobs = workflow_jobs(service.engine, workflow_id)
    medians = service.engine.watch.run_times.medians_by_name()  # past run times weigh a job before its timeout
    analysis = analyze(graph_of(jobs), medians, title=record.name)
    level_of = {int(job_id): n for n, level in enumerate(analysis.levels) for job_id in level}
    return workflow_detail_result(
        workflow_summary(record, jobs),
        [workflow_job(job, level_of.get(job.id)) for job in jobs],
        [[int(job_id) for job_id in level] for level in analysis.levels],
        [int(job_id) for job_id in analysis.critical_path],
        analysis.critical_seconds,
    )
