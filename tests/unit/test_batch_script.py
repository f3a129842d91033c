"""The batch script: directives per scheduler, and the wrapper run by a real /bin/sh."""

from __future__ import annotations

import subprocess

import pytest

from engine.executors.batch.script import ScriptSpec, hms, minutes, render_script, sh_path
from engine.executors.batch.sge import SgeDialect
from engine.executors.batch.slurm import SlurmDialect
from engine.executors.wrapper import parse_exit_file


def _spec(tmp_path, **kw) -> ScriptSpec:
    base = dict(
        tag="jt-7-2-0123456789abcdef",
        name="my job/1",
        run_dir=str(tmp_path / "run"),
        workdir=str(tmp_path),
        command=["sh", "-c", 'echo "$1" $X; exit 4', "x", "a b;$(rm -rf /)"],
        env={"X": "it's"},
    )
    return ScriptSpec(**{**base, **kw})


def test_slurm_directives(tmp_path):
    spec = _spec(
        tmp_path,
        cpus=4,
        mem_mb=2048,
        gpus=1,
        time_limit=61,
        partition="short",
        account="proj",
        directives=("--qos=high",),
    )
    lines = SlurmDialect().directives(spec)
    assert lines[0] == "--job-name=jt-7-2-0123456789abcdef_my_job_1"
    for want in (
        "--cpus-per-task=4",
        "--mem=2048M",
        "--gres=gpu:1",
        "--time=2",
        "--partition=short",
        "--account=proj",
        "--qos=high",
    ):
        assert want in lines


def test_sge_directives(tmp_path):
    lines = SgeDialect().directives(_spec(tmp_path, cpus=2, mem_mb=1000, time_limit=3.2))
    assert "-N jt-7-2-0123456789abcdef_my_job_1" in lines
    assert "-pe smp 2" in lines and "-l h_vmem=500M" in lines and "-l h_rt=0:00:04" in lines


def test_time_units():
    assert minutes(1) == 1 and minutes(60) == 1 and minutes(61) == 2
    assert hms(3725) == "1:02:05"


def test_directive_cannot_inject_lines(tmp_path):
    with pytest.raises(ValueError):
        render_script(_spec(tmp_path), "#SBATCH", ["--qos=x\nrm -rf ~"])


def test_home_paths_expand_on_the_node():
    assert sh_path("~/.jobtui/x y") == "\"$HOME\"/'.jobtui/x y'"


def test_wrapper_keeps_arguments_as_data(tmp_path):
    spec = _spec(tmp_path)
    script = tmp_path / "job.sh"
    script.write_text(render_script(spec, "#SBATCH", SlurmDialect().directives(spec)))
    done = subprocess.run(["/bin/sh", str(script)], capture_output=True, timeout=10)
    run = tmp_path / "run"
    assert done.returncode == 4
    assert (run / "stdout").read_text() == "a b;$(rm -rf /) it's\n"
    assert parse_exit_file((run / "exit").read_bytes()) == 4
    assert (run / "pid").read_text().strip().isdigit()
