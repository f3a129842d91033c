"""Batched launches and polls over the long-lived remote shells: cost per job, fallback, cancel in flight."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from engine.models import JobStatus
from engine.service.jobspec import JobSpec
from tests.waiting import wait_for

pytestmark = pytest.mark.sshd


def _count_calls(host) -> dict[str, int]:
    counts = {"run": 0, "script": 0}
    run, script = host.run, host.script

    async def counted_run(*args, **kwargs):
        counts["run"] += 1
        return await run(*args, **kwargs)

    async def counted_script(*args, **kwargs):
        counts["script"] += 1
        return await script(*args, **kwargs)

    host.run, host.script = counted_run, counted_script
    return counts


@pytest.mark.parametrize("agent", [False, True], ids=["sh-scripts", "node-agent"])
async def test_short_jobs_share_launch_and_poll_scripts_and_need_no_read_commands(sshd_server, ssh_engine, agent):
    engine, service = await ssh_engine(sshd_server.node("n1"))
    engine.executors["n1"].use_agent = agent
    actor = service.actor("root")
    (warm,) = await service.submit(actor, [JobSpec(command=["true"])])  # connect and find $HOME first
    await wait_for(lambda: warm.is_terminal, 15, "the first job to end")
    host = engine.executors["n1"].host
    counts = _count_calls(host)
    specs = [
        JobSpec(command=["sh", "-c", 'echo "out $0"; echo "err $0" >&2; exit $(($0 % 3))', str(i)]) for i in range(30)
    ]
    jobs = await service.submit(actor, specs)
    await wait_for(lambda: all(j.is_terminal for j in jobs), 30, "30 jobs to end")
    for i, job in enumerate(jobs):
        assert job.exit_code == i % 3, (job.status, job.message)
        attempt = await engine.attempt_of(job.id, None)
        assert (attempt.stdout_offset, attempt.stderr_offset) == (len(f"out {i}\n"), len(f"err {i}\n"))
    assert counts["run"] == 0  # no launch, read or poll command of its own per job
    assert counts["script"] < 15
    assert host.connects == 1


async def test_without_a_free_channel_for_a_shell_scripts_run_one_at_a_time(sshd_server, ssh_engine):
    engine, service = await ssh_engine(sshd_server.node("n1", max_channels=1))
    jobs = await service.submit(service.actor("root"), [JobSpec(command=["sh", "-c", "sleep 0.2; echo hi"])] * 4)
    await wait_for(lambda: all(j.is_terminal for j in jobs), 30, "jobs to end")
    assert all(j.status == JobStatus.COMPLETED for j in jobs), [j.message for j in jobs]
    host = engine.executors["n1"].host
    assert not host._shells  # every script ran on its own channel
    data = await engine.executors["n1"].read(await engine.attempt_of(jobs[0].id, None), "stdout", 0, 100)
    assert data == b"hi\n"


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                continue
    return found


async def test_cancel_while_the_launch_script_runs_still_kills_the_job(sshd_server, ssh_engine):
    engine, service = await ssh_engine(sshd_server.node("n1"))
    executor = engine.executors["n1"]
    executor.use_agent = False  # launch scripts on the remote shells, not the node agent (which answers at once)
    executor.linger = 1.0  # the launch script answers only after a second
    marker = f"jt-cancel-{uuid.uuid4().hex[:8]}"
    actor = service.actor("root")
    (job,) = await service.submit(actor, [JobSpec(command=["sh", "-c", "sleep 300; : $0", marker])])
    await wait_for(lambda: bool(_processes_with(marker)), 10, "the remote job to start")
    assert (a := engine.current_attempt(job.id)) is not None and not a.pid  # its launch has not answered yet
    await service.cancel(actor, job.id)
    await wait_for(lambda: job.is_terminal, 15, "the job to be cancelled")
    assert job.status == JobStatus.CANCELLED
    await wait_for(lambda: not _processes_with(marker), 10, "the remote job to be killed")
