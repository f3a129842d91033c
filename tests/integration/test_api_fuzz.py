"""Schemathesis over the whole OpenAPI document, against a live `jobtui --serve` on TCP.

No answer is a server error (5xx); afterwards the daemon still runs and serves, and still lists every job the
run was told it submitted. The document is narrowed first where a fuzzer must not go (see `fuzz_document`).
About 40 s on two cores.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.engine import BIN, FUZZABLE_SPEC_FIELDS, Daemon, pid_alive
from tests.waiting import wait_for_sync

HARMLESS = ["true", "false", "echo"]  # every program the fuzzer may name: it runs them as the test's user
FOLLOWED_JOB_IDS = 40  # path ids are drawn from 1..this, where the run's own jobs are
EXAMPLES_PER_OPERATION = 10
RUN_TIMEOUT = 90  # seconds for all the runs together (they take about 35), within pytest's 120


@dataclass
class Live:
    daemon: Daemon
    url: str  # its TCP address, http://127.0.0.1:PORT


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def live(daemon_factory: Callable[..., Daemon], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    """A `jobtui --serve --listen 127.0.0.1:PORT` on a fresh state directory, stopped by its pid after."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # a job without a workdir runs in the daemon's home: this one
    daemon = daemon_factory()
    live = Live(daemon, f"http://127.0.0.1:{_free_port()}")
    daemon.proc = daemon.spawn("--listen", live.url.removeprefix("http://"))
    wait_for_sync(lambda: _serves(live), 30, "the daemon to serve on TCP")
    yield live  # daemon_factory stops it (SIGTERM by pid, then SIGKILL) and kills the jobs left behind


def _serves(live: Live) -> bool:
    proc = live.daemon.proc
    assert proc is not None and proc.poll() is None, f"the daemon exited: {live.daemon.log.read_text()}"
    try:
        return httpx.get(f"{live.url}/api/health", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def fuzz_document(schema: dict[str, Any]) -> dict[str, Any]:
    """The served document, narrowed where a fuzzer must not go, and pointed at the jobs it makes."""
    paths = schema["paths"]
    del paths["/api/events"]  # an endless stream (keep-alives every 15 s)
    del paths["/api/queue/cleanup"]  # deletes ended jobs: by design what the check afterwards looks for
    # a long poll answers when its timeout is up, up to 300 s (the in-process properties send it bodies)
    del paths["/api/queue/wait"]
    logs = paths["/api/jobs/{job_id}/logs"]["get"]
    # follow=true streams until the job ends, which a blocked job never does; its checks, made before the
    # stream starts, are tested in tests/engine/test_api_schema.py
    logs["parameters"] = [p for p in logs["parameters"] if p["name"] != "follow"]
    job = schema["components"]["schemas"]["JobSpec"]
    job["properties"] = {name: field for name, field in job["properties"].items() if name in FUZZABLE_SPEC_FIELDS}
    job["properties"]["command"]["prefixItems"] = [{"type": "string", "enum": HARMLESS}]  # the program; any args
    for methods in paths.values():
        for operation in methods.values():
            for param in operation.get("parameters", []):
                if param["name"] == "job_id":
                    param["schema"] = {"type": "integer", "minimum": 1, "maximum": FOLLOWED_JOB_IDS}
    return schema


def acknowledged_jobs(har: dict[str, Any]) -> set[int]:
    """The ids of every job a submission of the run was answered with (HAR: each request and its answer)."""
    ids: set[int] = set()
    for entry in har["log"]["entries"]:
        request, response = entry["request"], entry["response"]
        if request["method"] == "POST" and request["url"].endswith("/api/queue/submit") and response["status"] == 200:
            ids.update(json.loads(response["content"]["text"])["ids"])
    return ids


def test_no_operation_answers_a_server_error_and_the_daemon_keeps_every_job(live: Live, tmp_path: Path) -> None:
    daemon = live.daemon
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(fuzz_document(httpx.get(f"{live.url}/openapi.json", timeout=10).json())))
    started = time.monotonic()
    parts = _partition(json.loads(document.read_text()), RUNS)
    runs: list[subprocess.Popen[str]] = []
    try:
        runs += [_start_run(document, live, tmp_path / f"run{n}", paths) for n, paths in enumerate(parts, 1)]
        outputs = [_finish(run, started + RUN_TIMEOUT) for run in runs]
    finally:
        for run in runs:  # none outlives the test
            if run.poll() is None:
                run.kill()
                run.wait()
    took = time.monotonic() - started
    for paths, (code, output) in zip(parts, outputs, strict=True):
        assert code == 0, f"schemathesis over {paths} ({took:.0f} s) found server errors:\n{output[-12000:]}"

    assert daemon.proc is not None and pid_alive(daemon.proc.pid) and daemon.proc.poll() is None
    assert httpx.get(f"{live.url}/api/health", timeout=10).json()["ok"] is True
    acknowledged = set().union(*(acknowledged_jobs(json.loads(har.read_text())) for har in tmp_path.glob("*/har-*")))
    assert acknowledged, "the run submitted no job: the document's job spec no longer lets it"
    listed = httpx.get(
        f"{live.url}/api/queue",
        params={"limit": 0, "include_completed": True},
        headers={"Authorization": f"Bearer {daemon.token}"},
        timeout=30,
    ).json()["jobs"]
    missing = acknowledged - {job["id"] for job in listed}
    assert not missing, f"acknowledged but no longer listed: {sorted(missing)}"


