"""The HTTP API served by a running engine (FastAPI), on a Unix socket and optionally TCP.

Routes follow the queue endpoints of the queue seed (`/api/queue...`) and add job detail, logs and an
event stream (server-sent events with sequence numbers). The OpenAPI schema is at `/openapi.json`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

import orjson
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from engine import __version__
from engine.accounts import account_named
from engine.api.metrics_routes import add_metrics_routes
from engine.api.peer import peer_in, user_of
from engine.api.tokens import TokenRegistry
from engine.errors import JobTuiError, NotAuthenticated, NotFound, PermissionDenied, ValidationError
from engine.models import Actor
from engine.service.auth import capabilities
from engine.service.jobspec import (
    MAX_ID,
    MAX_IDEMPOTENCY_KEY,
    MAX_TEXT,
    NOTHING_SUBMITTED,
    JobSpec,
    WorkflowInfo,
    spec_problem,
)
from engine.service.planning import plan_batch
from engine.service.reads import MAX_LOG_CHUNK, MAX_LOG_OFFSET, job_detail, log_chunk, parse_statuses, wait_for_jobs
from engine.service.reads import snapshot as snapshot_view
from engine.service.verbs import MAX_LIMIT, JobService
from engine.service.workflow_reads import list_workflows
from engine.service.workflow_verbs import cancel_workflow, requeue_workflow
from engine.wire import (
    cleanup_result,
    hello_frame,
    job_record,
    limits_result,
    list_result,
    nodes_result,
    position_result,
    stats_result,
    submit_result,
)
from engine.workflows.detail import workflow_detail

SSE_KEEPALIVE = 15.0


class FastJSON(Response):
    """JSON encoded with orjson: a 100,000-job snapshot encodes in a tenth of the time of `json`."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def current_actor(request: Request, authorization: Annotated[str | None, Header()] = None) -> Actor:
    """The caller; identity never comes from a request field.

    In shared mode, on the Unix socket, the kernel's peer credentials say who calls (a token changes
    nothing there). Otherwise (personal mode, or TCP) the bearer token does.
    """
    service = request.app.state.service
    token = authorization.removeprefix("Bearer ").strip() if authorization else None
    peer = peer_in(request.scope)
    if peer is not None and service.config.mode == "shared":
        user = user_of(peer, service.engine.owner)
        if user is None:
            raise PermissionDenied(
                f"uid {peer.uid} has no user name on this machine, so the engine cannot tell who calls."
            )
    else:
        user = request.app.state.tokens.user_for(token)
    if user is None:
        raise NotAuthenticated("missing or unknown API token; the owner's token is in <state dir>/owner.token.")
    return service.actor(user)


Caller = Annotated[Actor, Depends(current_actor)]
MAX_REASON = 1000  # characters of a rejection's reason


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: str = Field(description="a short heading: Invalid request, Not allowed, Not found, ...")
    message: str = Field(description="what is wrong, where, and what to do next")


_ERROR_ANSWERS = {
    401: "no API token, or one this engine does not know",
    403: "the caller's role, or whose job it is, does not allow this",
    404: "no such job (or attempt of it)",
    409: "the job's state does not allow this, or the idempotency key was used for other jobs",
    422: "a parameter, header or body field is missing, of the wrong type or out of bounds",
}


def answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route that may answer `codes`, besides the 401, 403 and 422 of every authenticated one."""
    return {code: {"model": ErrorBody, "description": _ERROR_ANSWERS[code]} for code in sorted({401, 403, 422, *codes})}


class SubmitBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"jobs": [{"command": ["echo", "hello"], "name": "hello"}]},
                {
                    "jobs": [
                        {"command": ["true"], "key": "prepare", "cpus": 1},
                        {"command": ["echo", "done"], "after": ["prepare"], "priority": 5, "tags": ["example"]},
                    ]
                },
            ]
        },
    )
    jobs: list[JobSpec] = Field(description="the jobs of one batch, all submitted or none")
    workflow: WorkflowInfo | None = Field(
        default=None, description="the workflow file the batch came from: its record is saved with the jobs"
    )
    environment: dict[str, str] | None = Field(
        default=None,
        description="the submitter's environment: the jobs get it less the config's env_deny (null: the engine's "
        "base environment, as `--clean-env`)",
    )


Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT)] | None


class ConcurrencyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_concurrent: Limit = None
    user_max_concurrent: Limit = None
    team_max_concurrent: Limit = None
    fair_share: bool | None = None
    local_gpu_max_concurrent: Annotated[int, Field(ge=0, le=MAX_LIMIT)] | None = Field(
        default=None, description="GPUs jobs on local nodes hold at once; null: no limit"
    )
    local_job_max_concurrent: Annotated[int, Field(ge=0, le=MAX_LIMIT)] | None = Field(
        default=None, description="jobs on local nodes at once; null: no limit"
    )


class PriorityBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    priority: int


class WaitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[int] | None = Field(default=None, description="jobs to wait for; null: every job not yet ended")
    timeout: float = Field(default=30.0, gt=0, le=300)
    include_blocked: bool = Field(default=False, description="wait for jobs awaiting approval too")


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$", description="a user name")


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=MAX_IDEMPOTENCY_KEY,
        pattern=rf"^[\x20-\x7e]{{1,{MAX_IDEMPOTENCY_KEY}}}$",
        description="the same key, and jobs, again (a retry) submits nothing new and answers the first's jobs",
    ),
]


def build_app(service: JobService, tokens: TokenRegistry) -> FastAPI:
    app = FastAPI(title="jobtui", version=__version__, description="Job queue engine API")
    app.state.service = service
    app.state.tokens = tokens
    _error_handlers(app)
    _queue_routes(app, service)
    _job_routes(app, service, tokens)
    _workflow_routes(app, service)
    add_metrics_routes(app, service, current_actor, answers)
    return app


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(JobTuiError)
    async def _error(_: Request, exc: JobTuiError) -> JSONResponse:
        return _error_answer(exc.title, exc.message, exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error_answer("Invalid request", _problems(exc), 422)


def _error_answer(title: str, message: str, status: int) -> JSONResponse:
    """An ErrorBody; a message quoting what was sent keeps a lone surrogate in it as an escape (JSON is UTF-8)."""
    text = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return JSONResponse({"error": title, "message": text}, status_code=status)


def _problems(exc: RequestValidationError) -> str:
    """What is invalid in a request; the jobs of a submission are named as `parse_specs` names them."""
    general, in_jobs = [], []
    for e in exc.errors():
        loc = tuple(e["loc"])
        if loc[:2] == ("body", "jobs") and len(loc) > 2 and isinstance(loc[2], int):
            in_jobs.append(spec_problem(loc[2], loc[3:], e))
        else:
            general.append(f"{'.'.join(map(str, loc))}: {e['msg']}")
    text = f"{'; '.join(general)}. Fix the request." if general else ""
    if in_jobs:
        text = "\n".join(filter(None, [text, *in_jobs, NOTHING_SUBMITTED]))
    return text


def _queue_routes(app: FastAPI, service: JobService) -> None:
    """The queue seed's endpoints: list, stats, me, position, submit, actions, limits, cleanup, wait."""
    engine = service.engine

    # response_model: the schema of the body FastJSON carries
    @app.get("/api/queue", response_model=dict[str, Any], responses=answers())
    async def list_queue(
        _: Caller,
        status: Annotated[list[str] | None, Query(description="waiting, running, failed, ... (or comma lists)")] = None,
        limit: Annotated[int, Query(ge=0, le=MAX_ID, description="the most recent N jobs (0: all)")] = 50,
        include_completed: bool = False,
        user: Annotated[str | None, Query(max_length=MAX_TEXT)] = None,
    ) -> Response:
        wanted = parse_statuses(status)
        jobs = service.list(wanted, user, include_completed, limit)
        return FastJSON(list_result(jobs, service.waiting(jobs)))

    @app.get("/api/queue/stats", responses=answers())
    async def stats(_: Caller) -> dict[str, Any]:
        return stats_result(service.stats())

    @app.get("/api/queue/me", response_model=dict[str, Any], responses=answers())
    async def me(caller: Caller) -> Response:
        return FastJSON(service.me(caller))

    @app.get("/api/queue/position/{job_id}", responses=answers(404))
    async def position(_: Caller, job_id: int) -> dict[str, Any]:
        return position_result(job_id, service.position(job_id), engine.waiting_of(engine.get(job_id)))

    @app.get("/api/queue/approvals", response_model=dict[str, Any], responses=answers())
    async def approvals(caller: Caller) -> Response:
        """The jobs awaiting approval that the caller may approve (an admin: all; a lead: their team's)."""
        jobs = service.approvals(caller)
        return FastJSON(list_result(jobs, service.waiting(jobs)))

    @app.get("/api/queue/fairshare", responses=answers())
    async def fairshare(_: Caller) -> dict[str, Any]:
        """Fair share over time: per user and team, the share, decayed usage, factor and priority bonus."""
        return service.fairshare()

    @app.post("/api/queue/submit", response_model=dict[str, Any], responses=answers(409))
    async def submit(caller: Caller, body: SubmitBody, idempotency_key: IdempotencyKey = None) -> Response:
        """Submit a batch of jobs. A retry with the same `Idempotency-Key` and the same jobs creates nothing and
        answers the jobs the first one submitted; the same key with other jobs is a 409."""
        jobs = await service.submit(caller, body.jobs, idempotency_key, body.workflow, body.environment)
        return FastJSON(submit_result(jobs))

    @app.post("/api/queue/plan", responses=answers())
    async def plan(caller: Caller, body: SubmitBody) -> dict[str, Any]:
        """A dry run of a submission: where each job would start now, or why not; nothing is queued."""
        return plan_batch(service, caller, body.jobs)

    @app.post("/api/queue/{job_id}/cancel", responses=answers(404, 409))
    async def cancel(caller: Caller, job_id: int) -> dict[str, Any]:
        return job_record(await service.cancel(caller, job_id))

    @app.post("/api/queue/{job_id}/approve", responses=answers(404, 409))
    async def approve(caller: Caller, job_id: int) -> dict[str, Any]:
        return job_record(await service.approve(caller, job_id))

    @app.post("/api/queue/{job_id}/reject", responses=answers(404, 409))
    async def reject(
        caller: Caller, job_id: int, reason: Annotated[str, Query(max_length=MAX_REASON)] = ""
    ) -> dict[str, Any]:
        return job_record(await service.reject(caller, job_id, reason))

    @app.post("/api/queue/{job_id}/requeue", responses=answers(404, 409))
    async def requeue(caller: Caller, job_id: int) -> dict[str, Any]:
        return job_record(await service.requeue(caller, job_id))

    @app.post("/api/queue/{job_id}/priority", responses=answers(404, 409))
    async def priority(caller: Caller, job_id: int, body: PriorityBody) -> dict[str, Any]:
        return job_record(await service.set_priority(caller, job_id, body.priority))

    @app.get("/api/queue/concurrency", responses=answers())
    async def get_limits(_: Caller) -> dict[str, Any]:
        return limits_result(service.limits())

    @app.post("/api/queue/concurrency", responses=answers())
    async def set_limits(caller: Caller, body: ConcurrencyBody) -> dict[str, Any]:
        return limits_result(await service.set_limits(caller, body.model_dump(exclude_unset=True)))

    @app.post("/api/queue/cleanup", responses=answers())
    async def cleanup(
        caller: Caller, days: Annotated[float, Query(ge=0, allow_inf_nan=False, description="older than")] = 30
    ) -> dict[str, Any]:
        return cleanup_result(await service.cleanup(caller, days))

    @app.post("/api/queue/process", responses=answers())
    async def process(caller: Caller) -> dict[str, Any]:
        if not caller.is_admin:
            raise PermissionDenied(f"{caller.user} ({caller.role}) may not trigger queue processing: admin only.")
        engine.wake()
        return {"ok": True}

    @app.post("/api/queue/wait", responses=answers(404))
    async def wait(_: Caller, body: WaitBody) -> dict[str, Any]:
        """Long poll: returns once every named job has ended, or at the timeout with those still pending."""
        return await wait_for_jobs(engine, body.ids, body.timeout, body.include_blocked)


