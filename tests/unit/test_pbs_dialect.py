"""The PBS dialect's directives and argv, and the site-specific cluster options passed by the factory."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engine.config import ClusterNode, parse_config
from engine.errors import ConfigError
from engine.executors.batch.dialects import make_dialect
from engine.executors.batch.pbs import PbsDialect
from engine.executors.batch.script import ScriptSpec, render_script
from engine.executors.batch.sge import SgeDialect
from engine.executors.batch.slurm import SlurmDialect
from engine.remote.commands import CommandError, CommandResult

DATA = Path(__file__).resolve().parents[1] / "data" / "pbs"


def _spec(tmp_path, **kw) -> ScriptSpec:
    base = dict(
        tag="jt-7-2-0123456789abcdef",
        name="my job/1",
        run_dir=str(tmp_path / "run"),
        workdir=str(tmp_path),
        command=["sh", "-c", "exit 4"],
    )
    return ScriptSpec(**{**base, **kw})


def _result(stdout: str = "", stderr: str = "", code: int = 0) -> CommandResult:
    return CommandResult(("qstat",), code, stdout, stderr)


def test_pbspro_directives(tmp_path):
    spec = _spec(
        tmp_path,
        cpus=4,
        mem_mb=2048,
        gpus=1,
        time_limit=3725,
        partition="short",
        account="proj",
        directives=("-l place=excl",),
    )
    lines = PbsDialect().directives(spec)
    assert lines[:4] == ["-N jt-7-2-0123456789abcdef_my_job_1", "-o /dev/null", "-e /dev/null", "-S /bin/sh"]
    for want in ("-l select=1:ncpus=4:mem=2048mb:ngpus=1", "-l walltime=1:02:05", "-q short", "-A proj"):
        assert want in lines
    assert lines[-1] == "-l place=excl"


def test_pbspro_directives_minimal_and_default_time_limit(tmp_path):
    lines = PbsDialect().directives(_spec(tmp_path, default_time_limit="04:00:00"))
    assert "-l select=1:ncpus=1" in lines and "-l walltime=04:00:00" in lines
    assert not any(line.startswith(("-q", "-A")) for line in lines)


def test_torque_directives(tmp_path):
    lines = PbsDialect("torque").directives(_spec(tmp_path, cpus=8, mem_mb=4096, gpus=2, time_limit=60))
    assert "-l nodes=1:ppn=8:gpus=2" in lines and "-l mem=4096mb" in lines and "-l walltime=0:01:00" in lines


def test_site_gpu_resource(tmp_path):
    assert "-l select=1:ncpus=2:gpu=1" in PbsDialect(gpu_resource="gpu").directives(_spec(tmp_path, cpus=2, gpus=1))
    with pytest.raises(ValueError):
        PbsDialect("slurm")  # type: ignore[arg-type]


def test_the_script_is_a_pbs_script(tmp_path):
    spec = _spec(tmp_path)
    script = render_script(spec, PbsDialect.directive_prefix, PbsDialect().directives(spec))
    assert script.startswith("#!/bin/sh\n#PBS -N jt-7-2-0123456789abcdef_my_job_1\n")
    done = subprocess.run(["/bin/sh", "-c", script], capture_output=True, timeout=10)
    assert done.returncode == 4 and (tmp_path / "run" / "exit").read_text() == "4\n"


@pytest.mark.parametrize(
    ("flavor", "listing", "accounting"),
    [
        ("pbspro", ["qstat", "-f", "-F", "json"], ["qstat", "-x", "-f", "-F", "json", "12.s"]),
        ("torque", ["qstat", "-f", "-1"], ["qstat", "-f", "-1", "12.s"]),
    ],
)
def test_argv(flavor, listing, accounting):
    dialect = PbsDialect(flavor)
    assert dialect.submit_argv() == ["qsub"]
    assert dialect.list_argv("ann") == listing
    assert dialect.accounting_argv("12.s", "jt-1-1-aaaaaaaa") == accounting
    assert dialect.accounting_argv(None, "jt-1-1-aaaaaaaa") == accounting[:-1]  # all it knows, found by tag
    assert dialect.cancel_argv("12.s") == ["qdel", "12.s"]
    assert "-x" not in dialect.list_argv("ann")  # history of every user on every poll: no


def test_parse_list_keeps_the_users_jobs():
    dialect = PbsDialect()
    dialect.list_argv("ann")
    entries = dialect.parse_list(_result((DATA / "qstat_f_json_mixed.json").read_text()))
    assert {e.job_id for e in entries} == {"1234.pbs01", "1235.pbs01", "1237.pbs01", "1238.pbs01"}
    active = {e.job_id: (dialect.is_active(e), dialect.is_running(e)) for e in entries}
    assert active == {
        "1234.pbs01": (True, False),
        "1235.pbs01": (True, True),
        "1237.pbs01": (True, False),
        "1238.pbs01": (True, True),
    }
    with pytest.raises(CommandError):
        dialect.parse_list(_result(stderr=(DATA / "qstat_down.err").read_text(), code=111))


def test_torque_parse_list_and_completed_jobs():
    dialect = PbsDialect("torque")
    dialect.list_argv("ann")
    listed = dialect.parse_list(_result((DATA / "qstat_f1_torque.txt").read_text()))
    entries = {e.job_id.split(".")[0]: e for e in listed}
    assert not dialect.is_active(entries["5680"]) and dialect.is_active(entries["5678"])
    assert "5684" not in entries  # bob's


def test_parse_accounting():
    dialect = PbsDialect()
    records = dialect.parse_accounting(_result((DATA / "qstat_xf_json_finished.json").read_text()))
    assert len(records) == 9
    assert dialect.parse_accounting(_result(stderr=(DATA / "qstat_unknown.err").read_text(), code=153)) == []
    with pytest.raises(CommandError):
        dialect.parse_accounting(_result(stderr=(DATA / "qstat_down.err").read_text(), code=111))
    with pytest.raises(ValueError):
        dialect.parse_accounting(_result("not json"))
    assert dialect.parse_submit((DATA / "qsub.txt").read_text()) == "1234.pbs01"


# -- site-specific options (ClusterNode) passed through the factory ------------------------------------------


def _node(**kw) -> ClusterNode:
    return ClusterNode(**{"name": "c", **kw})


def test_factory_passes_site_options(tmp_path):
    slurm = make_dialect(_node(kind="slurm", sacct_args=["-c"]))
    assert isinstance(slurm, SlurmDialect) and slurm.accounting_argv("5", "t")[:2] == ["sacct", "-c"]
    sge = make_dialect(_node(kind="sge", parallel_env="mpi", gpu_resource="nvgpu"))
    assert isinstance(sge, SgeDialect)
    lines = sge.directives(_spec(tmp_path, cpus=4, gpus=1))
    assert "-pe mpi 4" in lines and "-l nvgpu=1" in lines
    pbs = make_dialect(_node(kind="pbs", pbs_flavor="torque"))
    assert isinstance(pbs, PbsDialect) and pbs.flavor == "torque" and pbs.gpu_resource == "gpus"
    assert make_dialect(_node(kind="pbs", gpu_resource="gpu")).gpu_resource == "gpu"


def test_defaults_are_the_old_behaviour(tmp_path):
    assert make_dialect(_node(kind="slurm")).accounting_argv("5", "t")[:2] == ["sacct", "--parsable2"]
    sge = make_dialect(_node(kind="sge"))
    assert "-pe smp 2" in sge.directives(_spec(tmp_path, cpus=2)) and sge.gpu_resource == "gpu"
    assert make_dialect(_node(kind="pbs")).gpu_resource == "ngpus"


@pytest.mark.parametrize(
    "line",
    [
        "sacct_args: [c]",
        'sacct_args: ["-c\\nrm -rf ~"]',
        "parallel_env: 'smp 4'",
        "gpu_resource: 'gpu=1 -l x'",
        "pbs_flavor: lsf",
    ],
)
def test_site_options_are_validated(line):
    text = f"nodes:\n  - name: c\n    kind: pbs\n    {line}\n"
    with pytest.raises(ConfigError):
        parse_config(text)


def test_pbs_node_config_loads():
    config = parse_config("nodes:\n  - {name: c, kind: pbs, pbs_flavor: torque, partition: batch}\n")
    assert isinstance(make_dialect(config.nodes[0]), PbsDialect)
