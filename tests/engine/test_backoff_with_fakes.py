"""Retry back-off and ordering with the shipped fakes: deterministic, no real waiting."""

import asyncio

from engine.config import Config, Limits
from engine.engine import Engine
from engine.executors.base import Outcome
from engine.jobspec import JobSpec
from engine.models import JobStatus
from engine.service import JobService
from engine.testing import FakeClock, FakeExecutor


async def _until(condition, timeout: float = 5.0) -> None:
    """Let the engine run until `condition()` holds (store commits take real thread hops)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def _settle() -> None:
    await asyncio.sleep(0.2)


async def test_failed_attempt_waits_out_its_backoff_then_runs_again(tmp_path):
    clock, executor = FakeClock(), FakeExecutor()
    config = Config(limits=Limits(max_concurrent=4, user_max_concurrent=4))
    engine = Engine(config, tmp_path, "ana", clock=clock, executors={"local": executor})
    await engine.start()
    try:
        service = JobService(engine)
        spec = JobSpec(command=["true"], retries=2, retry_delay=60, backoff_factor=2)
        (job,) = await service.submit(service.actor("ana"), [spec])
        await _until(lambda: executor.launched == [job.id])

        executor.finish(job.id, Outcome(1))
        await _until(lambda: job.status == JobStatus.WAITING)
        assert job.status == JobStatus.WAITING and job.not_before == clock.now() + 60
        assert "retry 2 of 3 in 60 s" in job.message

        clock.advance(59)
        engine.wake()
        await _settle()
        assert executor.launched == [job.id], "started before its back-off ended"

        clock.advance(1)
        engine.wake()
        await _until(lambda: executor.launched == [job.id, job.id])
        assert job.attempts == 2

        await _until(lambda: job.status == JobStatus.RUNNING)
        executor.finish(job.id, Outcome(1))
        await _until(lambda: job.status == JobStatus.WAITING)
        assert job.not_before == clock.now() + 120, "the second delay doubles"
    finally:
        await engine.stop()


async def test_higher_priority_starts_first_and_fifo_within_a_priority(tmp_path):
    executor = FakeExecutor()
    config = Config(limits=Limits(max_concurrent=1, user_max_concurrent=1), users={"lee": {"role": "lead"}})
    engine = Engine(config, tmp_path, "ana", clock=FakeClock(), executors={"local": executor})
    await engine.start()
    try:
        service = JobService(engine)
        lead = service.actor("lee")
        (blocker,) = await service.submit(lead, [JobSpec(command=["true"])])
        await _until(lambda: len(executor.launched) == 1)
        low = await service.submit(lead, [JobSpec(command=["true"], priority=5) for _ in range(2)])
        high = await service.submit(lead, [JobSpec(command=["true"], priority=50) for _ in range(2)])
        for n in range(2, 6):
            await _until(lambda: engine.jobs[executor.launched[-1]].status == JobStatus.RUNNING)
            executor.finish(executor.launched[-1], Outcome(0))
            await _until(lambda n=n: len(executor.launched) == n)
        assert executor.launched == [blocker.id, high[0].id, high[1].id, low[0].id, low[1].id]
    finally:
        await engine.stop()
