"""Jobs on a real single-node Slurm, through the production executor and the engine."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.executors.base import LaunchSpec
from engine.executors.batch.executor import ClusterExecutor
from engine.executors.batch.slurm import SlurmDialect
from engine.models import Attempt, Job, JobStatus, Reason
from engine.service.jobspec import JobSpec
from engine.service.verbs import JobService
from tests.fixtures.clusters import cluster_engine, cluster_executor, cluster_node, wait_terminal
from tests.waiting import wait_for

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(90)]
ROOT = Path(__file__).resolve().parents[2]


async def _submit(engine, *specs: JobSpec):
    service = JobService(engine)
    return await service.submit(service.actor("root"), list(specs))


async def test_submit_follow_output_and_exit_codes(slurm_cluster, tmp_path):
    engine = cluster_engine(slurm_cluster, tmp_path)
    await engine.start()
    try:
        ok, bad = await _submit(
            engine,
            JobSpec(command=["sh", "-c", "echo hello from slurm; echo to stderr >&2; echo $JOBTUI_JOB_ID"], name="ok"),
            JobSpec(command=["sh", "-c", "sleep 0.5; exit 3"], name="bad", cpus=2, mem_mb=64),
        )
        await wait_terminal(engine, [ok.id, bad.id], 30)
        attempts, _ = await engine.history(ok.id)
        executor = engine.executors["slurm"]
        assert ok.status == JobStatus.COMPLETED, ok.message
        assert ok.exit_code == 0
        assert await executor.read(attempts[-1], "stdout", 0, 1000) == f"hello from slurm\n{ok.id}\n".encode()
        assert await executor.read(attempts[-1], "stderr", 0, 1000) == b"to stderr\n"
        assert attempts[-1].external_id and attempts[-1].external_state == "COMPLETED"
        assert slurm_cluster.jobs_named(attempts[-1].launch_token) == [attempts[-1].external_id]
        assert bad.status == JobStatus.FAILED and bad.exit_code == 3 and bad.reason == Reason.EXIT_CODE
        bad_attempts, bad_events = await engine.history(bad.id)
        bad_attempt = bad_attempts[-1]
        # The scheduler's own id and state were shown on the job while Slurm had it, and kept in its history.
        assert bad.extra["scheduler"]["id"] == bad_attempt.external_id
        assert any(e.kind == "scheduler_state" and bad_attempt.external_id in e.message for e in bad_events)
        shown = slurm_cluster.command(["scontrol", "show", "job", "-o", bad_attempt.external_id])
        assert "NumCPUs=2" in shown and "MinMemoryNode=64M" in shown and "JobState=FAILED" in shown
        assert executor.queries["submit"] == 2
    finally:
        await engine.stop()


async def test_time_limit_is_passed_and_enforced(slurm_cluster, tmp_path):
    engine = cluster_engine(slurm_cluster, tmp_path)
    await engine.start()
    try:
        (job,) = await _submit(engine, JobSpec(command=["sleep", "60"], timeout=3))
        await wait_for(
            lambda: engine.current_attempt(job.id) and engine.current_attempt(job.id).external_id, 10, "submission"
        )
        job_id = engine.current_attempt(job.id).external_id
        assert "TimeLimit=00:01:00" in slurm_cluster.command(["scontrol", "show", "job", "-o", job_id])
        await wait_terminal(engine, [job.id], 30)
        assert job.status == JobStatus.FAILED and job.reason == Reason.TIMEOUT, job.message
        states = slurm_cluster.command(["squeue", "-t", "all", "-h", "-j", job_id, "-o", "%T"]).split()
        assert states == ["CANCELLED"]  # jobtui enforced the seconds; Slurm's own limit counts whole minutes
    finally:
        await engine.stop()


async def test_cancel_running_job(slurm_cluster, tmp_path):
    engine = cluster_engine(slurm_cluster, tmp_path)
    await engine.start()
    try:
        (job,) = await _submit(engine, JobSpec(command=["sh", "-c", "echo started; sleep 60"]))
        await wait_for(lambda: (a := engine.current_attempt(job.id)) and a.external_state == "RUNNING", 15, "RUNNING")
        service = JobService(engine)
        await service.cancel(service.actor("root"), job.id)
        await wait_terminal(engine, [job.id], 20)
        attempt = (await engine.history(job.id))[0][-1]
        assert job.status == JobStatus.CANCELLED
        out = slurm_cluster.command(["squeue", "-t", "all", "-h", "-j", attempt.external_id, "-o", "%T"])
        assert out.split() == ["CANCELLED"]
    finally:
        await engine.stop()


async def test_max_queued_respected_with_50_jobs(slurm_cluster, tmp_path):
    engine = cluster_engine(slurm_cluster, tmp_path, max_queued=5)
    await engine.start()
    seen: list[int] = []

    async def sample() -> None:
        while True:
            out = await asyncio.to_thread(slurm_cluster.command, ["squeue", "--me", "-h", "-o", "%j"])
            seen.append(sum(1 for name in out.split() if name.startswith("jt-") and name.endswith("_fifty")))
            await asyncio.sleep(0.2)  # the sampling period of this observer, not a wait

    sampler = asyncio.create_task(sample())
    try:
        jobs = await _submit(engine, *[JobSpec(command=["sleep", "0.2"], name="fifty") for _ in range(50)])
        await wait_terminal(engine, [j.id for j in jobs], 120)
        assert all(j.status == JobStatus.COMPLETED for j in jobs), {j.status for j in jobs}
        assert seen and max(seen) <= 5, max(seen)
        assert max(seen) >= 3  # it did keep several queued
        executor = engine.executors["slurm"]
        assert executor.queries["submit"] == 50
        assert executor.queries["list"] <= executor.poller.polls + 1
    finally:
        sampler.cancel()
        await engine.stop()


CRASHING_ENGINE = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from pathlib import Path
    from engine.service.verbs import JobService
    from engine.service.jobspec import JobSpec
    from tests.fixtures.clusters import RealCluster, cluster_engine
    from tests.waiting import wait_for

    async def main():
        state = Path(sys.argv[1])
        cluster = RealCluster("slurm", Path(sys.argv[2]), {"SLURM_CONF": sys.argv[3]})
        engine = cluster_engine(cluster, state)
        executor = engine.executors["slurm"]
        real_launch = executor.launch

        async def launch_then_die(spec):
            await real_launch(spec)
            print("SUBMITTED", spec.attempt.launch_token, spec.attempt.external_id, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)  # before the engine could record the scheduler's id

        executor.launch = launch_then_die
        await engine.start()
        service = JobService(engine)
        (job,) = await service.submit(service.actor("root"), [JobSpec(command=["sh", "-c", "sleep 2; echo done"])])
        # The process ends here, SIGKILLed by its own launch; a job that ends first means the launch failed.
        await wait_for(lambda: job.is_terminal, 30, "the engine to submit the job and be killed")
        sys.exit(f"the job ended ({job.status.value}: {job.message}) without the engine being killed")

    asyncio.run(main())
    """
)


