"""The http executor: an http job's request, made by the engine itself with httpx (no process, no node).

An attempt keeps a local attempt's files, in the same place (`<state dir>/runs/JOB/N`), so logs read the same:
`stdout` gets the response as `curl -i` shows it (status line, headers, a blank line, then the body, at most
`MAX_BODY` bytes of it, with a note when it was cut), `stderr` one line saying what happened, and `outcome.json`
how the attempt ended, written once it has: an engine that stops between the answer and its record finds the
outcome there when it starts again. A request still in flight when the engine stops cannot be followed by the
next one (it died with the process that made it): that engine finds no outcome, and the attempt is lost,
retried as the job's retry policy says.

The request is what the job's `extra["http"]` holds (`service.jobspec.HttpCall`, validated at submission): its
own headers only (nothing from the engine's environment: no proxy, no .netrc credentials), no redirects
followed (a 3xx is the status got), `timeout` seconds for the whole exchange. It succeeds (exit code 0) when
the status is one of `expected_status`, or any 2xx when that is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from engine.executors.base import LaunchSpec, Liveness, Outcome, Output, read_file
from engine.executors.wrapper import STDERR, STDOUT
from engine.models import Attempt, Job, Reason

MAX_BODY = 1 << 20  # bytes of a response body kept as the attempt's output
OUTCOME = "outcome.json"
_PRIVATE = os.O_WRONLY | os.O_CREAT | os.O_APPEND


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    expected_status: tuple[int, ...] = ()
    timeout: float = 30.0

    @classmethod
    def of(cls, job: Job) -> HttpRequest:
        call: dict[str, Any] = job.extra["http"]
        return cls(
            method=call["method"],
            url=call["url"],
            headers=dict(call.get("headers") or {}),
            body=call.get("body"),
            expected_status=tuple(call.get("expected_status") or ()),
            timeout=float(call.get("timeout") or 30.0),
        )

    @property
    def where(self) -> str:
        return f"{self.method} {self.url}"

    def expects(self, status: int) -> bool:
        return status in self.expected_status if self.expected_status else 200 <= status < 300

    @property
    def expected(self) -> str:
        return " or ".join(map(str, self.expected_status)) if self.expected_status else "2xx"


class HttpExecutor:
    """Runs http jobs inside the engine. Not a node: the engine picks it for every job with `extra["http"]`."""

    node = "engine"
    queues_jobs = False

    def __init__(self, runs_root: Path, max_body: int = MAX_BODY) -> None:
        self.runs_root = runs_root
        self.max_body = max_body
        self._requests: dict[tuple[int, int], asyncio.Task[Outcome]] = {}
        self._aborted: set[tuple[int, int]] = set()  # cancelled by `cancel` (not by `close`)
        self._client: httpx.AsyncClient | None = None

    def run_dir(self, job_id: int, number: int) -> str:
        return str(self.runs_root / str(job_id) / str(number))

    async def launch(self, spec: LaunchSpec) -> None:
        attempt = spec.attempt
        request = HttpRequest.of(spec.job)
        os.makedirs(attempt.run_dir, mode=0o700, exist_ok=True)
        for stream in (STDOUT, STDERR):  # there from the start, private whatever the umask, as a local attempt's
            os.close(os.open(os.path.join(attempt.run_dir, stream), _PRIVATE, 0o600))
        key = (attempt.job_id, attempt.number)
        self._requests[key] = asyncio.get_running_loop().create_task(self._perform(attempt, request))

    async def wait(self, attempt: Attempt) -> Outcome:
        key = (attempt.job_id, attempt.number)
        task = self._requests.get(key)
        if task is None:  # an earlier engine made the request
            return read_outcome(attempt.run_dir) or Outcome(
                None, Reason.LOST, "the engine stopped while it made the HTTP request; its answer is unknown"
            )
        outcome = await asyncio.shield(task)  # a runner that stops following does not abort the request
        self._requests.pop(key, None)
        return outcome

    async def probe(self, attempt: Attempt) -> Liveness:
        if read_outcome(attempt.run_dir) is not None:
            return Liveness.EXITED
        task = self._requests.get((attempt.job_id, attempt.number))
        return Liveness.RUNNING if task is not None and not task.done() else Liveness.LOST

    async def read(self, attempt: Attempt, stream: str, offset: int, limit: int) -> bytes:
        return read_file(os.path.join(attempt.run_dir, stream), offset, limit).data

    async def read_sized(self, attempt: Attempt, stream: str, offset: int, limit: int) -> Output:
        return read_file(os.path.join(attempt.run_dir, stream), offset, limit)

    async def cancel(self, attempt: Attempt, grace: float) -> None:
        """Abort the request at once (there is nothing to ask to stop gracefully)."""
        key = (attempt.job_id, attempt.number)
        task = self._requests.get(key)
        if task is None or task.done():
            return
        self._aborted.add(key)
        task.cancel()
        await asyncio.wait({task})

    def settled(self, attempt: Attempt) -> None:
        return None  # nothing is kept for an attempt outside its own files

    def attach(self, listener: object) -> None:
        return None

    async def close(self) -> None:
        """Drop the requests in flight (the next engine finds them lost) and the connections."""
        tasks = [task for task in self._requests.values() if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        self._requests.clear()
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    # -- the request

    async def _perform(self, attempt: Attempt, request: HttpRequest) -> Outcome:
        key = (attempt.job_id, attempt.number)
        with _private(attempt.run_dir, STDOUT) as out, _private(attempt.run_dir, STDERR) as err:
            try:
                outcome, note = await self._exchange(request, out)
            except asyncio.CancelledError:
                if key not in self._aborted:
                    raise  # the engine is stopping: no outcome, the next one reports the attempt lost
                self._aborted.discard(key)
                outcome = Outcome(None, Reason.CANCELLED, f"{request.where}: the request was aborted")
                note = outcome.message
            err.write(note.encode("utf-8", "replace") + b"\n")
        write_outcome(attempt.run_dir, outcome)
        return outcome

    async def _exchange(self, request: HttpRequest, out: IO[bytes]) -> tuple[Outcome, str]:
        """Make the request, write the response to `out`; the outcome, and a line for stderr."""
        where = request.where
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            async with asyncio.timeout(request.timeout):
                async with self._http().stream(
                    request.method,
                    request.url,
                    headers=request.headers,
                    content=None if request.body is None else request.body.encode(),
                    timeout=request.timeout,
                ) as response:
                    status = f"{response.http_version} {response.status_code} {response.reason_phrase}".rstrip()
                    head = [status.encode(), *(name + b": " + value for name, value in response.headers.raw)]
                    out.write(b"\r\n".join(head) + b"\r\n\r\n")  # the headers as sent
                    out.flush()
                    await self._body(response, out)
        except (TimeoutError, httpx.TimeoutException):
            message = f"{where}: no answer within its timeout of {request.timeout:g} s"
            return Outcome(None, Reason.TIMEOUT, message), message
        except (httpx.HTTPError, httpx.InvalidURL) as e:
            message = f"{where}: {_describe(e)}"
            return Outcome(1, Reason.EXIT_CODE, message), message
        status = f"HTTP {response.status_code}" + (f" {response.reason_phrase}" if response.reason_phrase else "")
        took = f"in {loop.time() - began:.2f} s"
        if request.expects(response.status_code):
            return Outcome(0), f"{where}: {status} {took}"
        message = f"{where}: {status}, expected {request.expected}"
        return Outcome(1, Reason.EXIT_CODE, message), f"{message} ({took})"

    async def _body(self, response: httpx.Response, out: IO[bytes]) -> None:
        stored = 0
        async for chunk in response.aiter_bytes():
            room = self.max_body - stored
            if len(chunk) > room:
                out.write(chunk[:room])
                note = f"\n[jobtui: the body is longer than {self.max_body} bytes; the rest was not kept]\n"
                out.write(note.encode())
                return
            out.write(chunk)
            out.flush()  # readers follow the output as it comes
            stored += len(chunk)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # trust_env off: the engine's proxy settings and .netrc credentials are not the job's to use.
            self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        return self._client


def _describe(error: Exception) -> str:
    what = str(error) or type(error).__name__
    if isinstance(error, httpx.ConnectError):
        return f"could not connect ({what})"
    return f"the request failed ({type(error).__name__}: {what})"


@contextlib.contextmanager
def _private(run_dir: str, name: str) -> Iterator[IO[bytes]]:
    fd = os.open(os.path.join(run_dir, name), _PRIVATE, 0o600)
    with os.fdopen(fd, "ab") as f:
        yield f


def write_outcome(run_dir: str, outcome: Outcome) -> None:
    """How the attempt ended, in one rename (a reader sees all of it or nothing)."""
    data = {"exit_code": outcome.exit_code, "reason": outcome.reason, "message": outcome.message}
    path = os.path.join(run_dir, OUTCOME)
    partial = f"{path}.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(partial, path)


def read_outcome(run_dir: str) -> Outcome | None:
    try:
        with open(os.path.join(run_dir, OUTCOME), "rb") as f:
            data = json.loads(f.read())
        reason = Reason(data["reason"]) if data.get("reason") else None
        return Outcome(data.get("exit_code"), reason, str(data.get("message") or ""))
    except (OSError, ValueError, KeyError, TypeError):
        return None
