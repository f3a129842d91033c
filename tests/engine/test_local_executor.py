"""The local executor with an attempt whose pid was never recorded."""

from __future__ import annotations

from pathlib import Path

from engine.executors.base import Liveness
from engine.executors.local import LocalExecutor
from engine.executors.wrapper import EXIT
from engine.models import Attempt


async def test_wait_without_pid_reports_exit_code(tmp_path: Path) -> None:
    # The engine died before recording the pid and the pid file is missing, but the job finished: its
    # exit code is what it reported, not a failure to follow a process that was never known.
    executor = LocalExecutor("local", tmp_path)
    run_dir = executor.run_dir(1, 1)
    Path(run_dir).mkdir(parents=True)
    Path(run_dir, EXIT).write_bytes(b"3\n")
    attempt = Attempt(1, 1, "local", run_dir, "token")

    assert await executor.probe(attempt) == Liveness.EXITED
    assert attempt.pid is None
    outcome = await executor.wait(attempt)
    assert outcome.exit_code == 3
    assert outcome.reason is None


async def test_the_store_and_job_output_are_private_whatever_the_umask(engine_factory, tmp_path) -> None:
    """Under umask 0 the database and every job's output are still 0600 in a 0700 state directory, while the
    job itself keeps the daemon's umask for the files it makes."""
    import os
    import stat

    state_dir = tmp_path / "open-umask"
    old = os.umask(0)
    try:
        rig = await engine_factory(state_dir=state_dir)
        job = await rig.submit_one(["sh", "-c", "umask; echo more >&2"])
        await rig.wait_terminal(job.id)
    finally:
        os.umask(old)
    (stdout,) = state_dir.rglob("stdout")
    assert stdout.read_text().strip() == "0000", "the job runs with the daemon's own umask"
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    private = [state_dir / "jobtui.db", *state_dir.rglob("stdout"), *state_dir.rglob("stderr")]
    assert len(private) == 3
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