def _workflow_routes(app: FastAPI, service: JobService) -> None:
    """Workflows: the records of batches submitted from workflow files, each with the jobs that carry its id."""

    @app.get("/api/workflows", response_model=dict[str, Any], responses=answers())
    async def workflows(_: Caller) -> Response:
        """Every workflow with its derived status and its jobs' counts by status."""
        return FastJSON(list_workflows(service))

    @app.get("/api/workflows/{workflow_id}", response_model=dict[str, Any], responses=answers(404))
    async def workflow(_: Caller, workflow_id: int) -> Response:
        """One workflow: its record, its jobs with their edges, its execution levels and critical path."""
        return FastJSON(workflow_detail(service, workflow_id))

    @app.post("/api/workflows/{workflow_id}/cancel", response_model=dict[str, Any], responses=answers(404, 409))
    async def cancel_all(caller: Caller, workflow_id: int) -> Response:
        """Cancel every job of the workflow not ended yet (the caller must be allowed to cancel each)."""
        return FastJSON(await cancel_workflow(service, caller, workflow_id))

    @app.post("/api/workflows/{workflow_id}/requeue", response_model=dict[str, Any], responses=answers(404, 409))
    async def requeue_failed(caller: Caller, workflow_id: int) -> Response:
        """Run an ended workflow's failed, cancelled and skipped part again, keeping what completed."""
        return FastJSON(await requeue_workflow(service, caller, workflow_id))


