"""The node agent on a real sshd: one request per launch and no poll for short jobs, sh scripts without it,
and a job that outlives a killed agent."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from engine.models import JobStatus
from engine.remote.agent import NodeAgent
from engine.service.jobspec import JobSpec
from tests.waiting import wait_for

pytestmark = pytest.mark.sshd


def _count(monkeypatch, host) -> Counter[str]:
    """Requests to node agents by operation, and the host's own commands (`run`) and scripts."""
    counts: Counter[str] = Counter()
    request, run, script = NodeAgent.request, host.run, host.script

    async def counted_request(self, op, *args, **kwargs):
        counts[op] += 1
        return await request(self, op, *args, **kwargs)

    async def counted_run(*args, **kwargs):
        counts["run"] += 1
        return await run(*args, **kwargs)

    async def counted_script(*args, **kwargs):
        counts["script"] += 1
        return await script(*args, **kwargs)

    monkeypatch.setattr(NodeAgent, "request", counted_request)
    host.run, host.script = counted_run, counted_script
    return counts


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    return int(stat[stat.rindex(b")") + 2 :].split()[1])


def _agents_under(sshd_pid: int) -> list[int]:
    """Pids of the node agents started through the sshd whose pid is `sshd_pid` (this test's node)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if b"jobtui-agent" not in Path(f"/proc/{entry}/cmdline").read_bytes():
                continue
            pid = int(entry)
            while pid > 1 and pid != sshd_pid:
                pid = _parent(pid)
        except (OSError, ValueError):
            continue
        if pid == sshd_pid:
            found.append(int(entry))
    return found


async def test_one_job_at_a_time_costs_one_launch_request_and_no_poll(sshd_server, ssh_engine, monkeypatch):
    engine, service = await ssh_engine(sshd_server.node("n1", cores=1))
    actor = service.actor("root")
    (warm,) = await service.submit(actor, [JobSpec(command=["true"])])  # connect, find $HOME, start the agent
    await wait_for(lambda: warm.is_terminal, 15, "the first job to end")
    counts = _count(monkeypatch, engine.executors["n1"].host)
    specs = [JobSpec(command=["sh", "-c", 'echo "out $0"; echo err >&2; exit $(($0 % 3))', str(i)]) for i in range(10)]
    jobs = await service.submit(actor, specs)
    await wait_for(lambda: all(j.is_terminal for j in jobs), 30, "10 jobs to end, one at a time")
    for i, job in enumerate(jobs):
        assert job.exit_code == i % 3, (job.status, job.message)
        attempt = await engine.attempt_of(job.id, None)
        assert (attempt.stdout_offset, attempt.stderr_offset) == (len(f"out {i}\n"), 4)
    assert counts == {"launch": 10}  # each end came as the agent's notice: no poll, read, command or script


async def test_without_python_on_the_node_jobs_run_through_sh_scripts(sshd_server, ssh_engine, monkeypatch):
    engine, service = await ssh_engine(sshd_server.node("n1"))
    executor = engine.executors["n1"]
    executor.agent_command = "exec /bin/sh -c 'echo python3: not found >&2; exit 127'"
    counts = _count(monkeypatch, executor.host)
    jobs = await service.submit(service.actor("root"), [JobSpec(command=["sh", "-c", "echo hi; exit 2"])] * 3)
    await wait_for(lambda: all(j.is_terminal for j in jobs), 30, "jobs to end")
    assert [j.exit_code for j in jobs] == [2, 2, 2], [j.message for j in jobs]
    assert counts["launch"] == counts["poll"] == 0 and counts["script"] >= 1
    assert executor._agent is None and executor._agent_next_try > 0  # tried once, not before each launch


async def test_a_job_outlives_its_killed_agent_and_its_end_is_polled(sshd_server, ssh_engine):
    engine, service = await ssh_engine(sshd_server.node("n1"))
    actor = service.actor("root")
    (job,) = await service.submit(actor, [JobSpec(command=["sh", "-c", "sleep 1; echo late; exit 3"])])
    await wait_for(lambda: job.status == JobStatus.RUNNING, 15, "the job to run")
    agents = await wait_for(lambda: _agents_under(sshd_server.pid), 10, "the node agent")
    for pid in agents:
        os.kill(pid, 9)
    await wait_for(lambda: job.is_terminal, 20, "the job to end without its agent")
    assert job.status == JobStatus.FAILED and job.exit_code == 3, job.message
    attempt = await engine.attempt_of(job.id, None)
    assert attempt.stdout_offset == len("late\n") and job.attempts == 1
