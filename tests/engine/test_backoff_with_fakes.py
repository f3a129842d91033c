"""Retry back-off and ordering with the shipped fakes: deterministic, no real waiting."""

from engine.config import ClusterNode, Config, Limits
from engine.core.engine import Engine
from engine.executors.base import Outcome
from engine.models import JobStatus
from engine.service.jobspec import JobSpec
from engine.service.verbs import JobService
from engine.testing import FakeClock, FakeExecutor
from tests.waiting import wait_for


async def _until(condition, timeout: float = 5.0) -> None:
    """Let the engine run until `condition()` holds (store commits take real thread hops)."""
    await wait_for(condition, timeout, "the engine to reach the state the test waits for", step=0.005)


async def _one_pass(engine: Engine) -> None:
    """Wake the engine and wait until its scheduling loop has run a whole pass and is idle again.

    The loop clears its wake flag at the top of a pass and plans without yielding until it waits again,
    so seeing the flag cleared from this task means a pass at the current (fake) time has finished.
    """
    engine.wake()
    await wait_for(lambda: engine.is_idle(), 5, "the scheduling loop to run a pass", step=0.005)


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
        await _one_pass(engine)
        # a start shows as `starting` at once; the launch itself follows only after a store commit
        assert job.status == JobStatus.WAITING, "started before its back-off ended"
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
    executor = FakeExecutor("hpc")
    # lee is not the owner: in personal mode lee's jobs go to a cluster (here a fake one), never this machine
    limits = Limits(max_concurrent=1, user_max_concurrent=1)
    config = Config(nodes=[ClusterNode(name="hpc", kind="slurm")], limits=limits, users={"lee": {"role": "lead"}})
    engine = Engine(config, tmp_path, "ana", clock=FakeClock(), executors={"hpc": executor})
    await engine.start()
    try:
        service = JobService(engine)
        lead = service.actor("lee")
        (blocker,) = await service.submit(lead, [JobSpec(command=["true"])])
        await _until(lambda: len(executor.launched) == 1)
        low = await service.submit(lead, [JobSpec(command=["true"], priority=5) for _ in range(2)])
        high = await service.submit(lead, [JobSpec(command=["true"], priority=50) for _ in range(2)])
        for n in range(2, 6):
            await _until(lambda: engine.get(executor.launched[-1]).status == JobStatus.RUNNING)
            executor.finish(executor.launched[-1], Outcome(0))
            await _until(lambda n=n: len(executor.launched) == n)
        assert executor.launched == [blocker.id, high[0].id, high[1].id, low[0].id, low[1].id]
    finally:
        await engine.stop()
