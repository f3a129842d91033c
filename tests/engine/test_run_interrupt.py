"""Ctrl-C on `jobtui run`, with real processes: SIGINT once a long job runs, then what became of the jobs.

Hosting its own engine, `run` cancels them or hands them to a detached `jobtui --serve` (which it starts, in its
own session: it outlives the test's process tree, so teardown stops it by the pid in the state directory's
lock file, after checking that pid is that daemon). Attached to a daemon, it only stops following.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.api.discovery import LOCK_NAME, engine_running
from tests.fixtures.engine import JOBTUI, ROOT, Daemon, kill_leftover_jobs, pid_alive, wrapper_pids
from tests.waiting import wait_for_sync

# `long` must still run when Ctrl-C comes and while the engine changes hands: 4 s is what the scenario needs.
JOBS = """\
- {key: long, command: 'sleep 4'}
- {key: next, command: 'true', after: [long]}
"""


def _env(state: Path) -> dict[str, str]:
    env = {**os.environ, "JOBTUI_HOME": str(state), "PYTHONUNBUFFERED": "1"}
    env.pop("JOBTUI_CONFIG", None)
    return env


def _daemon_pid(state: Path) -> int | None:
    """The pid of the `jobtui --serve` holding `state`'s lock, if that is what it is."""
    try:
        pid = int((state / LOCK_NAME).read_text().split()[0])
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        return None
    return pid if b"--serve" in argv and str(state).encode() in argv and pid_alive(pid) else None


def _stop(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class Runs:
    """`jobtui run` processes on state directories; at teardown every one is killed, and every daemon left on
    those state directories is stopped by its pid, then their jobs."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[str]] = []
        self.states: list[Path] = []

    def start(self, state: Path, *args: str, **popen: Any) -> subprocess.Popen[str]:
        jobs = self.tmp_path / "jobs.yaml"
        jobs.write_text(JOBS)
        self.states.append(state)
        popen.setdefault("stdin", subprocess.DEVNULL)
        popen.setdefault("stderr", subprocess.PIPE)
        proc = subprocess.Popen(
            [*JOBTUI, "--state-dir", str(state), "run", str(jobs), *args],
            stdout=subprocess.PIPE,
            text=True,
            env=_env(state),
            cwd=ROOT,
            **popen,
        )
        self.procs.append(proc)
        return proc

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        for state in self.states:
            pid = _daemon_pid(state)
            if pid is not None:
                _stop(pid)
            kill_leftover_jobs(state)


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[Runs]:
    runs = Runs(tmp_path)
    yield runs
    runs.cleanup()


def status(state: Path, job_id: int) -> str | None:
    """The job's status from the engine serving `state` now (the run's own, or a daemon), None if none answers."""
    try:
        response = Daemon(state).get(f"/api/jobs/{job_id}")
    except (httpx.TransportError, OSError):
        return None
    return response.json()["job"]["status"] if response.status_code == 200 else None


def wait_running(state: Path, proc: subprocess.Popen[str]) -> None:
    def running() -> bool:
        assert proc.poll() is None, f"`jobtui run` exited with {proc.returncode}"
        return status(state, 1) == "running"

    wait_for_sync(running, 30, "the long job to run")


def test_detach_hands_the_jobs_to_a_daemon_that_finishes_them(runs: Runs, tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = runs.start(state)  # no terminal: --on-interrupt's default, detach
    wait_running(state, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    found = re.search(r"interrupted: detached\. `jobtui --serve` \(pid (\d+)\) now runs the jobs", err)
    assert found, err
    assert "1 running job(s) keep running, 1 waiting job(s) run there" in err
    assert f"`jobtui --state-dir {state} wait 1 2`" in err and f"`jobtui --state-dir {state} list`" in err
    assert engine_running(state) and _daemon_pid(state) == int(found[1]) != proc.pid
    wait_for_sync(lambda: status(state, 2) == "completed", 30, "the waiting job to run under the daemon")
    job = Daemon(state).job(1)
    assert (job["job"]["status"], job["job"]["exit_code"]) == ("completed", 0)
    assert job["attempts"][0]["number"] == 1 and len(job["attempts"]) == 1  # re-attached, never run again


def test_cancel_cancels_the_unfinished_jobs_and_writes_the_results(runs: Runs, tmp_path: Path) -> None:
    state = tmp_path / "state"
    results = tmp_path / "results.json"
    proc = runs.start(state, "--on-interrupt", "cancel", "-o", str(results))
    wait_running(state, proc)
    (wrapper,) = wrapper_pids(state)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: cancelled 2 unfinished job(s)" in err and f"`jobtui --state-dir {state} list`" in err
    assert [line.split()[2] for line in out.splitlines()[-2:]] == ["cancelled", "cancelled"]
    document = json.loads(results.read_text())
    assert [(r["key"], r["status"]) for r in document["jobs"]] == [("long", "cancelled"), ("next", "cancelled")]
    assert not engine_running(state) and _daemon_pid(state) is None  # nothing handed over
    wait_for_sync(lambda: not pid_alive(wrapper), 10, "the cancelled job's process to be gone")


def test_on_a_terminal_it_asks_and_cancels_when_told(runs: Runs, tmp_path: Path) -> None:
    state = tmp_path / "state"
    terminal, tty = pty.openpty()
    try:
        proc = runs.start(state, stdin=tty, stderr=tty)
    finally:
        os.close(tty)
    seen = b""

    def read_until(text: bytes, timeout: float = 30) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while text not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} on the terminal: {seen!r}"
            if select.select([terminal], [], [], left)[0]:
                try:
                    seen += os.read(terminal, 4096)
                except OSError:  # the other end closed
                    break

    try:
        wait_running(state, proc)
        proc.send_signal(signal.SIGINT)
        read_until(b"[c]ancel them, or [d]etach")
        assert b"2 job(s) have not ended (1 running)" in seen
        os.write(terminal, b"c\n")
        proc.wait(60)
        read_until(b"unfinished job(s)")
    finally:
        os.close(terminal)
    assert proc.returncode == 130
    assert b"interrupted: cancelled 2 unfinished job(s)" in seen
    assert not engine_running(state)


def test_attached_it_only_stops_following(daemon_factory: Any, runs: Runs) -> None:
    daemon = daemon_factory().start()
    proc = runs.start(daemon.state_dir, "--on-interrupt", "cancel")  # cancel is for an engine it hosts
    wait_running(daemon.state_dir, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: stopped following; the jobs keep running in the engine. Follow again with" in err
    assert f"`jobtui --state-dir {daemon.state_dir} wait 1 2`" in err
    assert _daemon_pid(daemon.state_dir) == daemon.pid  # the same daemon, nothing started
    wait_for_sync(lambda: status(daemon.state_dir, 2) == "completed", 30, "the jobs to go on to their end")
