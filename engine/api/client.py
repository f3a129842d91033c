"""`EngineClient`: the one way the TUI and the CLI talk to an engine.

`LocalClient` (engine/api/local_client.py) calls an engine in this process; `HttpClient` speaks to a
running engine over its Unix socket (or TCP with a token). Both return the same JSON-shaped dicts, built
by the encoders of engine.wire, and the same contract tests run against both. `events()` yields the typed
events of engine.events (kinds this version does not know are skipped).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson

from engine.errors import (
    Conflict,
    EngineUnavailable,
    JobTuiError,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    StoreError,
    ValidationError,
)
from engine.events import Event, Resync, decode
from engine.service.jobspec import check_idempotency_key
from engine.wire import HELLO

IDEMPOTENCY_KEY = "Idempotency-Key"
RETRY_PAUSE = 0.5  # seconds before a submission whose connection was lost is sent again


class EngineClient(Protocol):
    user: str

    async def submit(
        self,
        specs: list[dict[str, Any]],
        key: str | None = None,
        workflow: dict[str, Any] | None = None,
        environment: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]: ...
    async def plan(self, specs: list[dict[str, Any]]) -> dict[str, Any]: ...
    async def list_jobs(
        self,
        status: list[str] | None = None,
        limit: int | None = 50,
        include_completed: bool = False,
        user: str | None = None,
    ) -> list[dict[str, Any]]: ...
    async def job(self, job_id: int) -> dict[str, Any]: ...
    async def logs(
        self, job_id: int, stream: str = "stdout", offset: int = 0, limit: int = 65536, attempt: int | None = None
    ) -> dict[str, Any]: ...
    async def cancel(self, job_id: int) -> dict[str, Any]: ...
    async def approve(self, job_id: int) -> dict[str, Any]: ...
    async def reject(self, job_id: int, reason: str) -> dict[str, Any]: ...
    async def requeue(self, job_id: int) -> dict[str, Any]: ...
    async def set_priority(self, job_id: int, priority: int) -> dict[str, Any]: ...
    async def wait(
        self, ids: list[int] | None, timeout: float = 30.0, include_blocked: bool = False
    ) -> dict[str, Any]: ...
    async def approvals(self) -> list[dict[str, Any]]: ...
    async def fairshare(self) -> dict[str, Any]: ...
    async def stats(self) -> dict[str, Any]: ...
    async def metrics(self, since: str = "7d", by: str | None = None) -> dict[str, Any]: ...
    async def me(self) -> dict[str, Any]: ...
    async def position(self, job_id: int) -> int | None: ...
    async def limits(self) -> dict[str, Any]: ...
    async def set_limits(self, changes: dict[str, Any]) -> dict[str, Any]: ...
    async def cleanup(self, days: float) -> int: ...
    async def nodes(self) -> list[dict[str, Any]]: ...
    async def system_status(self, include_allocation: bool = False) -> dict[str, Any]: ...
    async def workflows(self) -> list[dict[str, Any]]: ...
    async def workflow(self, workflow_id: int) -> dict[str, Any]: ...
    async def cancel_workflow(self, workflow_id: int) -> dict[str, Any]: ...
    async def requeue_workflow(self, workflow_id: int) -> dict[str, Any]: ...
    async def snapshot(self, view: str = "full", limit: int | None = None) -> dict[str, Any]: ...
    def events(self, since: int | None = None) -> AsyncIterator[Event]: ...
    async def close(self) -> None: ...


_ERRORS: dict[int, type[JobTuiError]] = {
    400: ValidationError,
    401: NotAuthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: ValidationError,
    500: StoreError,
}


class HttpClient:
    """A running engine reached over HTTP (its Unix socket by default)."""

    def __init__(
        self, socket_path: Path | None, token: str | None, user: str = "", base_url: str = "http://jobtui"
    ) -> None:
        """Without a token, the engine knows the caller by the Unix socket's peer credentials."""
        transport = httpx.AsyncHTTPTransport(uds=str(socket_path)) if socket_path else None
        self.user = user
        self.where = str(socket_path) if socket_path else base_url
        self._instance: str | None = None  # the engine of the last snapshot: its event numbers are followed
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(transport=transport, base_url=base_url, headers=headers, timeout=30.0)

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise EngineUnavailable(
                f"cannot reach the engine at {self.where} ({e.__class__.__name__}); start one with `jobtui --serve`."
            ) from e
        if response.status_code >= 400:
            raise _error_from(response)
        return orjson.loads(response.content)

    async def submit(
        self,
        specs: list[dict[str, Any]],
        key: str | None = None,
        workflow: dict[str, Any] | None = None,
        environment: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """With an idempotency `key`, a connection lost on the way (refused, reset, timed out) is tried once more
        with the same key: the engine answers the jobs of a first try that got through, never submits twice.
        `workflow` ({name, version, description, digest}) says the batch came from a workflow file;
        `environment` is the submitter's (None: the jobs start from the engine's base environment)."""
        body: dict[str, Any] = {"jobs": specs} if workflow is None else {"jobs": specs, "workflow": workflow}
        if environment is not None:
            body["environment"] = environment
        if key is None:
            return (await self._call("POST", "/api/queue/submit", json=body))["jobs"]
        check_idempotency_key(key)  # before it goes into a header
        headers = {IDEMPOTENCY_KEY: key}
        try:
            return (await self._call("POST", "/api/queue/submit", json=body, headers=headers))["jobs"]
        except EngineUnavailable:
            await asyncio.sleep(RETRY_PAUSE)
            return (await self._call("POST", "/api/queue/submit", json=body, headers=headers))["jobs"]

    async def plan(self, specs: list[dict[str, Any]]) -> dict[str, Any]:
        """A dry run of submitting `specs` (`engine.service.planning`): nothing is queued."""
        return await self._call("POST", "/api/queue/plan", json={"jobs": specs})

    async def list_jobs(self, status=None, limit=50, include_completed=False, user=None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"include_completed": include_completed}
        if limit is not None:
            params["limit"] = limit
        if status:
            params["status"] = status
        if user:
            params["user"] = user
        return (await self._call("GET", "/api/queue", params=params))["jobs"]

    async def job(self, job_id: int) -> dict[str, Any]:
        return await self._call("GET", f"/api/jobs/{job_id}")

    async def logs(self, job_id, stream="stdout", offset=0, limit=65536, attempt=None) -> dict[str, Any]:
        params = {"stream": stream, "offset": offset, "limit": limit}
        if attempt is not None:
            params["attempt"] = attempt
        return await self._call("GET", f"/api/jobs/{job_id}/logs", params=params)

    async def cancel(self, job_id: int) -> dict[str, Any]:
        return await self._call("POST", f"/api/queue/{job_id}/cancel")

    async def approve(self, job_id: int) -> dict[str, Any]:
        return await self._call("POST", f"/api/queue/{job_id}/approve")

    async def reject(self, job_id: int, reason: str) -> dict[str, Any]:
        return await self._call("POST", f"/api/queue/{job_id}/reject", params={"reason": reason})

    async def requeue(self, job_id: int) -> dict[str, Any]:
        return await self._call("POST", f"/api/queue/{job_id}/requeue")

    async def set_priority(self, job_id: int, priority: int) -> dict[str, Any]:
        return await self._call("POST", f"/api/queue/{job_id}/priority", json={"priority": priority})

    async def wait(self, ids: list[int] | None, timeout: float = 30.0, include_blocked: bool = False) -> dict[str, Any]:
        body = {"ids": ids, "timeout": timeout, "include_blocked": include_blocked}
        return await self._call("POST", "/api/queue/wait", json=body, timeout=timeout + 30)

    async def approvals(self) -> list[dict[str, Any]]:
        return (await self._call("GET", "/api/queue/approvals"))["jobs"]

    async def fairshare(self) -> dict[str, Any]:
        return await self._call("GET", "/api/queue/fairshare")

    async def stats(self) -> dict[str, Any]:
        return await self._call("GET", "/api/queue/stats")

    async def metrics(self, since: str = "7d", by: str | None = None) -> dict[str, Any]:
        params = {"since": since} if by is None else {"since": since, "by": by}
        return await self._call("GET", "/api/metrics", params=params)

    async def me(self) -> dict[str, Any]:
        return await self._call("GET", "/api/queue/me")

    async def position(self, job_id: int) -> int | None:
        return (await self._call("GET", f"/api/queue/position/{job_id}"))["position"]

    async def limits(self) -> dict[str, Any]:
        return await self._call("GET", "/api/queue/concurrency")

    async def set_limits(self, changes: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", "/api/queue/concurrency", json=changes)

    async def cleanup(self, days: float) -> int:
        return (await self._call("POST", "/api/queue/cleanup", params={"days": days}))["deleted"]

    async def nodes(self) -> list[dict[str, Any]]:
        return (await self._call("GET", "/api/nodes"))["nodes"]

    async def system_status(self, include_allocation: bool = False) -> dict[str, Any]:
        params = {"include_allocation": "true" if include_allocation else "false"}
        return await self._call("GET", "/api/system/status", params=params)

    async def workflows(self) -> list[dict[str, Any]]:
        return (await self._call("GET", "/api/workflows"))["workflows"]

    async def workflow(self, workflow_id: int) -> dict[str, Any]:
        return await self._call("GET", f"/api/workflows/{workflow_id}")

    async def cancel_workflow(self, workflow_id: int) -> dict[str, Any]:
        return await self._call("POST", f"/api/workflows/{workflow_id}/cancel")

    async def requeue_workflow(self, workflow_id: int) -> dict[str, Any]:
        return await self._call("POST", f"/api/workflows/{workflow_id}/requeue")

    async def snapshot(self, view: str = "full", limit: int | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"view": view} if limit is None else {"view": view, "limit": limit}
        snapshot = await self._call("GET", "/api/snapshot", params=params)
        self._instance = snapshot.get("instance")
        return snapshot

    async def health(self) -> dict[str, Any]:
        return await self._call("GET", "/api/health")

    async def events(self, since: int | None = None) -> AsyncIterator[Event]:
        """Typed events after `since`. The stream's first frame says which engine answers: when it is not the
        engine of this client's last snapshot (it restarted in between), the numbers mean nothing here, and a
        `Resync` says to take a snapshot again."""
        params = {"since": since} if since is not None else {}
        try:
            async with self._http.stream("GET", "/api/events", params=params, timeout=None) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise _error_from(response)
                async for seq, kind, data in _parse_sse(response.aiter_lines()):
                    if kind == HELLO:
                        if self._instance is not None and data.get("instance") != self._instance:
                            yield Resync(seq=int(data.get("seq") or 0), reason="a different engine answered")
                        continue
                    event = decode(seq, kind, data)
                    if event is not None:
                        yield event
        except httpx.TransportError as e:
            raise EngineUnavailable(f"lost the event stream from {self.where}; the engine stopped?") from e

    async def close(self) -> None:
        await self._http.aclose()


async def _parse_sse(lines: AsyncIterator[str]) -> AsyncIterator[tuple[int, str, dict[str, Any]]]:
    seq, kind, data = 0, "message", ""
    async for line in lines:
        if not line:
            if data:
                yield seq, kind, json.loads(data)
            seq, kind, data = 0, "message", ""
        elif line.startswith("id:"):
            seq = int(line[3:].strip())
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()


def _error_from(response: httpx.Response) -> JobTuiError:
    try:
        body = response.json()
        message = body.get("message") or str(body.get("detail"))
    except ValueError:
        message = response.text
    return _ERRORS.get(response.status_code, JobTuiError)(message)
