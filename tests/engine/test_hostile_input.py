"""Hostile or broken input never wedges the queue, crashes the API, or lets a crash mistake a stranger for a job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from engine.errors import ValidationError
from engine.executors.base import Liveness
from engine.executors.local import LocalExecutor, process_start_time
from engine.models import Attempt, Job, JobStatus, Reason
from engine.service.reads import snapshot
from tests.fixtures.engine import OWNER, Rig, db_rows, pid_alive
from tests.waiting import wait_for


@pytest.mark.parametrize(
    "spec",
    [
        {"command": ["echo", "a\x00b"]},
        {"command": ["true"], "env": {"X": "a\x00b"}},
        {"command": ["true"], "env": {"X": "\ud800"}},
        {"command": ["true"], "after": ["²"]},
        {"command": ["true"], "after": [2**64]},
        {"command": ["true"], "timeout": float("nan")},
        {"command": ["true"], "workdir": "/" + "d" * 5000},
        {"command": ["echo", "x" * (200 * 1024)]},
        {"command": ["true"], "cpus": 2**64},
    ],
    ids=[
        "nul-arg",
        "nul-env",
        "surrogate",
        "unicode-digit",
        "id-past-64-bits",
        "nan",
        "long-path",
        "huge-arg",
        "huge-cpus",
    ],
)
async def test_hostile_fields_are_refused_with_nothing_stored(rig: Rig, spec: dict) -> None:
    with pytest.raises(ValidationError) as info:
        await rig.submit(spec)
    assert "Nothing was submitted" in str(info.value)
    assert rig.engine.job_count == 0 and db_rows(rig.state_dir, "SELECT id FROM jobs") == []


async def test_a_workdir_the_file_system_cannot_look_up_is_refused(rig: Rig) -> None:
    """Within the length a path may have, but one name longer than any file system's (ENAMETOOLONG)."""
    with pytest.raises(ValidationError, match="does not exist; create it or fix --workdir"):
        await rig.submit({"command": ["true"], "workdir": "/" + "d" * 300})
    assert rig.engine.job_count == 0


async def test_a_launch_that_raises_fails_the_job_and_frees_its_slot(rig: Rig) -> None:
    """Past validation (here: straight into the engine), posix_spawn's ValueError on a NUL ends the attempt, and
    only it: the spawner that met it goes on starting the next jobs."""
    warm = await rig.submit_one(["true"])
    await rig.wait_terminal(warm.id)
    executor = rig.engine.executors["local"]
    assert isinstance(executor, LocalExecutor) and executor.spawner._process is not None
    spawner = executor.spawner._process.pid
    now = rig.engine.clock.now()
    job = Job(rig.engine.next_job_id, "nul", ["echo", "a\x00b"], OWNER, created_at=now, updated_at=now)
    job.status = JobStatus.WAITING
    await rig.engine.submit([job], rig.actor())
    await rig.wait_terminal(job.id, timeout=5)
    assert job.status == JobStatus.FAILED and job.reason == Reason.LAUNCH_ERROR
    assert "could not launch" in job.message
    assert rig.engine.usage().total == 0  # its slot is free: the queue goes on
    after = await rig.submit_one(["true"])
    assert (await rig.wait_terminal(after.id)).status == JobStatus.COMPLETED
    assert executor.spawner._process is not None and executor.spawner._process.pid == spawner


async def test_cancel_of_a_starting_job_always_ends_it(rig: Rig) -> None:
    stream = rig.engine.subscribe()
    job = await rig.submit_one(["sleep", "30"])
    while not (rig.engine.find(job.id) and job.status == JobStatus.STARTING):
        await stream.queue.get()
    await rig.service.cancel(rig.actor(), job.id)
    await rig.wait_terminal(job.id, timeout=5)
    assert job.status == JobStatus.CANCELLED


