"""The spawner (the process that starts local jobs): jobs it started survive its death and are followed to
their end by pidfd; launches after it died start a new one; every job runs once; it ends with its engine,
even a `kill -9`ed one, and what it started runs on.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from engine.executors.local import LocalExecutor
from engine.models import JobStatus
from tests.fixtures.engine import Daemon, Rig, pid_alive
from tests.waiting import wait_for, wait_for_sync


def spawner_pid(rig: Rig) -> int | None:
    executor = rig.engine.executors["local"]
    assert isinstance(executor, LocalExecutor)
    process = executor.spawner._process
    return process.pid if process is not None and process.returncode is None else None


def spawners_of(pid: int) -> list[int]:
    """The spawner processes whose parent is `pid`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            parent = int(Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = Path(f"/proc/{name}/cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if parent == pid and b"engine.executors.spawner" in argv:
            found.append(int(name))
    return found


async def test_jobs_outlive_a_killed_spawner_and_run_once(rig: Rig, tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    gate = tmp_path / "go"
    script = f"echo $JOBTUI_JOB_ID >>{ran}; while [ ! -e {gate} ]; do sleep 0.05; done; exit 3"
    first = await rig.submit_one(["sh", "-c", script])
    await rig.wait_status(first.id, JobStatus.RUNNING)
    killed = spawner_pid(rig)
    assert killed is not None and pid_alive(killed)

    os.kill(killed, signal.SIGKILL)
    await wait_for(lambda: spawner_pid(rig) is None, 10, "the engine to see its spawner gone")
    assert first.status == JobStatus.RUNNING  # its job runs on, now watched by pidfd

    second = await rig.submit_one(["sh", "-c", script])  # started by a new spawner
    await rig.wait_status(second.id, JobStatus.RUNNING)
    assert spawner_pid(rig) not in (None, killed)
    gate.touch()
    for job in (first, second):
        done = await rig.wait_terminal(job.id)
        assert (done.status, done.exit_code) == (JobStatus.FAILED, 3), done.message
        assert done.attempts == 1
    assert sorted(ran.read_text().split()) == sorted([str(first.id), str(second.id)])  # each ran exactly once


async def test_the_spawner_ends_when_the_engine_stops_and_its_jobs_run_on(rig: Rig, tmp_path: Path) -> None:
    job = await rig.submit_one(["sleep", "30"])
    await rig.wait_status(job.id, JobStatus.RUNNING)
    spawner = spawner_pid(rig)
    attempt = rig.engine.current_attempt(job.id)
    assert spawner is not None and attempt is not None and attempt.pid
    await rig.engine.stop()
    assert not pid_alive(spawner)
    assert pid_alive(attempt.pid)  # the job outlives its engine and its spawner


def test_the_spawner_ends_with_a_killed_daemon(daemon: Daemon) -> None:
    job_id = daemon.cli_json("submit", "--", "sleep", "30")["ids"][0]
    wait_for_sync(lambda: daemon.job(job_id)["job"]["status"] == "running", 15, "the job to run")
    pid = daemon.job(job_id)["attempts"][-1]["pid"]
    assert daemon.proc is not None
    (spawner,) = spawners_of(daemon.proc.pid)
    daemon.kill9()
    wait_for_sync(lambda: not pid_alive(spawner), 10, "the spawner to end with its engine")
    assert pid_alive(pid)
    daemon.start()
    assert daemon.job(job_id)["job"]["status"] == "running"  # re-attached without its spawner
    assert daemon.cli("cancel", str(job_id)).returncode == 0
    wait_for_sync(lambda: not pid_alive(pid), 15, "the job to be cancelled")