async def test_kill_9_right_after_submit_never_submits_twice(slurm_cluster, tmp_path):
    state = tmp_path / "state"
    conf = slurm_cluster.env["SLURM_CONF"]
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_ENGINE, str(state), str(slurm_cluster.scratch), conf],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -9, done.stderr[-2000:]
    _, token, scheduler_id = done.stdout.split()
    engine = cluster_engine(slurm_cluster, state)
    await engine.start()
    try:
        (job,) = engine.jobs()
        await wait_terminal(engine, [job.id], 30)
        attempts, _ = await engine.history(job.id)
        assert job.status == JobStatus.COMPLETED, job.message
        assert [a.launch_token for a in attempts] == [token]
        assert attempts[0].external_id == scheduler_id  # found again by its tag
        assert slurm_cluster.jobs_named(token) == [scheduler_id]  # exactly one scheduler job
        assert await engine.executors["slurm"].read(attempts[0], "stdout", 0, 100) == b"done\n"
    finally:
        await engine.stop()


async def test_jobs_tracked_across_a_controller_restart(slurm_cluster, tmp_path):
    engine = cluster_engine(slurm_cluster, tmp_path, lost_grace=3.0)
    await engine.start()
    try:
        (job,) = await _submit(engine, JobSpec(command=["sh", "-c", "sleep 6; echo survived"]))
        await wait_for(lambda: (a := engine.current_attempt(job.id)) and a.external_state == "RUNNING", 15, "RUNNING")
        await asyncio.to_thread(slurm_cluster.restart)
        await wait_terminal(engine, [job.id], 40)
        assert job.status == JobStatus.COMPLETED, job.message
        assert engine.executors["slurm"].poller.polls > 0
    finally:
        await engine.stop()


