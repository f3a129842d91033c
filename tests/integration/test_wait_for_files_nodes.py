"""`wait_for_files` on real remote nodes, and what it costs there: on a real Slurm and a real SGE the files of every
waiting job ride on the queue listing the cluster executor makes each poll interval anyway (no command of their
own, whatever the number of jobs and files); on a real sshd they are one command per node per interval."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from engine.executors.batch.executor import ClusterExecutor
from engine.executors.file_checks import MISSING_SCRIPT
from engine.models import JobStatus, Reason
from engine.service.jobspec import JobSpec
from engine.service.verbs import JobService
from tests.fixtures.clusters import cluster_engine, wait_terminal
from tests.fixtures.sshd import TEST_USER
from tests.waiting import wait_for

JOBS = 12


def _specs(workdir: str, node: str) -> list[JobSpec]:
    """JOBS jobs, job n waiting for in/n.dat and (for the even ones) in/common too."""
    return [
        JobSpec(command=["sh", "-c", f"cat in/{n}.dat >out.{n}"], workdir=workdir, node=node,
                wait_for_files=[f"in/{n}.dat", *(["in/common"] if n % 2 == 0 else [])])
        for n in range(JOBS)
    ]  # fmt: skip


async def _on_a_cluster(cluster: Any, tmp_path: Path) -> None:
    workdir = tmp_path / "w"
    (workdir / "in").mkdir(parents=True)
    engine = cluster_engine(cluster, tmp_path / "state")
    await engine.start()
    try:
        executor = engine.executors[cluster.kind]
        assert isinstance(executor, ClusterExecutor)
        jobs = await JobService(engine).submit(JobService(engine).actor("root"), _specs(str(workdir), cluster.kind))
        await wait_for(lambda: all(j.reason == Reason.WAITING_FOR_FILES for j in jobs), 30, "every job to wait")
        assert jobs[0].extra["missing_files"] == ["in/0.dat", "in/common"] and jobs[1].extra["missing_files"] == [
            "in/1.dat"
        ]
        polls = executor.poller.polls
        await wait_for(lambda: executor.poller.polls >= polls + 4, 30, "four more listings")
        assert all(j.status == JobStatus.WAITING and j.attempts == 0 for j in jobs)
        for n in range(JOBS):
            (workdir / "in" / f"{n}.dat").write_text(f"{n}\n")
        await asyncio.sleep(0)  # the odd jobs are free now; the even ones still wait for in/common
        try:
            await wait_terminal(engine, [j.id for j in jobs[1::2]], 60)
        except AssertionError as e:
            queue = cluster.command(["qstat", "-f"] if cluster.kind == "sge" else ["squeue"])  # an alarm state?
            raise AssertionError(f"{e}: {[(j.id, j.status, j.message) for j in jobs]}; the queue: {queue}") from None
        assert all(j.status == JobStatus.WAITING for j in jobs[::2])
        assert jobs[0].extra["missing_files"] == ["in/common"]
        (workdir / "in" / "common").write_text("")
        await wait_terminal(engine, [j.id for j in jobs], 60)
        assert all(j.status == JobStatus.COMPLETED for j in jobs), [(j.id, j.status, j.message) for j in jobs]
        assert [(workdir / f"out.{n}").read_text() for n in range(JOBS)] == [f"{n}\n" for n in range(JOBS)]
        # the files cost no command of their own: one listing per poll, whatever the number of jobs and files
        assert executor.queries["list"] == executor.poller.polls, executor.queries
        assert set(executor.queries) <= {"whoami", "list", "submit", "accounting"}, executor.queries
    finally:
        await engine.stop()


@pytest.mark.slurm
@pytest.mark.timeout(180)
async def test_on_slurm_the_files_ride_on_the_queue_listing(slurm_cluster, tmp_path):
    await _on_a_cluster(slurm_cluster, tmp_path)


@pytest.mark.sge
@pytest.mark.timeout(180)
async def test_on_sge_the_files_ride_on_the_queue_listing(sge_cluster, tmp_path):
    await _on_a_cluster(sge_cluster, tmp_path)


@pytest.mark.sshd
@pytest.mark.timeout(120)
async def test_on_an_ssh_node_one_command_per_interval(sshd_server, ssh_engine):
    import pwd

    user = pwd.getpwnam(TEST_USER)
    home = Path(user.pw_dir)
    name = f".jobtui-test/wait-{uuid.uuid4().hex[:8]}"
    (home / name / "in").mkdir(parents=True)
    for made in (home / ".jobtui-test", home / name, home / name / "in"):
        os.chown(made, user.pw_uid, user.pw_gid)  # the node's user writes its outputs there
    engine, service = await ssh_engine(sshd_server.node("n1"))
    executor = engine.executors["n1"]
    checks: list[float] = []
    run = executor.host.run

    async def counted(argv: list[str], **kw: Any) -> Any:  # a spy on the real connection: counts the file checks
        if MISSING_SCRIPT in argv:
            checks.append(time.monotonic())
        return await run(argv, **kw)

    executor.host.run = counted  # type: ignore[method-assign]
    jobs = await service.submit(service.actor("root"), _specs(f"{home}/{name}", "n1"))
    await wait_for(lambda: all(j.reason == Reason.WAITING_FOR_FILES for j in jobs), 30, "every job to wait")
    started = len(checks)
    await wait_for(lambda: len(checks) >= started + 3, 30, "three more checks")
    spans = [b - a for a, b in itertools.pairwise(checks)]
    assert min(spans) >= executor.file_check_interval * 0.9, spans  # one command per interval for all the jobs
    for n in range(JOBS):
        (home / name / "in" / f"{n}.dat").write_text(f"{n}\n")
    (home / name / "in" / "common").write_text("")
    await wait_for(lambda: all(j.is_terminal for j in jobs), 60, "the jobs to end")
    assert all(j.status == JobStatus.COMPLETED for j in jobs), [(j.id, j.status, j.message) for j in jobs]
    assert (home / name / "out.3").read_text() == "3\n"
