"""GPUs by device on an SSH node over a real sshd: the node's configured devices, the one a job names given to
it as CUDA_VISIBLE_DEVICES on the remote side and recorded on its attempt, `no_wait` while it is held, and the
holder in the engine's device view."""

from __future__ import annotations

import pytest

from engine.models import JobStatus, Reason
from engine.service.jobspec import JobSpec
from tests.waiting import wait_for

pytestmark = pytest.mark.sshd


async def test_a_named_device_reaches_the_remote_job_and_is_held(sshd_server, ssh_engine):
    engine, service = await ssh_engine(sshd_server.node("gpu1", gpus=2))
    actor = service.actor("root")
    [holder] = await service.submit(
        actor, [JobSpec(command=["sh", "-c", 'echo "cuda=$CUDA_VISIBLE_DEVICES"; sleep 30'], gpu_ids=[1])]
    )
    await wait_for(lambda: holder.status == JobStatus.RUNNING, 20, "the GPU job to run")
    attempt = engine.current_attempt(holder.id)
    assert attempt is not None and attempt.gpus == [1]
    executor = engine.executors["gpu1"]
    output = await wait_for(lambda: executor.read(attempt, "stdout", 0, 1024), 20, "the job's first line")
    assert output == b"cuda=1\n"
    [node] = [n for n in service.nodes() if n["name"] == "gpu1"]
    assert [(d["index"], d["job_id"], d["user"]) for d in node["gpus"]] == [(0, None, None), (1, holder.id, "root")]
    [refused] = await service.submit(actor, [JobSpec(command=["true"], gpu_ids=[1], no_wait=True)])
    assert refused.status == JobStatus.REJECTED and refused.reason == Reason.GPUS_BUSY
    await service.cancel(actor, holder.id)
    await wait_for(lambda: holder.is_terminal, 20, "the GPU job to be cancelled")
