"""Progress files and declared inputs and outputs on real remote nodes: a real sshd (the progress file's size
comes with the batched poll of its attempt, its bytes are read only when it grew) and real Slurm and SGE (read
on the shared file system; inputs looked for at launch and outputs after the exit, where the job ran)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.models import JobStatus, Reason
from engine.service.jobspec import JobSpec
from engine.service.verbs import JobService
from tests.fixtures.clusters import cluster_engine, wait_terminal
from tests.waiting import wait_for

DATA = Path(__file__).resolve().parents[1] / "data" / "abaqus"
STA = (DATA / "beam.sta").read_text()
FIRST, REST = "".join(STA.splitlines(keepends=True)[:11]), "".join(STA.splitlines(keepends=True)[11:])
# The job writes the status file up to increment 4 of step 2, waits for `go`, then writes the rest.
SCRIPT = "printf '%s' \"$FIRST\" > beam.sta; while [ ! -e go ]; do sleep 0.05; done; printf '%s' \"$REST\" >> beam.sta"


def _spec(workdir: str | None = None) -> JobSpec:
    return JobSpec(command=["sh", "-c", SCRIPT], name="beam", env={"FIRST": FIRST, "REST": REST}, workdir=workdir,
                   progress_files=["{name}.sta"])  # fmt: skip


@pytest.mark.sshd
async def test_sta_progress_on_an_ssh_node(sshd_server, ssh_engine):
    engine, service = await ssh_engine(sshd_server.node("n1"))
    (job,) = await service.submit(service.actor("root"), [_spec()])  # in its attempt's run dir's work/
    await wait_for(lambda: job.progress.detail.get("increment") == 4, 30, lambda: f"increment 4 ({job.progress})")
    assert job.status == JobStatus.RUNNING and job.progress.detail["step_percent"] == pytest.approx(57.5)
    executor = engine.executors["n1"]
    attempt = await engine.attempt_of(job.id, None)
    work = f"{await executor._abs(attempt.run_dir)}/work"
    await wait_for(lambda: executor._sizes.get(f"{work}/beam.sta") == len(FIRST), 10, "the poll to report its size")
    status, _, err = await executor.host.run(["touch", f"{work}/go"], timeout=30)
    assert status == 0, err
    await wait_for(lambda: job.is_terminal, 30, "the job to end")
    assert job.status == JobStatus.COMPLETED, job.message
    assert job.progress.percent == 100.0 and job.progress.detail["completed"] is True


async def _on_a_cluster(cluster, tmp_path: Path) -> None:
    workdir = tmp_path / "model"
    workdir.mkdir()
    engine = cluster_engine(cluster, tmp_path / "state")
    await engine.start()
    try:
        service = JobService(engine)
        (job,) = await service.submit(service.actor("root"), [_spec(str(workdir))])
        await wait_for(
            lambda: job.progress.detail.get("increment") == 4 or job.is_terminal, 90,
            lambda: f"increment 4 ({job.status} {job.message} {job.progress})",
        )  # fmt: skip
        assert job.status == JobStatus.RUNNING, job.message
        (workdir / "go").touch()
        (mesh := workdir / "mesh.inp").touch()
        missing, lacking = await service.submit(service.actor("root"), [
            JobSpec(command=["touch", "beam.dat"], workdir=str(workdir), outputs=["*.odb", "beam.dat"]),
            JobSpec(command=["true"], workdir=str(workdir), inputs=["mesh.inp"], requires_approval=True),
        ])  # fmt: skip
        mesh.unlink()  # gone by the time it is approved and launched
        await service.approve(service.actor("root"), lacking.id)
        await wait_terminal(engine, [job.id, missing.id, lacking.id], 90)
        assert job.status == JobStatus.COMPLETED and job.progress.percent == 100.0, job.message
        assert missing.status == JobStatus.MISSING and missing.reason == Reason.RESULTS_MISSING
        assert missing.message == f"results missing: no file matched '*.odb'; found 1 file(s) in {workdir}"
        assert lacking.status == JobStatus.FAILED and lacking.reason == Reason.LAUNCH_ERROR
        assert "input 'mesh.inp' does not exist" in lacking.message
    finally:
        await engine.stop()


@pytest.mark.slurm
@pytest.mark.timeout(180)
async def test_on_slurm(slurm_cluster, tmp_path):
    await _on_a_cluster(slurm_cluster, tmp_path)


@pytest.mark.sge
@pytest.mark.timeout(180)
async def test_on_sge(sge_cluster, tmp_path):
    await _on_a_cluster(sge_cluster, tmp_path)