# The paths are fuzzed in RUNS runs at once, each a process of its own: every request waits ~40 ms for its answer
# on TCP (the --listen socket is made without TCP_NODELAY), and schemathesis' own --workers are threads, which
# CPython 3.11's `ast` is not safe in (hypothesis parses lambdas: "AST constructor recursion depth mismatch").
RUNS = 3


def _partition(document: dict[str, Any], runs: int) -> list[list[str]]:
    """The document's paths in `runs` groups of about equal work: a path weighs what its operations say,
    the schemas they refer to included (a submission's job spec generates the most cases)."""
    components = document["components"]["schemas"]

    def weight(node: Any, seen: set[str]) -> int:
        text = json.dumps(node)
        total = len(text)
        for name in re.findall(r'"#/components/schemas/([^"]+)"', text):
            if name not in seen:
                seen.add(name)
                total += weight(components[name], seen)
        return total

    weights = {path: weight(operations, set()) for path, operations in document["paths"].items()}
    loads = [0] * runs
    groups: list[list[str]] = [[] for _ in range(runs)]
    for path in sorted(weights, key=weights.__getitem__, reverse=True):  # the heaviest first, to the lightest
        lightest = loads.index(min(loads))
        groups[lightest].append(path)
        loads[lightest] += weights[path]
    return [paths for paths in groups if paths]


def _start_run(document: Path, live: Live, reports: Path, paths: list[str]) -> subprocess.Popen[str]:
    reports.mkdir()
    scope = [option for path in paths for option in ("--include-path", path)]
    argv = [
        str(BIN / "st"), "run", str(document), "--url", live.url, *scope,
        "--checks", "not_a_server_error",
        "--header", f"Authorization: Bearer {live.daemon.token}",
        "--max-examples", str(EXAMPLES_PER_OPERATION),
        "--phases", "examples,coverage,fuzzing",
        "--workers", "1",
        "--request-timeout", "10",
        "--seed", "20260101",  # the same requests each run: a failure reproduces
        "--no-shrink",
        "--output-sanitize", "false",
        "--report", "har", "--report-dir", str(reports),
    ]  # fmt: skip
    # in the reports' folder: schemathesis keeps its cache (.schemathesis/) where it runs
    env = live.daemon.env
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=reports, env=env)


def _finish(run: subprocess.Popen[str], deadline: float) -> tuple[int, str]:
    """The exit code and output of `run`; one still running at `deadline` is killed (by its pid)."""
    try:
        output, _ = run.communicate(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        run.kill()
        output, _ = run.communicate()
        return -1, f"(still running after {RUN_TIMEOUT} s: killed)\n{output}"
    return run.returncode, output
