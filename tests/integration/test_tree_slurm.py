"""Issue 12, item 4, on the real local Slurm: a tree of 4 directories x 2 steps submitted by `jobtui tree init
--node slurm --max-queued 2` to a real `jobtui --serve` whose cluster node is this machine's Slurm (no `via`: the
Slurm jobs see the run directory where it is, so nothing is staged and no `--shared-fs` is needed). While it runs, the
scheduler's own queue (`squeue`) and the engine's states are sampled over and over: never more than 2 of the
tree's jobs are in Slurm at once (and 2 are, at times: the limit is used, not just respected), every job
completes with its marker, and each ran in Slurm exactly once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.clusters import RealCluster
from tests.fixtures.engine import Daemon
from tests.waiting import wait_for_sync

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(120)]
DIRECTORIES, STEPS, MAX_QUEUED = 4, ("1", "2"), 2
IN_SLURM = {"starting", "running"}  # the engine's states of a job submitted to the scheduler and not ended


@pytest.fixture
def daemon(slurm_cluster: RealCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    for name, value in slurm_cluster.env.items():
        monkeypatch.setenv(name, value)  # the daemon's sbatch/squeue/sacct reach the test cluster
    config = tmp_path / "config.yaml"
    config.write_text(
        "nodes:\n"
        "  - {name: slurm, kind: slurm, poll_interval: 0.5, lost_grace: 5, max_queued: 100, sacct_args: [-c],"
        f" work_root: {tmp_path / 'cluster'}}}\n"
        "limits: {max_concurrent: 100, user_max_concurrent: 100}\n"
    )
    daemon = Daemon(tmp_path / "state", config).start()
    yield daemon
    daemon.cleanup()


def make_tree(root: Path, tag: str) -> Path:
    """DIRECTORIES directories (their names hold `tag`, which the scheduler's job names then hold too) of two
    steps each, the second waiting for the first's marker; each step stays in Slurm about a second."""
    for d in range(DIRECTORIES):
        where = root / f"{tag}{d}"
        where.mkdir(parents=True)
        for n, step in enumerate(STEPS):
            (where / f"qsub.{step}").write_text(f"echo {step} >>runs.log\nsleep 1\ntouch qsub.finished.{step}\n")
            (where / f"qsub.dependency.{step}").write_text(f"qsub.finished.{STEPS[n - 1]}\n" if n else "")
    return root


def test_max_queued_keeps_at_most_2_of_the_trees_jobs_in_slurm(
    slurm_cluster: RealCluster, daemon: Daemon, tmp_path: Path
) -> None:
    tag = f"mq{uuid.uuid4().hex[:8]}x"
    src = make_tree(tmp_path / "init", tag)
    out = daemon.cli_json("tree", "init", str(src), "--node", "slurm", "--max-queued", str(MAX_QUEUED), "--name", "mq")
    run, workflow = Path(out["run_dir"]), int(out["workflow"])
    assert "remote_dir" not in json.loads((run / "tree.json").read_text())  # it runs where it is: nothing staged
    assert out["jobs"] == DIRECTORIES * len(STEPS)

    in_squeue: list[int] = []  # the tree's jobs Slurm has, pending or running, at each sample
    in_engine: list[int] = []  # the tree's jobs the engine has submitted and not seen end, at each sample
    jobs: list[dict[str, Any]] = []

    def sample_until_done() -> bool:
        nonlocal jobs
        listed = slurm_cluster.command(["squeue", "-h", "-o", "%j|%T"])
        in_squeue.append(sum(1 for line in listed.splitlines() if tag in line.split("|", 1)[0]))
        response = daemon.get(f"/api/workflows/{workflow}")
        assert response.status_code == 200, response.text
        jobs = response.json()["jobs"]
        in_engine.append(sum(1 for job in jobs if job["status"] in IN_SLURM))
        return all(job["status"] in ("completed", "failed", "cancelled", "skipped") for job in jobs)

    wait_for_sync(sample_until_done, 90, lambda: f"the tree to end (jobs: {jobs})", step=0.1)

    assert len(in_squeue) >= 20, in_squeue  # sampled often enough to see the queue change
    assert max(in_squeue) <= MAX_QUEUED, in_squeue
    assert max(in_engine) <= MAX_QUEUED, in_engine
    assert max(in_squeue) == MAX_QUEUED, in_squeue  # the limit was used: 2 at once at times
    assert {job["name"]: (job["status"], job["attempts"]) for job in jobs} == {
        f"{tag}{d}/qsub.{s}": ("completed", 1) for d in range(DIRECTORIES) for s in STEPS
    }
    for d in range(DIRECTORIES):
        where = run / f"{tag}{d}"
        assert (where / "runs.log").read_text().splitlines() == list(STEPS)
        assert all((where / f"qsub.finished.{s}").exists() for s in STEPS)
    ran = slurm_cluster.jobs_named(tag)  # every scheduler job of the tree, queued or ended
    assert len(ran) == DIRECTORIES * len(STEPS), ran  # each job submitted to Slurm exactly once
