"""`success_file` on real remote nodes: a real sshd (the wrapper tests for the file and says so on its exit line,
read by the poll that reads the exit code) and real Slurm and SGE (the batch script does the same in the run
directory's exit file, read once the job left the queue): no round trip more per job."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.models import JobStatus, Reason
from engine.service.jobspec import JobSpec
from engine.service.verbs import JobService
from tests.fixtures.clusters import cluster_engine, wait_terminal
from tests.waiting import wait_for


def _specs(workdir: str | None) -> list[JobSpec]:
    """with the marker (in a subdirectory), without it (and a dependent), exit 1 with it, and a job that sets the
    variable itself but asks for no file."""
    return [
        JobSpec(command=["sh", "-c", 'mkdir -p out && touch "out/qsub.finished.1"'], key="ok", name="lda",
                workdir=workdir, success_file="out/qsub.finished.1"),
        JobSpec(command=["sh", "-c", "echo no marker"], key="gw1", name="gw1", workdir=workdir,
                success_file="qsub.finished.2"),
        JobSpec(command=["true"], after=["gw1"], name="gw2", workdir=workdir),
        JobSpec(command=["sh", "-c", "touch qsub.finished.4; exit 1"], workdir=workdir, success_file="qsub.finished.4"),
        JobSpec(command=["true"], env={"JOBTUI_SUCCESS_FILE": "nothing"}, workdir=workdir),
    ]  # fmt: skip


def _check(jobs: list, where: str) -> None:
    ok, gw1, gw2, bad, plain = jobs
    assert ok.status == JobStatus.COMPLETED and ok.reason is None, ok.message
    assert gw1.status == JobStatus.FAILED and gw1.reason == Reason.NO_FINISHED_MARKER and gw1.exit_code == 0
    assert gw1.message == f"exited 0 but qsub.finished.2 was not written in {where}", gw1.message
    assert gw2.status == JobStatus.SKIPPED and gw2.reason == Reason.DEPENDENCY_FAILED and gw2.attempts == 0
    assert bad.status == JobStatus.FAILED and bad.reason == Reason.EXIT_CODE and bad.exit_code == 1
    assert plain.status == JobStatus.COMPLETED, plain.message


@pytest.mark.sshd
async def test_on_an_ssh_node(sshd_server, ssh_engine):
    engine, service = await ssh_engine(sshd_server.node("n1"))
    jobs = await service.submit(service.actor("root"), _specs(None))  # each in its attempt's run dir's work/
    await wait_for(lambda: all(j.is_terminal for j in jobs), 30, "the jobs to end")
    attempt = await engine.attempt_of(jobs[1].id, None)
    run_dir = await engine.executors["n1"]._abs(attempt.run_dir)
    _check(jobs, f"{run_dir}/work")


async def _on_a_cluster(cluster, tmp_path: Path) -> None:
    workdir = tmp_path / "tree" / "Si"
    workdir.mkdir(parents=True)
    engine = cluster_engine(cluster, tmp_path / "state")
    await engine.start()
    try:
        service = JobService(engine)
        jobs = await service.submit(service.actor("root"), _specs(str(workdir)))
        await wait_terminal(engine, [j.id for j in jobs], 60)
        _check(jobs, str(workdir))
        assert (workdir / "out" / "qsub.finished.1").exists() and not (workdir / "qsub.finished.2").exists()
    finally:
        await engine.stop()


@pytest.mark.slurm
@pytest.mark.timeout(120)
async def test_on_slurm(slurm_cluster, tmp_path):
    await _on_a_cluster(slurm_cluster, tmp_path)


@pytest.mark.sge
@pytest.mark.timeout(120)
async def test_on_sge(sge_cluster, tmp_path):
    await _on_a_cluster(sge_cluster, tmp_path)


async def test_shared_mode_looks_with_the_submitters_rights(test_accounts, engine_factory, tmp_path):
    """A job run as its submitter has its file looked for as them (`setpriv ... test -e`), not as the root daemon:
    a link to a file only root can reach does not count, so it cannot tell them that the file exists."""
    from engine.models import JobStatus as S
    from tests.fixtures.engine import make_config

    alice = test_accounts["alice"]
    secret = tmp_path / "root-only"  # pytest's tmp dirs are root's alone (0700)
    secret.write_text("x")
    rig = await engine_factory(config=make_config(mode="shared"))
    home = str(alice.home)
    ok, linked = await rig.submit(
        {"command": ["sh", "-c", "touch done.a"], "workdir": home, "success_file": "done.a"},
        {"command": ["ln", "-sf", str(secret), "done.b"], "workdir": home, "success_file": "done.b"},
        user=alice.name,
    )
    await rig.wait_terminal(ok.id, 20)
    await rig.wait_terminal(linked.id, 20)
    assert ok.status == S.COMPLETED, ok.message
    assert (alice.home / "done.a").stat().st_uid == alice.uid  # it ran as alice
    assert linked.status == S.FAILED and linked.reason == Reason.NO_FINISHED_MARKER, linked.message
    assert (alice.home / "done.b").is_symlink() and secret.exists()  # root would have seen it
