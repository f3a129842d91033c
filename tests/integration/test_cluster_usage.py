"""CPU time and peak memory of ended cluster jobs, from the real scheduler's accounting (Slurm, SGE)."""

from __future__ import annotations

import pytest

from engine.models import JobStatus
from engine.service.jobspec import JobSpec
from engine.service.verbs import JobService
from tests.fixtures.clusters import cluster_engine, wait_terminal

pytestmark = pytest.mark.timeout(120)

# about 0.6 s of CPU with 50 MB written into (resident), then a moment for the execd's sampler to see it
BURN = (
    "import time\n"
    "block = bytearray(50 << 20)\n"
    "for i in range(0, len(block), 4096): block[i] = 1\n"
    "start = time.process_time()\n"
    "while time.process_time() - start < 0.6: pass\n"
    "time.sleep(1.5)\n"
)


async def _run_burners(engine, count: int):
    service = JobService(engine)
    jobs = await service.submit(
        service.actor("root"), [JobSpec(command=["python3", "-c", BURN], name=f"burn{i}") for i in range(count)]
    )
    await wait_terminal(engine, [job.id for job in jobs], 60)
    return [(await engine.history(job.id))[0][-1] for job in jobs], jobs


@pytest.mark.sge
async def test_sge_job_usage_comes_from_qacct(sge_cluster, tmp_path):
    engine = cluster_engine(sge_cluster, tmp_path)
    await engine.start()
    try:
        attempts, jobs = await _run_burners(engine, 2)
        executor = engine.executors["sge"]
    finally:
        await engine.stop()
    for job, attempt in zip(jobs, attempts, strict=True):
        assert job.status == JobStatus.COMPLETED, job.message
        assert attempt.cpu_seconds is not None and attempt.cpu_seconds > 0.4, attempt
        assert attempt.peak_memory_bytes is not None and attempt.peak_memory_bytes > 40 << 20, attempt
    assert 1 <= executor.queries["accounting"] <= 2  # never more than one accounting query per ended job


@pytest.mark.slurm
async def test_slurm_job_usage_is_asked_and_unknown_without_slurmdbd(slurm_cluster, tmp_path):
    """The suite's Slurm has no slurmdbd and `jobacct_gather/none`: `sacct -c` (the job completion file) prints
    TotalCPU and MaxRSS empty. The widened query still reads the job, and the usage stays unknown, not 0."""
    engine = cluster_engine(slurm_cluster, tmp_path)
    await engine.start()
    try:
        (attempt,), (job,) = await _run_burners(engine, 1)
        executor = engine.executors["slurm"]
    finally:
        await engine.stop()
    assert job.status == JobStatus.COMPLETED and job.exit_code == 0, job.message
    assert executor.queries["accounting"] == 1  # asked once, with TotalCPU and MaxRSS in the same query
    assert (attempt.cpu_seconds, attempt.peak_memory_bytes) == (None, None)
    line = slurm_cluster.command(["sacct", "-c", "-P", "-n", "-o", "JobID,TotalCPU,MaxRSS", "-j", attempt.external_id])
    assert line.strip() == f"{attempt.external_id}||"  # what the daemon can tell: nothing, so nothing is shown
