"""`jobtui --serve` as a real subprocess: jobs outlive `kill -9` of the daemon and are re-attached; a job
that vanished while no engine ran is `lost`; one engine per state dir; private files; the API schema;
`--serve` never imports Textual.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys

from tests.fixtures.engine import JOBTUI, ROOT, Daemon, pid_alive
from tests.waiting import wait_for_sync

LINES = 40
# Numbered lines over ~4 s, flushed one by one.
COUNTER = f'for i in $(seq 1 {LINES}); do echo "line $i"; sleep 0.1; done'


def submit(daemon: Daemon, *args: str) -> int:
    return daemon.cli_json("submit", *args)["ids"][0]


def job_of(daemon: Daemon, job_id: int) -> dict:
    return daemon.job(job_id)["job"]


def test_job_survives_kill_9_of_the_daemon_and_is_reattached(daemon: Daemon) -> None:
    job_id = submit(daemon, "--name", "counter", "--", "sh", "-c", COUNTER)
    stdout = wait_for_sync(lambda: next(daemon.state_dir.glob(f"runs/{job_id}.1/stdout"), None), 10, "output")
    wait_for_sync(lambda: stdout.read_text().count("\n") >= 5, 10, "a few lines of output")
    detail = daemon.job(job_id)
    assert detail["job"]["status"] == "running"
    pid = detail["attempts"][-1]["pid"]
    assert pid and pid_alive(pid)

    daemon.kill9()
    assert pid_alive(pid), "the job must outlive its engine"
    lines_while_down = stdout.read_text().count("\n")
    wait_for_sync(
        lambda: stdout.read_text().count("\n") > lines_while_down, 5, "the job to keep writing while no engine runs"
    )
    assert pid_alive(pid)

    daemon.start()
    detail = daemon.job(job_id)
    # re-attached to the same process (it may have ended meanwhile on a slow machine: then its exit file counts)
    assert detail["job"]["status"] in ("running", "completed"), detail["job"]
    assert detail["attempts"][-1]["pid"] == pid and len(detail["attempts"]) == 1
    done = daemon.cli("wait", str(job_id), "--timeout", "20")
    assert done.returncode == 0, done.stderr
    detail = daemon.job(job_id)
    assert detail["job"]["status"] == "completed" and detail["job"]["exit_code"] == 0
    assert detail["attempts"][-1]["pid"] == pid and len(detail["attempts"]) == 1
    expected = "".join(f"line {i}\n" for i in range(1, LINES + 1))
    assert daemon.cli("logs", str(job_id)).stdout == expected
    assert stdout.read_text() == expected
    kinds = [e["kind"] for e in detail["events"]]
    assert kinds.count("starting") == 1, kinds  # re-attached, never relaunched


def test_job_that_vanished_while_no_engine_ran_is_lost(daemon: Daemon) -> None:
    job_id = submit(daemon, "--", "sleep", "60")
    wait_for_sync(lambda: job_of(daemon, job_id)["status"] == "running", 10, "the job to run")
    pid = daemon.job(job_id)["attempts"][-1]["pid"]
    daemon.kill9()
    os.killpg(pid, signal.SIGKILL)
    wait_for_sync(lambda: not pid_alive(pid), 5, "the job's processes to die")
    daemon.start()
    waited = daemon.cli("wait", str(job_id), "--timeout", "10")
    assert waited.returncode == 1  # it did not complete
    job = job_of(daemon, job_id)
    assert job["status"] == "failed" and job["reason"] == "lost"
    assert "vanished" in job["message"]


def test_queued_jobs_wait_while_no_engine_runs(daemon: Daemon) -> None:
    daemon.cli_json("concurrency", "--max-concurrent", "1")
    first = submit(daemon, "--", "sleep", "1")
    second = submit(daemon, "--", "echo", "second")
    daemon.stop()
    daemon.start()
    assert daemon.cli("wait", str(first), str(second), "--timeout", "20").returncode == 0
    assert daemon.cli("logs", str(second)).stdout == "second\n"


def test_one_engine_per_state_directory(daemon: Daemon) -> None:
    second = daemon.spawn()
    assert second.wait(20) == 1
    log = daemon.log.read_text()
    assert f"an engine (pid {daemon.pid}) already runs on {daemon.state_dir}" in log
    assert daemon.get("/api/health").json()["pid"] == daemon.pid  # the first one is unharmed


def test_socket_token_and_lock_are_private(daemon: Daemon) -> None:
    for name in ("engine.sock", "owner.token", "engine.lock"):
        mode = os.stat(daemon.state_dir / name).st_mode
        assert stat.S_IMODE(mode) == 0o600, (name, oct(mode))
    assert stat.S_ISSOCK(os.stat(daemon.socket).st_mode)
    assert stat.S_IMODE(os.stat(daemon.state_dir).st_mode) == 0o700  # created by the engine, private


def test_api_needs_a_token(daemon: Daemon) -> None:
    assert daemon.get("/api/queue", token="wrong").status_code == 401
    assert daemon.get("/api/queue", token="").status_code == 401
    assert daemon.get("/api/queue").status_code == 200


def test_openapi_schema_is_served(daemon: Daemon) -> None:
    schema = daemon.get("/openapi.json").json()
    assert schema["info"]["title"] == "jobtui"
    for path in (
        "/api/queue",
        "/api/queue/submit",
        "/api/queue/{job_id}/cancel",
        "/api/jobs/{job_id}/logs",
        "/api/events",
        "/api/tokens",
        "/api/queue/concurrency",
    ):
        assert path in schema["paths"], path


def test_stop_by_sigterm_leaves_jobs_running_and_removes_the_socket(daemon: Daemon) -> None:
    job_id = submit(daemon, "--", "sleep", "30")
    wait_for_sync(lambda: job_of(daemon, job_id)["status"] == "running", 10, "the job to run")
    pid = daemon.job(job_id)["attempts"][-1]["pid"]
    assert daemon.stop() == 0
    assert pid_alive(pid) and not daemon.socket.exists()
    daemon.start()
    assert daemon.cli("cancel", str(job_id)).returncode == 0
    wait_for_sync(lambda: not pid_alive(pid), 15, "the job to be killed")


def test_serve_never_imports_textual(tmp_path) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "JOBTUI_HOME": str(state)}
    argv = [sys.executable, "-X", "importtime", "-m", "tui.cli", "--state-dir", str(state), "--serve"]
    log = tmp_path / "importtime.log"  # a file, not a pipe: the import lines outgrow a pipe's buffer
    with open(log, "w") as errors:
        proc = subprocess.Popen(argv, stderr=errors, stdout=subprocess.DEVNULL, env=env, cwd=ROOT, text=True)
        try:
            wait_for_sync(lambda: (state / "engine.sock").exists(), 20, "the engine to serve")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    err = log.read_text()
    imported = [line.rsplit("|", 1)[-1].strip() for line in err.splitlines() if line.startswith("import time:")]
    assert "engine.api.daemon" in imported and "uvicorn" in imported  # the probe sees what --serve loads
    assert not [m for m in imported if m.split(".")[0] == "textual"], "--serve imported textual"
    assert proc.returncode == 0


def test_textual_import_would_be_seen(tmp_path) -> None:
    """The probe of the test above can fail: importing the TUI app does show textual."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import tui.app"], capture_output=True, text=True, cwd=ROOT
    )
    assert any(line.rsplit("|", 1)[-1].strip() == "textual" for line in done.stderr.splitlines())


