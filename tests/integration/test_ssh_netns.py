"""Two SSH nodes in network namespaces: jobs on both, and a real link cut in the middle of a job."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from engine.models import JobStatus
from engine.service.jobspec import JobSpec
from tests.waiting import wait_for

pytestmark = [pytest.mark.sshd, pytest.mark.netns]

LINES = 150
SCRIPT = f"for i in $(seq 1 {LINES}); do echo line $i; sleep 0.1; done"
EXPECTED = "".join(f"line {i}\n" for i in range(1, LINES + 1)).encode()


async def test_jobs_run_on_two_namespace_nodes(netns_nodes, ssh_engine):
    n1, n2 = (node.sshd.node(f"nn{i}") for i, node in enumerate(netns_nodes, 1))
    engine, service = await ssh_engine(n1, n2)
    specs = [JobSpec(command=["sh", "-c", "hostname -I"], node=name) for name in ("nn1", "nn2", "nn1", "nn2")]
    jobs = await service.submit(service.actor("root"), specs)
    await wait_for(lambda: all(j.is_terminal for j in jobs), 20, "jobs on both nodes to end")
    for job, addr in zip(jobs, [n1.host, n2.host, n1.host, n2.host], strict=True):
        assert job.status == JobStatus.COMPLETED, job.message
        attempt = (await engine.history(job.id))[0][-1]
        out = await engine.executors[attempt.node].read(attempt, "stdout", 0, 4096)
        assert addr.encode() in out  # it ran inside that node's namespace
    assert engine.executors["nn1"].host.connects == 1 and engine.executors["nn2"].host.connects == 1


async def test_link_cut_mid_job_keeps_it_running_and_reattaches(netns_nodes, ssh_engine):
    netns = netns_nodes[0]
    engine, service = await ssh_engine(netns.sshd.node("nn1"))
    (job,) = await service.submit(service.actor("root"), [JobSpec(command=["sh", "-c", SCRIPT])])
    await wait_for(lambda: job.status == JobStatus.RUNNING, 10, "the job to run")
    # mid-job: its output is flowing over the link, and this engine has read some of it
    await wait_for(lambda: (a := engine.current_attempt(job.id)) and a.stdout_offset > 0, 10, "some output to be read")
    netns.cut()
    try:
        await wait_for(lambda: "unreachable since" in job.message, 12, "the node to be reported unreachable")
        assert job.status == JobStatus.RUNNING
        # A duration, not a wait: the link stays down 4 s more while the job keeps running out there.
        await asyncio.sleep(4)
    finally:
        netns.restore()
    await wait_for(lambda: job.is_terminal, 30, "the job to end after the link came back")
    assert job.status == JobStatus.COMPLETED, job.message
    _attempts, events = await engine.history(job.id)
    kinds = [e.kind for e in events]
    assert "unreachable" in kinds and "reachable" in kinds
    attempt = _attempts[-1]
    assert attempt.stdout_offset == len(EXPECTED)
    data = await engine.executors["nn1"].read(attempt, "stdout", 0, 1 << 20)
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(EXPECTED).hexdigest()
    assert engine.executors["nn1"].host.connects == 2  # the first link, then one reconnect
