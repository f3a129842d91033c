"""Staging inputs to a real sshd and collecting outputs back, including the `missing` case and hostile names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.models import JobStatus, Reason
from engine.remote.pool import SshHost
from engine.remote.transfer import Stager
from engine.service.jobspec import JobSpec
from tests.waiting import wait_for

pytestmark = pytest.mark.sshd


def _inputs(tmp_path: Path, marker: str) -> list[str]:
    (tmp_path / "data.txt").write_text("data\n")
    (tmp_path / "cfg" / "sub").mkdir(parents=True)
    (tmp_path / "cfg" / "sub" / "a.ini").write_text("[a]\n")
    hostile = tmp_path / f"; touch {marker}a $(touch {marker}b) `touch {marker}c`"
    hostile.write_text("hostile\n")
    return [str(tmp_path / "data.txt"), str(tmp_path / "cfg"), str(hostile)]


async def _run(service, spec: JobSpec, timeout: float = 20):
    (job,) = await service.submit(service.actor("root"), [spec])
    await wait_for(lambda: job.is_terminal, timeout, f"job {job.id} to end")
    return job


async def test_inputs_staged_and_outputs_collected(sshd_server, ssh_engine, tmp_path):
    marker = "jt-pwned-"  # the job's listing shows whether a hostile name ran in its directory
    (tmp_path / "in").mkdir()
    inputs = _inputs(tmp_path / "in", marker)
    engine, service = await ssh_engine(sshd_server.node("n1"))
    script = 'mkdir -p out/deep; cat data.txt cfg/sub/a.ini > out/result.txt; cp "$1" out/deep/copied.txt; ls >list.txt'
    hostile_name = Path(inputs[2]).name
    outputs = ["out/*.txt", "out/deep", "list.txt"]
    spec = JobSpec(command=["sh", "-c", script, "sh", hostile_name], inputs=inputs, outputs=outputs)
    job = await _run(service, spec)
    assert job.status == JobStatus.COMPLETED, job.message
    results = engine.state_dir / "results" / str(job.id)
    assert (results / "out" / "result.txt").read_text() == "data\n[a]\n"
    assert (results / "out" / "deep" / "copied.txt").read_text() == "hostile\n"
    listing = (results / "list.txt").read_text().splitlines()
    assert sorted(listing) == sorted(["cfg", "data.txt", "list.txt", "out", hostile_name])
    assert not any(Path("/home/jobtui-test", marker + s).exists() for s in "abc")


async def test_missing_results_make_the_job_missing_and_keep_what_arrived(sshd_server, ssh_engine):
    engine, service = await ssh_engine(sshd_server.node("n1"))
    script = "echo ok > result.txt; ln -s /etc/hostname leak.txt"
    job = await _run(service, JobSpec(command=["sh", "-c", script], outputs=["result.txt", "*.txt", "nope/*.dat"]))
    assert job.status == JobStatus.MISSING and job.reason == Reason.RESULTS_MISSING
    assert "nope/*.dat" in job.message and "leak.txt" in job.message
    results = engine.state_dir / "results" / str(job.id)
    assert (results / "result.txt").read_text() == "ok\n"
    assert not (results / "leak.txt").exists()


async def test_output_pattern_leaving_the_work_dir_is_refused(sshd_server, ssh_engine):
    _engine, service = await ssh_engine(sshd_server.node("n1"))
    job = await _run(service, JobSpec(command=["true"], outputs=["../../../etc/passwd"]))
    assert job.status == JobStatus.FAILED and job.reason == Reason.LAUNCH_ERROR
    assert "leaves the job's directory" in job.message


async def test_only_changed_files_move(sshd_server, tmp_path):
    host = SshHost(sshd_server.node("n1"))
    stager = Stager(host)
    (tmp_path / "in").mkdir()
    files = [str(tmp_path / "in" / n) for n in ("a.bin", "b.bin")]
    for i, f in enumerate(files):
        Path(f).write_bytes(os.urandom(1000 + i))
    remote = f"/home/jobtui-test/.jobtui-test/stage-{os.getpid()}"
    try:
        assert await stager.stage_in(files, remote) == 2
        assert await stager.stage_in(files, remote) == 0
        Path(files[1]).write_bytes(os.urandom(3000))
        assert await stager.stage_in(files, remote) == 1
        local = tmp_path / "back"
        first = await stager.collect(remote, ["*.bin"], local)
        again = await stager.collect(remote, ["*.bin"], local)
    finally:
        await host.close()
    assert sorted(first.fetched) == ["a.bin", "b.bin"] and not first.missing
    assert again.fetched == [] and sorted(again.unchanged) == ["a.bin", "b.bin"]
    assert (local / "b.bin").read_bytes() == Path(files[1]).read_bytes()