@pytest.mark.parametrize(
    "line",
    ["Step 1 of 18446744073709551617", "Step 1 of " + "9" * 5000, "Increment 99999999999999999999 of 3"],
    ids=["past-2**64", "5000-digits", "huge-step"],
)
async def test_progress_numbers_that_do_not_fit_are_ignored(rig: Rig, line: str) -> None:
    job = await rig.submit_one([sys.executable, "-c", f"print({line!r}, flush=True)"])
    await rig.wait_terminal(job.id)
    assert job.status == JobStatus.COMPLETED  # the job was supervised to its end
    assert job.progress.step is None and job.progress.total is None  # not stored
    orjson.dumps(snapshot(rig.service))  # every client can still read the queue
    orjson.dumps(job.to_dict())


async def test_progress_text_loses_terminal_control_characters(rig: Rig) -> None:
    evil = "\x1b]0;owned\x07\x1b[2J50% done\x9b"
    job = await rig.submit_one([sys.executable, "-c", f"import sys; sys.stdout.write({evil!r} + '\\n')"])
    await rig.wait_terminal(job.id)
    assert job.progress.percent == 50.0
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in job.progress.text or "")


async def test_the_pid_is_saved_with_the_running_transition_and_its_start_time_learnt_on_restart(rig: Rig) -> None:
    """The launch saves the wrapper's pid (its start time is not read then: /proc waits for the exec); an engine
    that restarts takes the pid only if it still runs this attempt's wrapper, and records its start time."""
    job = await rig.submit_one(["sleep", "30"])
    await rig.wait_status(job.id, JobStatus.RUNNING)
    await rig.engine.flush()
    (data,) = db_rows(rig.state_dir, f"SELECT data FROM attempts WHERE job_id = {job.id}")
    record = json.loads(data[0])
    assert record["pid"]
    saved = Attempt(**record)
    executor = LocalExecutor("local", rig.state_dir / "runs")
    assert await executor.probe(saved) == Liveness.RUNNING
    assert saved.proc_start == process_start_time(record["pid"])
    await rig.service.cancel(rig.actor(), job.id)


async def test_a_recycled_pid_is_never_taken_for_the_job(tmp_path: Path) -> None:
    """After a crash, an attempt whose pid now belongs to a stranger is lost, and cancel never signals it."""
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        run_dir = tmp_path / "runs" / "1" / "1"
        run_dir.mkdir(parents=True)
        executor = LocalExecutor("local", tmp_path / "runs")
        for recorded in (None, (process_start_time(stranger.pid) or 0) + 1):  # unknown, or another process's
            attempt = Attempt(1, 1, "local", str(run_dir), "t0k3n", status="running", pid=stranger.pid)
            attempt.proc_start = recorded
            assert await executor.probe(attempt) == Liveness.LOST
            await executor.cancel(attempt, 0.5)
            assert pid_alive(stranger.pid)
    finally:
        stranger.kill()
        stranger.wait()


async def test_the_jobs_own_wrapper_is_found_without_a_saved_start_time(rig: Rig) -> None:
    job = await rig.submit_one(["sleep", "30"])
    await rig.wait_status(job.id, JobStatus.RUNNING)
    attempt = rig.engine.current_attempt(job.id)
    assert attempt is not None and attempt.pid
    executor = LocalExecutor("local", rig.state_dir / "runs")
    twin = Attempt(job.id, attempt.number, "local", attempt.run_dir, attempt.launch_token, pid=attempt.pid)
    assert await executor.probe(twin) == Liveness.RUNNING  # its argv names the attempt's run directory
    assert twin.proc_start == process_start_time(attempt.pid)
    await rig.service.cancel(rig.actor(), job.id)
    await wait_for(lambda: job.is_terminal, 10, "the job to be cancelled")


async def test_a_state_directory_others_could_read_is_tightened(engine_factory, state_dir: Path) -> None:
    state_dir.mkdir(mode=0o755)
    state_dir.chmod(0o755)
    rig = await engine_factory(state_dir=state_dir)
    assert state_dir.stat().st_mode & 0o777 == 0o700
    job = await rig.submit_one(["true"])
    await rig.wait_terminal(job.id)
