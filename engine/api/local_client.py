"""`LocalClient`: the EngineClient for an engine hosted in this process (the TUI hosting it).

Every answer is built by the same engine.wire encoder as the HTTP route's body, and the same part of it
is returned as `HttpClient` returns, so the two clients answer alike by construction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from engine.events import Event
from engine.models import Actor
from engine.service import workflow_verbs
from engine.service.jobspec import parse_specs, parse_workflow_info
from engine.service.metrics import metrics, parse_window
from engine.service.planning import plan_batch
from engine.service.reads import job_detail, log_chunk, parse_statuses, snapshot, wait_for_jobs
from engine.service.verbs import JobService
from engine.service.workflow_reads import list_workflows
from engine.wire import (
    cleanup_result,
    job_record,
    limits_result,
    list_result,
    nodes_result,
    position_result,
    stats_result,
    submit_result,
)
from engine.workflows.detail import workflow_detail


class LocalClient:
    """An engine in this process (the TUI hosting it)."""

    def __init__(self, service: JobService, user: str) -> None:
        self.service = service
        self.engine = service.engine
        self.user = user

    @property
    def _actor(self) -> Actor:
        return self.service.actor(self.user)

    async def submit(
        self,
        specs: list[dict[str, Any]],
        key: str | None = None,
        workflow: dict[str, Any] | None = None,
        environment: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        info = None if workflow is None else parse_workflow_info(workflow)
        jobs = await self.service.submit(self._actor, parse_specs(specs), key, info, environment)
        return submit_result(jobs)["jobs"]

    async def plan(self, specs: list[dict[str, Any]]) -> dict[str, Any]:
        return plan_batch(self.service, self._actor, parse_specs(specs))

    async def list_jobs(self, status=None, limit=50, include_completed=False, user=None) -> list[dict[str, Any]]:
        jobs = self.service.list(parse_statuses(status), user, include_completed, limit)
        return list_result(jobs, self.service.waiting(jobs))["jobs"]

    async def job(self, job_id: int) -> dict[str, Any]:
        return await job_detail(self.service, job_id)

    async def logs(self, job_id, stream="stdout", offset=0, limit=65536, attempt=None) -> dict[str, Any]:
        return await log_chunk(self.service, job_id, stream, offset, limit, attempt)

    async def cancel(self, job_id: int) -> dict[str, Any]:
        return job_record(await self.service.cancel(self._actor, job_id))

    async def approve(self, job_id: int) -> dict[str, Any]:
        return job_record(await self.service.approve(self._actor, job_id))

    async def reject(self, job_id: int, reason: str) -> dict[str, Any]:
        return job_record(await self.service.reject(self._actor, job_id, reason))

    async def requeue(self, job_id: int) -> dict[str, Any]:
        return job_record(await self.service.requeue(self._actor, job_id))

    async def set_priority(self, job_id: int, priority: int) -> dict[str, Any]:
        return job_record(await self.service.set_priority(self._actor, job_id, priority))

    async def wait(self, ids: list[int] | None, timeout: float = 30.0, include_blocked: bool = False) -> dict[str, Any]:
        return await wait_for_jobs(self.engine, ids, timeout, include_blocked)

    async def approvals(self) -> list[dict[str, Any]]:
        jobs = self.service.approvals(self._actor)
        return list_result(jobs, self.service.waiting(jobs))["jobs"]

    async def fairshare(self) -> dict[str, Any]:
        return self.service.fairshare()

    async def stats(self) -> dict[str, Any]:
        return stats_result(self.service.stats())

    async def metrics(self, since: str = "7d", by: str | None = None) -> dict[str, Any]:
        return await metrics(self.engine, parse_window(since), by)

    async def me(self) -> dict[str, Any]:
        return self.service.me(self._actor)

    async def position(self, job_id: int) -> int | None:
        return position_result(job_id, self.service.position(job_id))["position"]

    async def limits(self) -> dict[str, Any]:
        return limits_result(self.service.limits())

    async def set_limits(self, changes: dict[str, Any]) -> dict[str, Any]:
        return limits_result(await self.service.set_limits(self._actor, changes))

    async def cleanup(self, days: float) -> int:
        return cleanup_result(await self.service.cleanup(self._actor, days))["deleted"]

    async def workflows(self) -> list[dict[str, Any]]:
        return list_workflows(self.service)["workflows"]

    async def workflow(self, workflow_id: int) -> dict[str, Any]:
        return workflow_detail(self.service, workflow_id)

    async def cancel_workflow(self, workflow_id: int) -> dict[str, Any]:
        return await workflow_verbs.cancel_workflow(self.service, self._actor, workflow_id)

    async def requeue_workflow(self, workflow_id: int) -> dict[str, Any]:
        return await workflow_verbs.requeue_workflow(self.service, self._actor, workflow_id)

    async def nodes(self) -> list[dict[str, Any]]:
        return nodes_result(self.service.nodes())["nodes"]

    async def system_status(self, include_allocation: bool = False) -> dict[str, Any]:
        return self.service.system_status(include_allocation)

    async def snapshot(self, view: str = "full", limit: int | None = None) -> dict[str, Any]:
        return snapshot(self.service, view, limit)

    async def events(self, since: int | None = None) -> AsyncIterator[Event]:
        """The engine's typed events after `since` (the bus's own objects: read them, do not change them)."""
        sub = self.engine.subscribe(since)
        try:
            while True:
                yield await sub.queue.get()
        finally:
            self.engine.unsubscribe(sub)

    async def close(self) -> None:
        return None
