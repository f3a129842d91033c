"""`GET /api/metrics` (JSON: rates, times, utilisation over a window, overall or by group) and `GET /metrics`
(the Prometheus text format, for a scraper given a bearer token)."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations, which name locals here.
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query
from fastapi.responses import Response

from engine.models import Actor
from engine.service.metrics import metrics as compute_metrics
from engine.service.metrics import parse_window
from engine.service.prometheus_text import CONTENT_TYPE, prometheus_text
from engine.service.verbs import JobService


def add_metrics_routes(app: FastAPI, service: JobService, caller: Callable[..., Actor], answers: Any) -> None:
    @app.get("/api/metrics", responses=answers())
    async def metrics(
        _: Annotated[Actor, Depends(caller)],
        since: Annotated[str, Query(max_length=32, description="the window: 90m, 12h, 7d, 2w")] = "7d",
        by: Annotated[Literal["user", "team", "node", "tag"] | None, Query(description="one figure per group")] = None,
    ) -> dict[str, Any]:
        """Success and error rates, run and wait times (average, p95), throughput, core-hours used against those
        available, GPU-hours and licence-hours over the window; the running and queued counts of the last hour."""
        return await compute_metrics(service.engine, parse_window(since), by)

    @app.get("/metrics", response_class=Response, responses=answers())
    async def prometheus(_: Annotated[Actor, Depends(caller)]) -> Response:
        """The same figures (over the last day) and the engine's state, in the Prometheus text format."""
        return Response(await prometheus_text(service), media_type=CONTENT_TYPE)
