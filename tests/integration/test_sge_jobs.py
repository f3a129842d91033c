"""Jobs on a real single-node Grid Engine, through the production executor and the engine."""

from __future__ import annotations

import asyncio

import pytest

from engine.executors.base import LaunchSpec
from engine.models import Attempt, Job, JobStatus, Reason, Resources
from engine.service.jobspec import JobSpec
from engine.service.verbs import JobService
from tests.fixtures.clusters import cluster_engine, cluster_executor, cluster_node, wait_terminal
from tests.waiting import wait_for

pytestmark = [pytest.mark.sge, pytest.mark.timeout(120)]


async def _submit(engine, *specs: JobSpec):
    service = JobService(engine)
    return await service.submit(service.actor("root"), list(specs))


async def test_submit_follow_output_and_exit_codes(sge_cluster, tmp_path):
    engine = cluster_engine(sge_cluster, tmp_path)
    await engine.start()
    try:
        ok, bad = await _submit(
            engine,
            JobSpec(command=["sh", "-c", "echo hello from sge; echo to stderr >&2"], name="ok"),
            JobSpec(command=["sh", "-c", "exit 3"], name="bad"),
        )
        await wait_terminal(engine, [ok.id, bad.id], 40)
        attempt = (await engine.history(ok.id))[0][-1]
        executor = engine.executors["sge"]
        assert ok.status == JobStatus.COMPLETED and ok.exit_code == 0, ok.message
        assert await executor.read(attempt, "stdout", 0, 100) == b"hello from sge\n"
        assert await executor.read(attempt, "stderr", 3, 100) == b"stderr\n"
        assert sge_cluster.jobs_named(attempt.launch_token) == [attempt.external_id]
        assert bad.status == JobStatus.FAILED and bad.exit_code == 3 and bad.reason == Reason.EXIT_CODE
    finally:
        await engine.stop()


async def test_job_killed_by_its_h_rt_limit_is_a_timeout(sge_cluster, tmp_path):
    executor = cluster_executor(sge_cluster, cluster_node("sge"), tmp_path)
    job = Job(1, "slow", ["sleep", "60"], "root", timeout=2)
    attempt = Attempt(1, 1, "sge", executor.run_dir(1, 1), "aaaabbbbccccdddd")
    try:
        await executor.launch(LaunchSpec(job, attempt, {}, str(tmp_path)))
        outcome = await asyncio.wait_for(executor.wait(attempt), 40)
    finally:
        await executor.close()
    assert outcome.reason == Reason.TIMEOUT, outcome
    assert attempt.external_state == "TIMEOUT"


async def test_cancel_running_job(sge_cluster, tmp_path):
    engine = cluster_engine(sge_cluster, tmp_path)
    await engine.start()
    try:
        (job,) = await _submit(engine, JobSpec(command=["sleep", "60"]))
        await wait_for(lambda: (a := engine.current_attempt(job.id)) and a.external_state == "r", 20, "running")
        service = JobService(engine)
        await service.cancel(service.actor("root"), job.id)
        await wait_terminal(engine, [job.id], 30)
        assert job.status == JobStatus.CANCELLED
        attempt = (await engine.history(job.id))[0][-1]
        assert sge_cluster.jobs_named(attempt.launch_token) == [attempt.external_id]
    finally:
        await engine.stop()


async def test_max_queued_respected_with_50_jobs(sge_cluster, tmp_path):
    engine = cluster_engine(sge_cluster, tmp_path, max_queued=10)
    await engine.start()
    seen: list[int] = []

    async def sample() -> None:
        while True:
            out = await asyncio.to_thread(sge_cluster.command, ["qstat", "-u", "root", "-r"])
            seen.append(sum(1 for line in out.splitlines() if "Full jobname:" in line and line.endswith("_fifty")))
            await asyncio.sleep(0.3)  # the sampling period of this observer, not a wait

    sampler = asyncio.create_task(sample())
    try:
        jobs = await _submit(engine, *[JobSpec(command=["true"], name="fifty") for _ in range(50)])
        await wait_terminal(engine, [j.id for j in jobs], 100)
        assert all(j.status == JobStatus.COMPLETED for j in jobs), {j.status for j in jobs}
        assert seen and 3 <= max(seen) <= 10, seen
        executor = engine.executors["sge"]
        assert executor.queries["submit"] == 50
        assert executor.queries["list"] == executor.poller.polls
    finally:
        sampler.cancel()
        await engine.stop()


async def test_jobs_tracked_across_a_qmaster_restart(sge_cluster, tmp_path):
    engine = cluster_engine(sge_cluster, tmp_path, lost_grace=5.0)
    await engine.start()
    try:
        (job,) = await _submit(engine, JobSpec(command=["sh", "-c", "sleep 15; echo survived"]))
        await wait_for(lambda: (a := engine.current_attempt(job.id)) and a.external_state == "r", 20, "running")
        await asyncio.to_thread(sge_cluster.restart)
        await wait_terminal(engine, [job.id], 40)
        assert job.status == JobStatus.COMPLETED, job.message
        attempt = (await engine.history(job.id))[0][-1]
        assert await engine.executors["sge"].read(attempt, "stdout", 0, 100) == b"survived\n"
    finally:
        await engine.stop()


async def test_probe_finds_an_unrecorded_submission_by_its_tag(sge_cluster, tmp_path):
    node = cluster_node("sge")
    executor = cluster_executor(sge_cluster, node, tmp_path)
    job = Job(1, "probe", ["sleep", "5"], "root", resources=Resources(cpus=1))
    attempt = Attempt(1, 1, "sge", executor.run_dir(1, 1), "0123456789abcdef")
    try:
        await executor.launch(LaunchSpec(job, attempt, {}, str(tmp_path)))
        submitted, attempt.external_id = attempt.external_id, None
        fresh = cluster_executor(sge_cluster, node, tmp_path)
        assert (await fresh.probe(attempt)).value == "running" and attempt.external_id == submitted
        outcome = await asyncio.wait_for(fresh.wait(attempt), 30)
        assert outcome.exit_code == 0 and outcome.reason is None
        assert sge_cluster.jobs_named("0123456789abcdef") == [submitted]
        await fresh.close()
    finally:
        await executor.close()