def _job_routes(app: FastAPI, service: JobService, tokens: TokenRegistry) -> None:
    """One job's detail and logs, snapshots, nodes, the event stream, tokens, health."""
    engine = service.engine

    @app.get("/api/health")
    async def health() -> dict[str, Any]:
        return {"ok": True, "version": __version__, "instance": engine.instance, "pid": _pid()}

    @app.get("/api/jobs/{job_id}", response_model=dict[str, Any], responses=answers(404))
    async def detail(_: Caller, job_id: int) -> Response:
        return FastJSON(await job_detail(service, job_id))

    @app.get("/api/jobs/{job_id}/logs", response_model=dict[str, Any], responses=answers(404))
    async def logs(
        _: Caller,
        job_id: int,
        stream: Literal["stdout", "stderr"] = "stdout",
        offset: Annotated[int, Query(ge=0, le=MAX_LOG_OFFSET, description="the byte to start from")] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_LOG_CHUNK, description="bytes in one chunk")] = 65536,
        attempt: Annotated[int | None, Query(ge=1, description="default: the latest")] = None,
        follow: Annotated[bool, Query(description="stream the output as plain text until the attempt ends")] = False,
    ) -> Any:
        # The first chunk is read before any answer: an unknown job or attempt is a 404, never a broken stream.
        first = await log_chunk(service, job_id, stream, offset, limit, attempt)
        if not follow:
            return first
        return StreamingResponse(_follow_log(service, first, limit), media_type="text/plain")

    @app.get("/api/snapshot", response_model=dict[str, Any], responses=answers())
    async def snapshot(
        _: Caller,
        view: Literal["full", "rows"] = "full",
        limit: Annotated[int | None, Query(ge=0, le=MAX_ID, description="only the first N jobs by id")] = None,
    ) -> Response:
        """All jobs (or the first `limit` by id) and the event sequence number to follow from;
        `view=rows` gives compact table rows."""
        return FastJSON(snapshot_view(service, view, limit))

    @app.get("/api/nodes", responses=answers())
    async def nodes(_: Caller) -> dict[str, Any]:
        return nodes_result(service.nodes())

    @app.get("/api/system/status", responses=answers())
    async def system_status(_: Caller, include_allocation: bool = False) -> dict[str, Any]:
        """This machine's load, memory and GPUs; with `include_allocation`, the devices jobs hold on every node."""
        return service.system_status(include_allocation)

    @app.get("/api/events", responses=answers())
    async def events(
        _: Caller,
        since: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
        last_event_id: Annotated[str | None, Header(pattern=r"^[0-9]{1,18}$")] = None,
    ) -> StreamingResponse:
        start = since if since is not None else (int(last_event_id) if last_event_id else None)
        return StreamingResponse(_sse(engine, start), media_type="text/event-stream")

    @app.post("/api/tokens", responses=answers())
    async def issue_token(caller: Caller, body: TokenBody) -> dict[str, Any]:
        if not capabilities(caller)["issue_tokens"]:
            raise PermissionDenied(f"{caller.user} ({caller.role}) may not issue tokens: admin only.")
        if service.config.mode == "shared" and account_named(body.user) is None:
            raise ValidationError(
                f"{body.user!r} has no Unix account on this machine; in shared mode each token maps to one. "
                "Create the account first, or name an existing user."
            )
        token, d = tokens.issue(body.user)
        await engine.save_setting("tokens", tokens.issued)
        return {"user": body.user, "token": token, "digest": d}


async def _sse(engine, since: int | None):
    sub = engine.subscribe(since)
    try:
        yield hello_frame(engine.instance, engine.event_seq)
        while True:
            try:
                event = await asyncio.wait_for(sub.queue.get(), SSE_KEEPALIVE)
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            yield event.sse()
    finally:
        engine.unsubscribe(sub)


async def _follow_log(service: JobService, chunk: dict[str, Any], limit: int):
    """The output from `chunk` (the first, read already) on, until its attempt ends or its job is removed."""
    job_id, stream = chunk["job_id"], chunk["stream"]
    while True:
        if chunk["data"]:
            yield chunk["data"]
        elif chunk["done"]:
            return
        else:
            await asyncio.sleep(0.25)
        try:
            # the attempt it started on (the latest, until there is one): never another attempt's output
            chunk = await log_chunk(service, job_id, stream, chunk["offset"], limit, chunk["attempt"])
        except NotFound:  # cleaned up meanwhile: its output has ended
            return


def _pid() -> int:
    import os

    return os.getpid()
