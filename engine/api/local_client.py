"""`LocalClient`: the EngineClient for an engine hosted in this process (the TUI hosting it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from engine.models import Actor
from engine.service.jobspec import parse_specs
from engine.service.verbs import JobService
from engine.service.views import job_detail, log_chunk, parse_statuses, snapshot, wait_for_jobs


class LocalClient:
    """An engine in this process (the TUI hosting it)."""

    def __init__(self, service: JobService, user: str) -> None:
        self.service = service
        self.engine = service.engine
        self.user = user

    @property
    def _actor(self) -> Actor:
        return self.service.actor(self.user)

    async def submit(self, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [j.to_dict() for j in await self.service.submit(self._actor, parse_specs(specs))]

    async def list_jobs(self, status=None, limit=50, include_completed=False, user=None) -> list[dict[str, Any]]:
        return [j.to_dict() for j in self.service.list(parse_statuses(status), user, include_completed, limit)]

    async def job(self, job_id: int) -> dict[str, Any]:
        return await job_detail(self.service, job_id)

    async def logs(self, job_id, stream="stdout", offset=0, limit=65536, attempt=None) -> dict[str, Any]:
        return await log_chunk(self.service, job_id, stream, offset, limit, attempt)

    async def cancel(self, job_id: int) -> dict[str, Any]:
        return (await self.service.cancel(self._actor, job_id)).to_dict()

    async def approve(self, job_id: int) -> dict[str, Any]:
        return (await self.service.approve(self._actor, job_id)).to_dict()

    async def reject(self, job_id: int, reason: str) -> dict[str, Any]:
        return (await self.service.reject(self._actor, job_id, reason)).to_dict()

    async def requeue(self, job_id: int) -> dict[str, Any]:
        return (await self.service.requeue(self._actor, job_id)).to_dict()

    async def set_priority(self, job_id: int, priority: int) -> dict[str, Any]:
        return (await self.service.set_priority(self._actor, job_id, priority)).to_dict()

    async def wait(self, ids: list[int] | None, timeout: float = 30.0) -> dict[str, Any]:
        return await wait_for_jobs(self.engine, ids, timeout)

    async def stats(self) -> dict[str, Any]:
        return self.service.stats()

    async def me(self) -> dict[str, Any]:
        return self.service.me(self._actor)

    async def position(self, job_id: int) -> int | None:
        return self.service.position(job_id)

    async def limits(self) -> dict[str, Any]:
        return self.service.limits()

    async def set_limits(self, changes: dict[str, Any]) -> dict[str, Any]:
        return await self.service.set_limits(self._actor, changes)

    async def cleanup(self, days: float) -> int:
        return await self.service.cleanup(self._actor, days)

    async def nodes(self) -> list[dict[str, Any]]:
        return self.service.nodes()

    async def snapshot(self, view: str = "full", limit: int | None = None) -> dict[str, Any]:
        return snapshot(self.service, view, limit)

    async def events(self, since: int | None = None) -> AsyncIterator[tuple[int, str, dict[str, Any]]]:
        sub = self.engine.subscribe(since)
        try:
            while True:
                event = await sub.queue.get()
                yield event.seq, event.kind, event.data()
        finally:
            self.engine.unsubscribe(sub)

    async def close(self) -> None:
        return None