def test_verb_without_an_engine_says_how_to_start_one(tmp_path) -> None:
    state = tmp_path / "nothing-here"
    done = subprocess.run([*JOBTUI, "--state-dir", str(state), "list"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1
    assert "no jobtui engine is running" in done.stderr and "jobtui --serve" in done.stderr
    assert str(state) in done.stderr


def test_serve_refuses_a_bad_config_with_exit_2(tmp_path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("limits:\n  max_concurrent: -3\n")
    done = subprocess.run(
        [*JOBTUI, "--config", str(config), "--state-dir", str(tmp_path / "s"), "--serve"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert done.returncode == 2
    assert f"{config}:2" in done.stderr and "limits.max_concurrent" in done.stderr


def test_submit_file_on_serve_start(daemon_factory, tmp_path) -> None:
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(json.dumps([{"command": ["echo", "from file"], "name": "boot"}]))
    daemon = daemon_factory()
    daemon.proc = daemon.spawn("--submit", str(jobs))
    wait_for_sync(daemon._healthy, 20, "the daemon")
    assert daemon.cli("wait", "1", "--timeout", "10").returncode == 0
    assert daemon.cli("logs", "1").stdout == "from file\n"


async def _events_until(client, since, stop, timeout=15.0) -> list:
    import asyncio

    got: list = []

    async def read() -> None:
        async for event in client.events(since):
            got.append(event)
            if stop(got):
                return

    await asyncio.wait_for(read(), timeout)
    return got


async def test_event_stream_of_the_daemon_replays_and_says_when_to_resync(daemon: Daemon) -> None:
    from engine.events import JobChanged, Resync

    client = daemon.client()
    try:
        snap = await client.snapshot()
        (job,) = await client.submit([{"command": ["echo", "x"]}])
        events = await _events_until(
            client,
            snap["seq"],
            lambda evs: any(isinstance(e, JobChanged) and e.record["status"] == "completed" for e in evs),
        )
        assert not any(isinstance(e, Resync) for e in events)  # the stream's hello named the snapshot's engine
        seqs = [e.seq for e in events]
        assert seqs[0] == snap["seq"] + 1 and seqs == sorted(seqs)
        assert {e.record["id"] for e in events if isinstance(e, JobChanged)} == {job["id"]}

        daemon.kill9()
        daemon.start()
        # the same client, whose last snapshot came from the engine that died: a new engine says resync
        (first,) = await _events_until(client, seqs[-1], lambda evs: True)
        assert isinstance(first, Resync)
        fresh = await client.snapshot()
        assert fresh["instance"] != snap["instance"]
        assert [j["status"] for j in fresh["jobs"] if j["id"] == job["id"]] == ["completed"]
    finally:
        await client.close()