async def test_vanished_job_is_lost_after_grace_never_completed(slurm_cluster, tmp_path):
    node = cluster_node("slurm", lost_grace=1.0)
    executor = cluster_executor(slurm_cluster, node, tmp_path)
    attempt = Attempt(1, 1, "slurm", str(tmp_path / "nowhere"), "feedfacefeedface", external_id="999999")
    try:
        outcome = await asyncio.wait_for(executor.wait(attempt), 20)
    finally:
        await executor.close()
    assert outcome.reason == Reason.LOST and outcome.exit_code is None
    assert "left the queue" in outcome.message


async def test_probe_finds_an_unrecorded_submission_by_its_tag(slurm_cluster, tmp_path):
    node = cluster_node("slurm")
    executor = cluster_executor(slurm_cluster, node, tmp_path)
    job = Job(1, "probe", ["sleep", "3"], "root")
    attempt = Attempt(1, 1, "slurm", executor.run_dir(1, 1), "0123456789abcdef")
    try:
        await executor.launch(LaunchSpec(job, attempt, {}, str(tmp_path)))
        submitted, attempt.external_id = attempt.external_id, None
        fresh = cluster_executor(slurm_cluster, node, tmp_path)
        liveness = await fresh.probe(attempt)
        assert liveness.value == "running" and attempt.external_id == submitted
        never = Attempt(2, 1, "slurm", fresh.run_dir(2, 1), "fedcba9876543210")
        assert (await fresh.probe(never)).value == "lost"  # never submitted: the engine may launch it
        await fresh.close()
    finally:
        await executor.close()


@pytest.mark.sshd
async def test_cluster_reached_through_real_sshd(slurm_cluster, sshd_server, tmp_path):
    from engine.executors.batch.run_files import RemoteFiles
    from engine.remote.pool import SshPool, SshRunner

    pool = SshPool()
    runner = SshRunner(pool.host(sshd_server.node("login")))
    node = cluster_node("slurm", via="login")
    executor = ClusterExecutor(
        node,
        SlurmDialect(("-c",)),
        "~/.jobtui-test/cluster",
        runner,
        RemoteFiles(runner),
        command_env=slurm_cluster.env,
    )
    job = Job(1, "remote", ["sh", "-c", "echo over ssh; whoami; exit 5"], "root")
    attempt = Attempt(1, 1, "slurm", executor.run_dir(1, 1), "5555aaaa5555aaaa")
    try:
        await executor.launch(LaunchSpec(job, attempt, {}, "/tmp"))
        outcome = await asyncio.wait_for(executor.wait(attempt), 30)
        out = await executor.read(attempt, "stdout", 0, 100)
    finally:
        await executor.close()
        await pool.close()
    assert outcome.exit_code == 5 and outcome.reason is None
    assert out == b"over ssh\njobtui-test\n"
    assert slurm_cluster.jobs_named("5555aaaa5555aaaa") == [attempt.external_id]
