"""Every file in sample_configs/ is loaded here: configs validate with the current schema, the demo jobs
are valid submissions that use only sh, python3 and coreutils, and an engine accepts them; the workflows
are checked in test_workflow_schema.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.config import ClusterNode, LocalNode, SshNode, load_config
from engine.service.jobspec import batch_order, parse_specs
from tui.jobfile import read_job_file

SAMPLES = Path(__file__).resolve().parents[2] / "sample_configs"
JOB_FILES = {"demo-jobs.yaml"}
WORKFLOW_FILES = {"workflow-ci.yaml", "workflow-seed.yaml"}  # see test_workflow_schema.py
ALLOWED_PROGRAMS = {"sh", "python3", "sleep", "echo", "true", "false", "seq", "cat", "date", "touch"}


def sample_files() -> list[Path]:
    return sorted(SAMPLES.glob("*.yaml"))


def test_the_expected_samples_exist() -> None:
    assert {p.name for p in sample_files()} >= {"demo.yaml", "demo-jobs.yaml", "cluster.yaml", "ssh-nodes.yaml"}
    assert {p.name for p in sample_files()} >= WORKFLOW_FILES


@pytest.mark.parametrize(
    "path", [p for p in sample_files() if p.name not in JOB_FILES | WORKFLOW_FILES], ids=lambda p: p.name
)
def test_every_sample_config_validates(path: Path) -> None:
    config = load_config(path)
    assert config.nodes
    assert "#" in path.read_text(), "sample configs are commented"


def test_demo_config() -> None:
    config = load_config(SAMPLES / "demo.yaml")
    assert [type(n) for n in config.nodes] == [LocalNode]
    assert config.limits.max_concurrent >= 2
    assert [p.name for p in config.progress_patterns] == ["epochs", "abaqus"]
    assert config.progress_patterns[1].progress_files[0] == "{name}.sta" and config.watch.overrun_factor == 2.0
    text = (SAMPLES / "demo.yaml").read_text()
    assert "# users:" in text and "role: lead" in text and "team:" in text  # users/roles/teams, commented


def test_ssh_and_cluster_samples_show_each_kind() -> None:
    ssh = load_config(SAMPLES / "ssh-nodes.yaml")
    assert sum(isinstance(n, SshNode) for n in ssh.nodes) >= 2
    cluster = load_config(SAMPLES / "cluster.yaml")
    kinds = {n.kind for n in cluster.nodes if isinstance(n, ClusterNode)}
    assert kinds == {"slurm", "sge", "pbs"}
    assert any(getattr(n, "via", None) for n in cluster.nodes)


@pytest.mark.parametrize("name", sorted(JOB_FILES))
def test_job_files_are_valid_submissions(name: str) -> None:
    specs = parse_specs(read_job_file(str(SAMPLES / name)), name)
    batch_order(specs)  # no cycle, every `after` key exists
    for spec in specs:
        assert spec.command[0] in ALLOWED_PROGRAMS, spec.command[0]
        assert shutil.which(spec.command[0]), spec.command[0]


def test_demo_jobs_show_every_feature() -> None:
    specs = parse_specs(read_job_file(str(SAMPLES / "demo-jobs.yaml")))
    text = (SAMPLES / "demo-jobs.yaml").read_text()
    assert 12 <= len(specs) <= 16
    for progress_line in ("Step {i} of 20", "Increment $i of 30", "\\\\r{p:3d}%|", "epoch {e}/8"):
        assert progress_line in text
    assert any(s.retries for s in specs) and any(s.requires_approval for s in specs)
    assert any(s.timeout for s in specs) and any(s.command == ["sleep", "30"] for s in specs)
    keys = {s.key for s in specs if s.key}
    chained = [s for s in specs if any(a in keys for a in s.after)]
    assert len(chained) >= 2


async def test_an_engine_with_the_demo_config_accepts_the_demo_jobs(engine_factory, tmp_path: Path) -> None:
    rig = await engine_factory(load_config(SAMPLES / "demo.yaml"))
    jobs = await rig.submit(*read_job_file(str(SAMPLES / "demo-jobs.yaml")))
    try:
        assert len(jobs) == len(read_job_file(str(SAMPLES / "demo-jobs.yaml")))
        assert sum(j.status.value == "blocked" for j in jobs) == 1
        by_name = {j.name: j for j in jobs}
        assert by_name["post"].after == [by_name["solve"].id] and by_name["solve"].after == [by_name["mesh"].id]
    finally:
        for job in jobs:
            if not job.is_terminal:
                await rig.service.cancel(rig.actor(), job.id)


@pytest.mark.parametrize("name", sorted(WORKFLOW_FILES))
async def test_an_engine_accepts_the_sample_workflows(engine_factory, name: str) -> None:
    rig = await engine_factory(load_config(SAMPLES / "demo.yaml"))
    specs = read_job_file(str(SAMPLES / name))
    jobs = await rig.submit(*specs)
    try:
        assert len(jobs) == len(specs) and all(j.workdir == str(SAMPLES) for j in jobs)
        by_name = {j.name: j for j in jobs}
        if name == "workflow-seed.yaml":
            assert by_name["Run Tests"].after == [by_name["Build Application"].id]
            assert by_name["Deploy Application"].after == [by_name["Run Tests"].id]
        else:
            assert by_name["Clean up"].after == [by_name["Package the release"].id, by_name["smoke_tests"].id]
    finally:
        for job in jobs:
            if not job.is_terminal:
                await rig.service.cancel(rig.actor(), job.id)
