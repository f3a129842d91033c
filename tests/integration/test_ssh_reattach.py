"""Jobs outlive jobtui: an engine killed with SIGKILL mid-job, and a new engine that re-attaches."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys

import pytest

from engine.models import JobStatus
from tests.waiting import wait_for

pytestmark = pytest.mark.sshd

CHILD = r"""
import asyncio, sys
from pathlib import Path
from engine.config import Config, Limits, SshNode
from engine.core.engine import Engine
from engine.service.jobspec import JobSpec
from engine.service.verbs import JobService
from tests.waiting import wait_for

async def main():
    node = SshNode.model_validate_json(sys.argv[1])
    config = Config(nodes=[node], limits=Limits(max_concurrent=8, user_max_concurrent=8))
    engine = Engine(config, Path(sys.argv[2]), "root", poll_interval=0.1)
    await engine.start()
    service = JobService(engine)
    (job,) = await service.submit(service.actor("root"), [JobSpec(command=sys.argv[3:])])
    await wait_for(lambda: job.status.value == "running", 15, "the job to run")
    # mid-job: its output is flowing, and this engine has read some of it
    await wait_for(lambda: (a := engine.current_attempt(job.id)) and a.stdout_offset > 0, 10, "some output to be read")
    await engine.flush()
    print("RUNNING", job.id, flush=True)
    await asyncio.sleep(3600)  # not a wait: the engine runs on until the test kills it

asyncio.run(main())
"""
LINES = 40
SCRIPT = f"for i in $(seq 1 {LINES}); do echo line $i; sleep 0.05; done"
EXPECTED = "".join(f"line {i}\n" for i in range(1, LINES + 1)).encode()


async def _start_and_kill(node, state_dir, after: float) -> int:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        node.model_dump_json(),
        str(state_dir),
        "sh",
        "-c",
        SCRIPT,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        line = await asyncio.wait_for(child.stdout.readline(), 20)
        assert line.startswith(b"RUNNING"), line
        await asyncio.sleep(after)  # a duration, not a wait: how long the engine runs before its kill -9
    finally:
        child.send_signal(signal.SIGKILL)  # no cleanup at all: the engine dies like kill -9
        await child.wait()
    return int(line.split()[1])


@pytest.mark.parametrize("down_for", [0.0, 3.0], ids=["job-still-running", "job-ended-while-down"])
async def test_killed_engine_reattaches_on_restart(sshd_server, ssh_engine, tmp_path, down_for):
    node = sshd_server.node("n1")
    state_dir = tmp_path / "state"
    job_id = await _start_and_kill(node, state_dir, 0.2)
    # A duration, not a wait: no engine runs meanwhile; the job (about 2 s) ends while it is down in the second case.
    await asyncio.sleep(down_for)
    engine, _service = await ssh_engine(node, state_dir=state_dir)
    job = engine.get(job_id)
    await wait_for(lambda: job.is_terminal, 20, "the re-attached job to end")
    assert job.status == JobStatus.COMPLETED, job.message
    assert job.attempts == 1  # re-attached, never launched twice
    attempt = (await engine.history(job_id))[0][-1]
    assert attempt.stdout_offset == len(EXPECTED)
    data = await engine.executors["n1"].read(attempt, "stdout", 0, 1 << 20)
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(EXPECTED).hexdigest()
