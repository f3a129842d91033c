"""Job types the engine runs itself: http jobs (a request made in the engine with httpx, no process) and python
jobs (code written into the attempt's run directory as job.py, run by the configured interpreter).

Every http test talks to a real HTTP server on 127.0.0.1 (a free port), started here and stopped at teardown.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.accounts import account_named, can_switch_users, login_environment
from engine.api.daemon import EngineHost
from engine.config import HttpJobs, LocalNode, SshNode
from engine.errors import ValidationError
from engine.executors.base import LaunchSpec
from engine.executors.http import MAX_BODY
from engine.executors.local import LocalExecutor
from engine.models import Attempt, Job, JobStatus, Reason
from engine.service.jobspec import parse_specs
from engine.service.reads import log_chunk
from engine.testing import FakeExecutor
from tests.fixtures.engine import OWNER, Rig, make_config
from tests.waiting import wait_for

# ---------------------------------------------------------------- the test server


@dataclass
class Seen:
    """What the server was asked, and the switches a test turns."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    held: threading.Event = field(default_factory=threading.Event)  # a request waits at /hold
    release: threading.Event = field(default_factory=threading.Event)  # /hold and /slow answer once set
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    seen: Seen

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (a timeout, a cancel) leaves a broken pipe: expected here


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        seen = self.server.seen
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with seen.lock:
            seen.requests.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
            )
            seen.counts[self.path] = count = seen.counts.get(self.path, 0) + 1
        if self.path == "/ok":
            self._send(200, b"hello from the test server")
        elif self.path == "/missing":
            self._send(404, b"no such thing")
        elif self.path.startswith("/flaky"):  # fails twice, then answers
            self._send(503 if count <= 2 else 200, f"try {count}".encode())
        elif self.path in ("/hold", "/slow"):
            seen.held.set()
            seen.release.wait(20)
            self._send(200, b"released")
        elif self.path == "/big":
            self._send(200, b"x" * (MAX_BODY + MAX_BODY // 2))
        elif self.path == "/items" and self.command == "POST":
            self._send(201, b"created")
        else:
            self._send(400, b"unexpected")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Server:
    url: str
    port: int
    seen: Seen


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.seen = Seen()
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    port = httpd.server_address[1]
    try:
        yield Server(f"http://127.0.0.1:{port}", port, httpd.seen)
    finally:
        httpd.seen.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def stdout_of(rig: Rig, job_id: int, attempt: int | None = None) -> str:
    """The job's output as `jobtui logs` reads it (the service's log reader, through the job's executor)."""
    chunk = await log_chunk(rig.service, job_id, "stdout", 0, 4 * MAX_BODY, attempt)
    return str(chunk["data"])


async def stderr_of(rig: Rig, job_id: int) -> str:
    return str((await log_chunk(rig.service, job_id, "stderr", 0, 1 << 16, None))["data"])


@pytest.fixture
def spawns(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every process the engine starts (os.posix_spawn, which the local executor uses), still started."""
    calls: list[list[str]] = []
    real = os.posix_spawn

    def counting(path: Any, argv: Any, env: Any, **kw: Any) -> int:
        calls.append(list(argv))
        return real(path, argv, env, **kw)

    monkeypatch.setattr(os, "posix_spawn", counting)
    return calls


# ---------------------------------------------------------------- http jobs


async def test_an_http_job_gets_200_and_completes_with_the_response_as_its_output_and_no_process(
    engine_factory: Callable[..., Any], server: Server, spawns: list[list[str]]
) -> None:
    rig: Rig = await engine_factory()
    (job,) = await rig.submit({"http": {"url": f"{server.url}/ok"}, "name": "health"})
    assert job.command == ["http", "GET", f"{server.url}/ok"] and job.resources.cpus == 0
    job = await rig.wait_terminal(job.id)
    assert (job.status, job.exit_code, job.attempts) == (JobStatus.COMPLETED, 0, 1), job.message
    output = await stdout_of(rig, job.id)
    assert output.startswith("HTTP/1.0 200 OK\r\n") and "Content-Type: text/plain\r\n" in output
    assert output.endswith("\r\n\r\nhello from the test server")
    assert f"GET {server.url}/ok: HTTP 200 OK in " in await stderr_of(rig, job.id)
    # no process: nothing spawned, no pid, none of the wrapper's files
    (attempt,), _ = await rig.history(job.id)
    assert spawns == [] and attempt.pid is None and attempt.proc_start is None
    run_dir = Path(attempt.run_dir)
    assert run_dir.parent.parent == rig.state_dir / "runs"
    assert not (run_dir / "pid").exists() and not (run_dir / "exit").exists()
    for name in ("stdout", "stderr", "outcome.json"):
        assert stat.S_IMODE((run_dir / name).stat().st_mode) == 0o600
    assert [r["path"] for r in server.seen.requests] == ["/ok"]


async def test_an_unexpected_status_fails_the_job_saying_what_came_and_what_was_expected(
    engine_factory: Callable[..., Any], server: Server
) -> None:
    rig: Rig = await engine_factory()
    missing, wanted = await rig.submit(
        {"http": {"url": f"{server.url}/missing"}},
        {"http": {"url": f"{server.url}/ok", "expected_status": [204, 304]}},
    )
    missing = await rig.wait_terminal(missing.id)
    assert (missing.status, missing.reason, missing.exit_code) == (JobStatus.FAILED, Reason.EXIT_CODE, 1)
    assert missing.message == f"GET {server.url}/missing: HTTP 404 Not Found, expected 2xx"
    assert (await stdout_of(rig, missing.id)).endswith("no such thing")  # the answer is kept all the same
    wanted = await rig.wait_terminal(wanted.id)
    assert wanted.status == JobStatus.FAILED and wanted.message.endswith("HTTP 200 OK, expected 204 or 304")


async def test_a_failing_server_is_retried_with_back_off_until_it_answers(
    engine_factory: Callable[..., Any], server: Server
) -> None:
    rig: Rig = await engine_factory()
    spec = {"http": {"url": f"{server.url}/flaky"}, "retries": 3, "retry_delay": 0.05, "backoff_factor": 2}
    (job,) = await rig.submit(spec)
    job = await rig.wait_terminal(job.id)
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 3), job.message
    attempts, events = await rig.history(job.id)
    assert [a.exit_code for a in attempts] == [1, 1, 0]
    retries = [e for e in events if e.kind == "retry"]
    assert len(retries) == 2
    assert "HTTP 503 Service Unavailable, expected 2xx; retry 2 of 4 in 0.05 s" in retries[0].message
    assert "retry 3 of 4 in 0.1 s" in retries[1].message  # the delay doubles
    assert (await stdout_of(rig, job.id, 1)).endswith("try 1") and (await stdout_of(rig, job.id)).endswith("try 3")
    assert server.seen.counts["/flaky"] == 3


async def test_a_request_past_its_timeout_fails_the_job(engine_factory: Callable[..., Any], server: Server) -> None:
    rig: Rig = await engine_factory()
    (job,) = await rig.submit({"http": {"url": f"{server.url}/slow", "timeout": 0.3}})
    job = await rig.wait_terminal(job.id)
    assert (job.status, job.reason) == (JobStatus.FAILED, Reason.TIMEOUT)
    assert job.message == f"GET {server.url}/slow: no answer within its timeout of 0.3 s"


async def test_a_refused_connection_fails_the_job_with_the_error(engine_factory: Callable[..., Any]) -> None:
    rig: Rig = await engine_factory()
    url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    (job,) = await rig.submit({"http": {"url": url}})
    job = await rig.wait_terminal(job.id)
    assert (job.status, job.reason) == (JobStatus.FAILED, Reason.EXIT_CODE)
    assert job.message.startswith(f"GET {url}: could not connect (")


async def test_a_post_with_a_json_body_and_headers_reaches_the_server(
    engine_factory: Callable[..., Any], server: Server
) -> None:
    rig: Rig = await engine_factory()
    call = {
        "method": "post",
        "url": f"{server.url}/items",
        "headers": {"X-Request-Id": "abc-123", "Content-Type": "application/json"},
        "body": {"name": "widget", "count": 2},
        "expected_status": 201,
    }
    (job,) = await rig.submit({"http": call})
    job = await rig.wait_terminal(job.id)
    assert job.status == JobStatus.COMPLETED, job.message
    (request,) = server.seen.requests
    assert (request["method"], request["path"]) == ("POST", "/items")
    assert request["headers"]["X-Request-Id"] == "abc-123" and request["headers"]["Content-Type"] == "application/json"
    assert json.loads(request["body"]) == {"name": "widget", "count": 2}
    assert (await stdout_of(rig, job.id)).startswith("HTTP/1.0 201 Created\r\n")


async def test_a_long_body_is_kept_up_to_1_mib_with_a_note(engine_factory: Callable[..., Any], server: Server) -> None:
    rig: Rig = await engine_factory()
    (job,) = await rig.submit({"http": {"url": f"{server.url}/big"}})
    job = await rig.wait_terminal(job.id)
    assert job.status == JobStatus.COMPLETED
    (attempt,), _ = await rig.history(job.id)
    output = (Path(attempt.run_dir) / "stdout").read_bytes().decode()  # more than one `logs` answer holds
    _, _, body = output.partition("\r\n\r\n")
    note = f"\n[jobtui: the body is longer than {MAX_BODY} bytes; the rest was not kept]\n"
    assert body == "x" * MAX_BODY + note


async def test_cancel_aborts_the_request(engine_factory: Callable[..., Any], server: Server) -> None:
    rig: Rig = await engine_factory()
    (job,) = await rig.submit({"http": {"url": f"{server.url}/hold"}, "retries": 2})
    await rig.wait_status(job.id, JobStatus.RUNNING)
    await wait_for(server.seen.held.is_set, 10, "the request to reach the server")
    await rig.service.cancel(rig.actor(), job.id)
    job = await rig.wait_terminal(job.id, timeout=3)  # at once, not when the server answers
    assert (job.status, job.attempts) == (JobStatus.CANCELLED, 1)
    assert f"GET {server.url}/hold: the request was aborted" in await stderr_of(rig, job.id)


async def test_urls_that_are_not_http_are_refused_at_submission(engine_factory: Callable[..., Any]) -> None:
    rig: Rig = await engine_factory()
    for url in ("ftp://example.org/file", "file:///etc/passwd", "unix:///run/jobtui/engine.sock", "http://"):
        with pytest.raises(ValidationError) as caught:
            await rig.submit({"http": {"url": url}})
        assert caught.value.http_status == 422
        assert "field 'http.url'" in caught.value.message and "is not an http(s) URL" in caught.value.message
    assert rig.engine.job_count == 0


async def test_the_engines_own_api_is_refused_unless_the_config_allows_it(tmp_path: Path, server: Server) -> None:
    host = EngineHost(make_config(), tmp_path / "state", OWNER, tcp=("127.0.0.1", 0))
    await host.start()
    try:
        ((_, port),) = host.service.api_addresses
        token = (tmp_path / "state" / "owner.token").read_text().strip()
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}
        ) as api:
            own_api = [f"http://127.0.0.1:{port}/api/health", f"http://localhost:{port}/", f"http://127.1:{port}/x"]
            own_api += [f"http://[::1]:{port}/", f"http://0.0.0.0:{port}/", f"http://[::ffff:127.0.0.1]:{port}/"]
            for own in own_api:
                answer = await api.post("/api/queue/submit", json={"jobs": [{"http": {"url": own, "method": "POST"}}]})
                assert answer.status_code == 422, answer.text
                assert "is this engine's own API" in answer.text and "allow_engine_api: true" in answer.text
            assert host.engine.job_count == 0
            other = await api.post("/api/queue/submit", json={"jobs": [{"http": {"url": f"{server.url}/ok"}}]})
            assert other.status_code == 200, other.text  # another port of this machine is fine
    finally:
        await host.stop()
    allowed = EngineHost(make_config(http_jobs=HttpJobs(allow_engine_api=True)), tmp_path / "allowed", OWNER)
    await allowed.start()
    try:
        allowed.service.api_addresses = [("0.0.0.0", 8765)]  # as if it listened there
        (job,) = await allowed.service.submit(
            allowed.service.actor(OWNER), parse_specs([{"http": {"url": "http://localhost:8765/api/health"}}])
        )
        assert job.extra["http"]["url"] == "http://localhost:8765/api/health"
    finally:
        await allowed.stop()


async def test_an_engine_restart_during_a_request_loses_that_attempt_and_retries_it(
    engine_factory: Callable[..., Any], server: Server, state_dir: Path
) -> None:
    rig: Rig = await engine_factory()
    (job,) = await rig.submit({"http": {"url": f"{server.url}/hold"}, "retries": 1, "retry_delay": 0})
    await rig.wait_status(job.id, JobStatus.RUNNING)
    await wait_for(server.seen.held.is_set, 10, "the request to reach the server")
    await rig.engine.stop()  # the request dies with it
    server.seen.release.set()  # the server answers a client that is gone; the next request is answered at once
    again: Rig = await engine_factory(state_dir=state_dir)
    job = await again.wait_terminal(job.id)
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 2), job.message
    attempts, _ = await again.history(job.id)
    assert attempts[0].reason == Reason.LOST.value
    assert attempts[0].message.startswith("the engine stopped while the attempt ran in it")
    assert (await stdout_of(again, job.id)).endswith("released")


async def test_an_http_job_runs_in_the_engine_whatever_node_it_is_placed_on(
    engine_factory: Callable[..., Any], server: Server, state_dir: Path
) -> None:
    far = FakeExecutor("far")
    nodes = [LocalNode(name="local", cores=8, gpus=0), SshNode(name="far", kind="ssh", host="far.invalid")]
    executors = {"local": LocalExecutor("local", state_dir / "runs"), "far": far}
    rig: Rig = await engine_factory(make_config(nodes=nodes), executors=executors)
    (job,) = await rig.submit({"http": {"url": f"{server.url}/ok"}, "node": "far"})
    job = await rig.wait_terminal(job.id)
    assert (job.status, job.node) == (JobStatus.COMPLETED, "far") and far.launched == []
    assert (await stdout_of(rig, job.id)).endswith("hello from the test server")


# ---------------------------------------------------------------- python jobs

REPORT = """\
import json, os, sys
with open("/proc/self/cmdline", "rb") as f:
    cmdline = f.read().decode().split("\\0")
print(json.dumps({"argv": sys.argv, "file": __file__, "real": os.path.realpath(sys.argv[0]), "cmdline": cmdline,
                  "uid": os.getuid()}))
"""


async def test_a_python_job_runs_its_code_from_a_file_with_the_configured_interpreter(
    engine_factory: Callable[..., Any],
) -> None:
    rig: Rig = await engine_factory(make_config(python_interpreter=sys.executable))
    (job,) = await rig.submit({"python": {"code": REPORT, "args": ["a", "b c"]}})
    assert job.command == [sys.executable, "job.py", "a", "b c"] and job.extra["python_code"] == REPORT
    job = await rig.wait_terminal(job.id)
    assert job.status == JobStatus.COMPLETED, job.message
    (attempt,), _ = await rig.history(job.id)
    path = os.path.join(attempt.run_dir, "job.py")
    seen = json.loads(await stdout_of(rig, job.id))
    assert seen["argv"] == [path, "a", "b c"] and seen["file"] == path
    assert seen["cmdline"][:2] == [sys.executable, path]
    assert not any("import json" in arg for arg in seen["cmdline"])  # the code is not in the argv
    assert Path(path).read_text() == REPORT and stat.S_IMODE(Path(path).stat().st_mode) == 0o600


async def test_a_python_jobs_own_interpreter_and_a_failing_one(engine_factory: Callable[..., Any]) -> None:
    rig: Rig = await engine_factory()
    ok, bad = await rig.submit(
        {"python": {"code": "import sys; print(sys.version_info[0])", "interpreter": sys.executable}},
        {"python": {"code": "raise SystemExit(3)"}},
    )
    assert ok.command[0] == sys.executable and bad.command[0] == "python3"  # the config's default
    ok, bad = await rig.wait_terminal(ok.id), await rig.wait_terminal(bad.id)
    assert ok.status == JobStatus.COMPLETED and (await stdout_of(rig, ok.id)) == "3\n"
    assert (bad.status, bad.exit_code) == (JobStatus.FAILED, 3)


async def test_python_code_is_refused_where_it_could_land_on_a_remote_node(
    engine_factory: Callable[..., Any], state_dir: Path
) -> None:
    nodes = [LocalNode(name="local", cores=8, gpus=0), SshNode(name="far", kind="ssh", host="far.invalid")]
    executors = {"local": LocalExecutor("local", state_dir / "runs"), "far": FakeExecutor("far")}
    rig: Rig = await engine_factory(make_config(nodes=nodes), executors=executors)
    with pytest.raises(ValidationError, match="python code runs from a file the engine writes on this machine"):
        await rig.submit({"python": {"code": "print(1)"}})
    with pytest.raises(ValidationError, match="on local nodes only"):
        await rig.submit({"python": {"code": "print(1)"}, "node": "far"})
    (job,) = await rig.submit({"python": {"code": "print('here')", "interpreter": sys.executable}, "node": "local"})
    assert (await rig.wait_terminal(job.id)).status == JobStatus.COMPLETED


@pytest.mark.skipif(
    not can_switch_users() or shutil.which("setpriv") is None or account_named("nobody") is None,
    reason="running a job as another account takes root, setpriv and the nobody account",
)
async def test_a_python_job_run_as_another_account_reads_its_code_through_a_descriptor(tmp_path: Path) -> None:
    """Shared mode: the job's account may not enter the daemon's run directory (0700), yet runs the code."""
    account = account_named("nobody")
    assert account is not None
    python = "/usr/bin/python3"
    if not os.access(python, os.X_OK):
        pytest.skip("needs a python3 every account may run")
    runs = tmp_path / "runs"
    runs.mkdir(mode=0o700)
    executor = LocalExecutor("local", runs)
    job = Job(1, "code", [python, "job.py", "x"], account.user, extra={"python_code": REPORT})
    attempt = Attempt(1, 1, "local", executor.run_dir(1, 1), "token")
    await executor.launch(LaunchSpec(job, attempt, login_environment(account), "/", account))
    outcome = await executor.wait(attempt)
    run_dir = Path(attempt.run_dir)
    assert outcome.exit_code == 0, (run_dir / "stderr").read_text()
    seen = json.loads((run_dir / "stdout").read_text())
    script = run_dir / "job.py"
    assert seen["uid"] == account.uid and seen["argv"] == ["/dev/fd/3", "x"]
    assert seen["real"] == str(script)  # the descriptor is the file written in the run directory
    assert not any("import json" in arg for arg in seen["cmdline"])
    info = script.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (account.uid, 0o600)
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700 and run_dir.stat().st_uid == os.geteuid()
