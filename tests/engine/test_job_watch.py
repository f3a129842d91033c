"""Watching running jobs with the real engine: progress from an Abaqus `.sta` file a running local job appends
to, its verdict at the end, run-time estimates from history with the overrun flag, the stalled flag, progress
milestones, and inputs and outputs on a local node (looked for at launch, and after an exit 0)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.config import Watch
from engine.errors import ValidationError
from engine.events import Event, JobOverrun, JobStalled, ProgressMilestone, Subscription
from engine.models import JobStatus, Reason
from engine.service.reads import job_detail
from tests.fixtures.engine import Rig, make_config
from tests.waiting import wait_for

DATA = Path(__file__).resolve().parents[1] / "data" / "abaqus"


def drain(sub: Subscription, into: list[Event]) -> list[Event]:
    while not sub.queue.empty():
        into.append(sub.queue.get_nowait())
    return into


def of_kind(events: list[Event], kind: type[Event], job_id: int) -> list[Any]:
    return [e for e in events if isinstance(e, kind) and e.key == job_id]


def gate(name: str = "go") -> str:
    """Shell words that wait until the test creates `name` in the working directory (the job's own pace)."""
    return f"while [ ! -e {shlex.quote(name)} ]; do sleep 0.02; done"


async def test_a_running_local_job_shows_its_sta_progress(rig: Rig, tmp_path: Path) -> None:
    """A job appends the Standard status file line by line; the engine follows it while it runs."""
    (tmp_path / "beam.inp").write_bytes((DATA / "beam.inp").read_bytes())
    sta = (DATA / "beam.sta").read_text().splitlines(keepends=True)
    (tmp_path / "first").write_text("".join(sta[:11]))  # up to increment 4 of step 2
    (tmp_path / "rest").write_text("".join(sta[11:]))
    script = f"while read -r l; do printf '%s\\n' \"$l\" >> beam.sta; sleep 0.01; done < first; {gate()}; "
    script += "cat rest >> beam.sta"
    sub = rig.engine.subscribe()
    events: list[Event] = []
    job = await rig.submit_one(
        ["sh", "-c", script], name="beam", workdir=str(tmp_path), progress_files=["{name}.sta", "{name}.inp"]
    )
    await wait_for(lambda: job.progress.detail.get("increment") == 4, 10, lambda: f"increment 4 ({job.progress})")
    assert job.status == JobStatus.RUNNING
    detail = job.progress.detail
    assert detail["step"] == 2 and detail["steps"] == 2 and detail["step_percent"] == pytest.approx(57.5)
    assert job.progress.percent == pytest.approx(78.75) and detail["increment_size"] == pytest.approx(0.225)
    assert (job.progress.step, job.progress.total) == (2, 2) and "inc 4" in job.progress.text
    assert job.to_dict()["progress"]["detail"]["total_percent"] == pytest.approx(78.75)  # on the wire too
    (tmp_path / "go").touch()
    await rig.wait_terminal(job.id)
    assert job.status == JobStatus.COMPLETED, job.message
    assert job.progress.percent == 100.0 and job.progress.detail["completed"] is True
    milestones = [e.payload["milestone"] for e in of_kind(drain(sub, events), ProgressMilestone, job.id)]
    assert milestones == [25, 50, 75, 100]


async def test_an_sta_that_says_not_completed_fails_the_job_despite_exit_0(rig: Rig, tmp_path: Path) -> None:
    for name in ("diverged.sta", "diverged.msg"):
        (tmp_path / f"src-{name}").write_bytes((DATA / name).read_bytes())
    job = await rig.submit_one(
        ["sh", "-c", "cp src-diverged.sta diverged.sta; cp src-diverged.msg diverged.msg"],
        name="diverged", workdir=str(tmp_path), progress_files=["{name}.sta", "{name}.msg"],
    )  # fmt: skip
    await rig.wait_terminal(job.id)
    assert job.status == JobStatus.FAILED and job.exit_code == 0
    assert job.reason == Reason.ANALYSIS_NOT_COMPLETED
    assert (
        job.message == "exited 0 but diverged.sta says THE ANALYSIS HAS NOT BEEN COMPLETED; 2 error(s) in the .msg file"
    )


async def test_progress_files_from_a_config_pattern_by_tag(engine_factory: Callable[..., Any], tmp_path: Path) -> None:
    config = make_config(progress_patterns=[{"name": "abaqus", "progress_files": ["{name}.sta"], "tags": ["fea"]}])
    rig = await engine_factory(config)
    (tmp_path / "src.sta").write_bytes((DATA / "beam.sta").read_bytes())
    job = await rig.submit_one(["cp", "src.sta", "beam.sta"], name="beam", workdir=str(tmp_path), tags=["fea"])
    other = await rig.submit_one(["cp", "src.sta", "other.sta"], name="other", workdir=str(tmp_path))
    await rig.wait_terminal(job.id)
    await rig.wait_terminal(other.id)
    assert job.progress.detail.get("completed") is True and job.progress.percent == 100.0
    assert other.progress.detail == {}  # no tag: the pattern does not apply


async def test_a_job_past_twice_its_history_median_is_flagged_overrun(
    engine_factory: Callable[..., Any], tmp_path: Path
) -> None:
    rig = await engine_factory(make_config(watch=Watch(min_history=3, overrun_factor=2.0)))
    for _ in range(3):  # history: three completed runs of `sim`, each about 0.2 s (the scenario's own pace)
        done = await rig.submit_one(["sleep", "0.2"], name="sim")
        await rig.wait_terminal(done.id)
        assert done.status == JobStatus.COMPLETED
    job = await rig.submit_one(["sh", "-c", gate()], name="sim", workdir=str(tmp_path))
    estimate = rig.engine.estimate(job)
    assert estimate is not None and estimate.basis == "name" and estimate.runs == 3
    assert 0.2 <= estimate.seconds < 1.0
    sub = rig.engine.subscribe()
    events: list[Event] = []
    await rig.wait_status(job.id, JobStatus.RUNNING)
    await wait_for(lambda: job.progress.overrun is not None, 10, "the overrun flag")
    assert job.status == JobStatus.RUNNING  # a flag, not a state
    assert job.started_at is not None
    assert job.progress.overrun - job.started_at >= 2 * estimate.seconds
    (overrun,) = of_kind(drain(sub, events), JobOverrun, job.id)
    assert overrun.kind == "job_overrun" and overrun.data()["name"] == "sim"
    assert overrun.payload["estimate"]["basis"] == "name" and overrun.payload["factor"] == 2.0
    # flagged within one poll (0.1 s here) of passing 2x the estimate
    assert overrun.payload["elapsed"] < 2 * estimate.seconds + 0.5
    detail = await job_detail(rig.service, job.id)  # what `show` and the TUI's job detail print
    assert detail["estimate"]["basis"] == "name" and detail["estimate"]["runs"] == 3
    (tmp_path / "go").touch()
    await rig.wait_terminal(job.id)
    _, history = await rig.history(job.id)
    assert [e.kind for e in history].count("overrun") == 1


async def test_a_job_without_output_or_progress_is_flagged_stalled_then_resumed(
    engine_factory: Callable[..., Any], tmp_path: Path
) -> None:
    rig = await engine_factory(make_config(watch=Watch(stall_after=0.4)))
    sub = rig.engine.subscribe()
    events: list[Event] = []
    script = f"echo 10%; {gate()}; echo 60%; {gate('end')}"
    job = await rig.submit_one(["sh", "-c", script], workdir=str(tmp_path))
    await wait_for(lambda: job.progress.stalled_since is not None, 10, "the stalled flag")
    assert job.status == JobStatus.RUNNING and job.progress.percent == 10.0
    (stalled,) = of_kind(drain(sub, events), JobStalled, job.id)
    assert stalled.kind == "job_stalled" and stalled.payload["stalled"] is True
    assert 0.4 <= stalled.payload["idle_seconds"] < 1.0  # flagged within one poll of the stall time
    (tmp_path / "go").touch()
    await wait_for(lambda: job.progress.percent == 60.0, 10, "progress again")
    assert job.progress.stalled_since is None
    (tmp_path / "end").touch()
    await rig.wait_terminal(job.id)
    flags = [e.payload["stalled"] for e in of_kind(drain(sub, events), JobStalled, job.id)]
    assert flags[:2] == [True, False]
    _, history = await rig.history(job.id)
    assert "stalled" in [e.kind for e in history] and "resumed" in [e.kind for e in history]


async def test_missing_outputs_end_a_local_job_missing_with_the_list(rig: Rig, tmp_path: Path) -> None:
    job = await rig.submit_one(["touch", "beam.dat"], workdir=str(tmp_path), outputs=["*.odb", "beam.dat"])
    await rig.wait_terminal(job.id)
    assert job.status == JobStatus.MISSING and job.reason == Reason.RESULTS_MISSING and job.exit_code == 0
    assert job.message == f"results missing: no file matched '*.odb'; found 1 file(s) in {tmp_path}"
    done = await rig.submit_one(["touch", "beam.odb"], workdir=str(tmp_path), outputs=["*.odb", "beam.dat"])
    await rig.wait_terminal(done.id)
    assert done.status == JobStatus.COMPLETED, done.message


async def test_an_output_that_leads_outside_the_working_directory_does_not_count(rig: Rig, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "elsewhere.odb").touch()
    job = await rig.submit_one(["ln", "-s", "../elsewhere.odb", "beam.odb"], workdir=str(work), outputs=["*.odb"])
    await rig.wait_terminal(job.id)
    assert job.status == JobStatus.MISSING
    assert job.message.startswith("results missing: '*.odb' points outside the job's directory")


async def test_inputs_are_checked_at_submission_and_again_at_launch(rig: Rig, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"input 'mesh\.inp' does not exist on this machine"):
        await rig.submit_one(["true"], workdir=str(tmp_path), inputs=["mesh.inp"])
    (tmp_path / "mesh.inp").touch()
    remover, user = await rig.submit(
        {"command": ["rm", "mesh.inp"], "key": "rm", "workdir": str(tmp_path)},
        {"command": ["true"], "after": ["rm"], "workdir": str(tmp_path), "inputs": ["mesh.inp"]},
    )
    await rig.wait_terminal(user.id)
    assert remover.status == JobStatus.COMPLETED
    assert user.status == JobStatus.FAILED and user.reason == Reason.LAUNCH_ERROR
    assert "input 'mesh.inp' does not exist on this machine" in user.message
    assert "fix the job's inputs" in user.message
