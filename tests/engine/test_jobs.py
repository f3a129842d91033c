"""The engine with real job processes and a real SQLite file: run, fail, retry, time out, cancel."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from engine.events import JobChanged
from engine.models import JobStatus, Reason
from tests.fixtures.engine import Rig, db_rows, pid_alive
from tests.waiting import wait_for


async def test_submit_runs_to_completion_with_output_in_per_attempt_files(rig: Rig) -> None:
    job = await rig.submit_one(["sh", "-c", "echo out-$JOBTUI_JOB_ID; echo err >&2"], name="hello")
    assert job.status == JobStatus.WAITING
    assert db_rows(rig.state_dir, f"SELECT status FROM jobs WHERE id={job.id}") == [("waiting",)]  # durable at ack
    await rig.wait_terminal(job.id)
    assert job.status == JobStatus.COMPLETED and job.exit_code == 0 and job.reason is None
    attempts, events = await rig.history(job.id)
    assert len(attempts) == 1
    run_dir = Path(attempts[0].run_dir)
    assert run_dir == rig.state_dir / "runs" / f"{job.id}.1"  # one directory per attempt, made with one mkdir
    assert (run_dir / "stdout").read_text() == f"out-{job.id}\n"
    assert (run_dir / "stderr").read_text() == "err\n"
    assert [e.to_status for e in events] == ["waiting", "starting", "running", "completed"]
    assert job.started_at is not None and job.finished_at >= job.started_at


async def test_failure_carries_reason_and_message(rig: Rig) -> None:
    code3 = await rig.submit_one(["sh", "-c", "exit 3"])
    killed = await rig.submit_one(["sh", "-c", "kill -9 $$"])
    missing = await rig.submit_one(["sh", "-c", "exec no-such-program-xyz"])
    for job in (code3, killed, missing):
        await rig.wait_terminal(job.id)
        assert job.status == JobStatus.FAILED
    await rig.engine.flush()  # the engine's own transitions are group-committed
    assert (code3.reason, code3.exit_code) == (Reason.EXIT_CODE, 3) and "exited with code 3" in code3.message
    assert killed.reason == Reason.SIGNAL and "SIGKILL" in killed.message
    assert missing.reason == Reason.LAUNCH_ERROR and "not found" in missing.message
    rows = dict(db_rows(rig.state_dir, "SELECT id, COALESCE(state, data) FROM jobs"))  # state: the changing fields
    saved = json.loads(rows[code3.id])
    assert saved["reason"] == "exit_code" and "exited with code 3" in saved["message"]


async def test_retries_back_off_and_keep_earlier_attempts(rig: Rig) -> None:
    job = await rig.submit_one(
        ["sh", "-c", "echo try $JOBTUI_ATTEMPT; exit 1"], retries=2, retry_delay=0.3, backoff_factor=2
    )
    await rig.wait_terminal(job.id, timeout=15)
    assert job.status == JobStatus.FAILED and job.attempts == 3 and job.reason == Reason.EXIT_CODE
    attempts, events = await rig.history(job.id)
    assert [a.number for a in attempts] == [1, 2, 3]
    for a in attempts:
        assert Path(a.run_dir, "stdout").read_text() == f"try {a.number}\n"
        assert a.exit_code == 1 and a.reason == "exit_code"
    gap1 = attempts[1].started_at - attempts[0].finished_at
    gap2 = attempts[2].started_at - attempts[1].finished_at
    assert gap1 >= 0.3 - 0.01 and gap2 >= 0.6 - 0.01, (gap1, gap2)
    assert [e.kind for e in events].count("retry") == 2
    assert "retry 2 of 3" in next(e.message for e in events if e.kind == "retry")


async def test_retry_that_succeeds_completes(rig: Rig, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    script = f"if [ -e {flag} ]; then echo ok; else touch {flag}; exit 2; fi"
    job = await rig.submit_one(["sh", "-c", script], retries=3, retry_delay=0.1)
    await rig.wait_terminal(job.id)
    assert job.status == JobStatus.COMPLETED and job.attempts == 2 and job.reason is None


async def test_timeout_kills_the_job_and_says_timeout(rig: Rig) -> None:
    job = await rig.submit_one(["sleep", "30"], timeout=0.5)
    await rig.wait_status(job.id, JobStatus.RUNNING)
    pid = rig.engine.current_attempt(job.id).pid
    await rig.wait_terminal(job.id, timeout=10)
    assert job.status == JobStatus.FAILED and job.reason == Reason.TIMEOUT
    assert "timeout" in job.message
    assert not pid_alive(pid)
    assert job.finished_at - job.started_at < 5


async def _start_tree(rig: Rig, tmp_path: Path, script: str):
    child_pid = tmp_path / "grandchild.pid"
    job = await rig.submit_one(["sh", "-c", script.format(pidfile=child_pid)], workdir=str(tmp_path))
    await rig.wait_status(job.id, JobStatus.RUNNING)
    await wait_for(lambda: child_pid.exists() and child_pid.read_text().strip(), 5, "the grandchild's pid")
    return job, rig.engine.current_attempt(job.id).pid, int(child_pid.read_text())


async def test_cancel_kills_the_whole_process_tree(rig: Rig, tmp_path: Path) -> None:
    job, wrapper, grandchild = await _start_tree(rig, tmp_path, "sleep 300 & echo $! > {pidfile}; wait")
    assert pid_alive(wrapper) and pid_alive(grandchild)
    cancelled = await rig.service.cancel(rig.actor(), job.id)
    assert cancelled.id == job.id
    await rig.wait_terminal(job.id, timeout=5)
    assert job.status == JobStatus.CANCELLED and job.reason == Reason.CANCELLED
    assert "cancelled by owner" in job.message
    await wait_for(lambda: not pid_alive(wrapper) and not pid_alive(grandchild), 3, "the process tree to be gone")


async def test_cancel_kills_a_tree_that_ignores_sigterm(rig: Rig, tmp_path: Path) -> None:
    job, wrapper, grandchild = await _start_tree(rig, tmp_path, "trap '' TERM; sleep 300 & echo $! > {pidfile}; wait")
    await rig.service.cancel(rig.actor(), job.id)
    await rig.wait_terminal(job.id, timeout=8)  # cancel_grace is 1 s, then SIGKILL
    assert job.status == JobStatus.CANCELLED
    await wait_for(lambda: not pid_alive(wrapper) and not pid_alive(grandchild), 3, "the process tree to be gone")


async def test_cancel_of_a_queued_job_never_runs_it(rig: Rig, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    job = await rig.submit_one(["touch", str(marker)], requires_approval=True)
    await rig.service.cancel(rig.actor(), job.id)
    assert job.status == JobStatus.CANCELLED
    assert db_rows(rig.state_dir, f"SELECT status FROM jobs WHERE id={job.id}") == [("cancelled",)]
    assert not marker.exists()


async def test_requeue_keeps_history(rig: Rig) -> None:
    job = await rig.submit_one(["sh", "-c", "echo run $JOBTUI_ATTEMPT"])
    await rig.wait_terminal(job.id)
    await rig.service.requeue(rig.actor(), job.id)
    await wait_for(lambda: job.attempts == 2 and job.is_terminal, 10, "the rerun to end")
    assert job.status == JobStatus.COMPLETED
    attempts, events = await rig.history(job.id)
    assert [Path(a.run_dir, "stdout").read_text() for a in attempts] == ["run 1\n", "run 2\n"]
    kinds = [e.kind for e in events]
    assert kinds.count("finished") == 2
    requeued = next(e for e in events if e.kind == "requeued")
    assert (requeued.from_status, requeued.to_status, requeued.actor) == ("completed", "waiting", "owner")
    assert kinds.index("requeued") < len(kinds) - 1


async def test_one_jobs_failure_never_stops_the_others(rig: Rig) -> None:
    jobs = await rig.submit(["sh", "-c", "exit 1"], ["true"], ["sh", "-c", "kill -TERM $$"], ["echo", "fine"])
    for job in jobs:
        await rig.wait_terminal(job.id)
    assert [j.status.value for j in jobs] == ["failed", "completed", "failed", "completed"]


async def test_limits_hold_while_jobs_run(engine_factory, config_factory) -> None:
    from engine.config import Limits

    rig = await engine_factory(config_factory(limits=Limits(max_concurrent=2, user_max_concurrent=2)))
    jobs = await rig.submit(*[["sleep", "0.4"] for _ in range(5)])
    peak = 0

    def running() -> bool:
        nonlocal peak
        peak = max(peak, sum(j.status in (JobStatus.STARTING, JobStatus.RUNNING) for j in jobs))
        return all(j.is_terminal for j in jobs)

    await wait_for(running, 15, "every job to end")
    assert peak == 2
    assert all(j.status == JobStatus.COMPLETED for j in jobs)


async def test_stop_leaves_jobs_running(engine_factory, state_dir: Path) -> None:
    rig = await engine_factory()
    job = await rig.submit_one(["sleep", "30"])
    await rig.wait_status(job.id, JobStatus.RUNNING)
    pid = rig.engine.current_attempt(job.id).pid
    await rig.engine.stop()
    assert pid_alive(pid)
    again = await engine_factory(state_dir=state_dir)
    assert again.engine.current_attempt(job.id).pid == pid
    await again.service.cancel(again.actor(), job.id)
    await again.wait_terminal(job.id)
    assert again.engine.get(job.id).status == JobStatus.CANCELLED
    await wait_for(lambda: not pid_alive(pid), 3, "the re-attached job to be killed")


async def test_cancel_while_the_launch_intent_is_being_saved_never_runs_it(rig: Rig, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    sub = rig.engine.subscribe()
    job = await rig.submit_one(["sh", "-c", f"sleep 0.3; touch {marker}"])
    while not (
        isinstance(e := await sub.queue.get(), JobChanged) and e.key == job.id and e.record["status"] == "starting"
    ):
        pass
    assert job.status == JobStatus.STARTING  # the intent is being committed; nothing launched yet
    await rig.service.cancel(rig.actor(), job.id)
    assert job.status == JobStatus.CANCELLED and job.message == "cancelled by owner"
    # A duration, not a wait: nothing is to happen. Had it been launched anyway, the job would touch the
    # marker 0.3 s after it started; twice that with no marker and no attempt shows it never ran.
    await asyncio.sleep(0.6)
    assert job.status == JobStatus.CANCELLED and not marker.exists()
    assert rig.engine.current_attempt(job.id) is None and rig.engine.usage().total == 0
    attempts, _ = await rig.history(job.id)
    assert [(a.status, a.reason) for a in attempts] == [("finished", "cancelled")]
    assert not Path(attempts[0].run_dir).exists()  # no run directory: nothing was ever spawned
