"""Run-time estimates from history (`engine.core.estimates`), the flags a runner raises (`engine.core.watch`),
and how they read in `jobtui show` and the TUI (`tui.watch_text`)."""

from __future__ import annotations

import pytest

from engine.config import Watch
from engine.core.estimates import RunTimes
from engine.core.waiting import expected_end
from engine.core.watch import Watcher
from engine.models import Attempt, Job, JobStatus
from tui.watch_text import abaqus_text, estimate_text, flags_text


def done(name: str, seconds: float, tags: tuple[str, ...] = (), command: tuple[str, ...] = ("abaqus",)) -> Job:
    job = Job(1, name, list(command), "u", tags=list(tags), status=JobStatus.COMPLETED)
    job.started_at, job.finished_at = 100.0, 100.0 + seconds
    return job


def test_the_name_matches_first_with_median_and_spread() -> None:
    times = RunTimes(min_runs=3)
    for seconds in (10.0, 12.0, 30.0):
        times.add(done("beam", seconds))
    estimate = times.estimate(done("beam", 0))
    assert estimate is not None
    assert (estimate.seconds, estimate.spread, estimate.runs, estimate.basis) == (12.0, 2.0, 3, "name")


def test_an_estimate_is_kept_until_a_twentieth_of_its_runs_are_new() -> None:
    times = RunTimes(min_runs=3)
    for _ in range(100):
        times.add(done("beam", 10.0))
    first = times.estimate(done("beam", 0))
    for _ in range(4):  # 4 new runs of 104: the kept estimate stands (drawing it costs a median of up to 200)
        times.add(done("beam", 50.0))
    assert times.estimate(done("beam", 0)) is first
    times.add(done("beam", 50.0))  # the 5th: drawn again, with every run
    again = times.estimate(done("beam", 0))
    assert again is not first and again is not None and again.runs == 105
    small = RunTimes(min_runs=3)
    for seconds in (10.0, 12.0, 30.0):
        small.add(done("a", seconds))
    assert small.estimate(done("a", 0)).seconds == 12.0  # type: ignore[union-attr]
    small.add(done("a", 40.0))  # while it has under 40 runs, every new run counts at once
    assert small.estimate(done("a", 0)).seconds == 21.0  # type: ignore[union-attr]


def test_a_running_jobs_expected_end_uses_its_estimate_without_a_timeout() -> None:
    job = done("beam", 0)
    attempt = Attempt(1, 1, "local", "/runs/1.1", "token", started_at=1000.0)
    assert expected_end(job, attempt, lambda j: 120.0, now=1010.0) == 1120.0
    assert expected_end(job, attempt, lambda j: None, now=1010.0) is None
    job.timeout = 60.0
    assert expected_end(job, attempt, lambda j: 120.0, now=1010.0) == 1060.0


def test_tags_then_command_when_the_name_has_too_few_runs() -> None:
    times = RunTimes(min_runs=2)
    times.add(done("a", 10.0, tags=("fea", "beam")))
    times.add(done("b", 20.0, tags=("beam", "fea"), command=("other",)))
    times.add(done("c", 30.0))
    by_tags = times.estimate(done("new", 0, tags=("fea", "beam")))
    assert by_tags is not None and by_tags.basis == "tags" and by_tags.key == "beam,fea" and by_tags.seconds == 15.0
    by_command = times.estimate(done("new", 0, tags=("x",)))
    assert by_command is not None and by_command.basis == "command" and by_command.runs == 2
    assert by_command.seconds == 20.0 and by_command.key == "abaqus"
    assert times.estimate(done("new", 0, command=("never",))) is None


def test_only_completed_jobs_count() -> None:
    times = RunTimes(min_runs=1)
    failed = done("beam", 5.0)
    failed.status = JobStatus.FAILED
    times.add(failed)
    assert times.estimate(done("beam", 0)) is None
    assert times.medians_by_name() == {}


def test_overrun_once_past_the_factor() -> None:
    times = RunTimes(min_runs=1)
    times.add(done("beam", 10.0))
    watcher = Watcher(Watch(overrun_factor=2.0), times.estimate(done("beam", 0)), now=0.0)
    assert watcher.check(19.9, running_since=0.0) == []
    (flag,) = watcher.check(20.0, running_since=0.0)
    assert flag.name == "overrun" and flag.data["elapsed"] == 20.0 and flag.data["estimate"]["seconds"] == 10.0
    assert watcher.check(60.0, running_since=0.0) == []  # once per attempt


def test_stalled_after_a_fixed_time_then_resumed() -> None:
    watcher = Watcher(Watch(stall_after=5.0), None, now=0.0)
    assert watcher.check(4.9, 0.0) == []
    (flag,) = watcher.check(5.0, 0.0)
    assert flag.name == "stalled" and flag.data == {"idle_seconds": 5.0, "stall_after": 5.0}
    assert watcher.check(9.0, 0.0) == []  # flagged once
    resumed = watcher.activity(10.0, progressed=True)
    assert resumed is not None and resumed.name == "resumed" and not watcher.stalled


def test_stalled_after_k_times_its_usual_progress_interval() -> None:
    watcher = Watcher(Watch(stall_factor=3.0, stall_min=1.0), None, now=0.0)
    for t in (2.0, 4.0, 6.0, 8.0):  # progress every 2 s
        watcher.activity(t, progressed=True)
    assert watcher.stall_after() == 6.0
    assert watcher.check(13.9, 0.0) == []
    assert [f.name for f in watcher.check(14.0, 0.0)] == ["stalled"]


def test_no_stall_rule_without_a_time_or_a_usual_interval() -> None:
    watcher = Watcher(Watch(), None, now=0.0)
    assert watcher.stall_after() is None and watcher.check(1e6, 0.0) == []


def test_texts_for_show_and_the_tui() -> None:
    assert flags_text({}, 100.0) == ""
    assert flags_text({"overrun": 50.0, "stalled_since": 40.0}, 100.0) == (
        "OVERRUN (past its estimate)  STALLED 1m00s without output or progress"
    )
    text = estimate_text({"seconds": 720.0, "spread": 65.0, "runs": 7, "basis": "name", "key": "beam"})
    assert text == "~12m00s ±1m05s, median of 7 completed runs with the same name (beam)"
    assert estimate_text(None) == ""
    detail = {"source": "abaqus", "solver": "standard", "step": 2, "steps": 3, "increment": 14, "step_percent": 45.0,
              "total_percent": 48.3, "increment_size": 0.05, "cutbacks": 2, "warnings": 1, "errors": 0}  # fmt: skip
    assert abaqus_text({"detail": detail}) == (
        "abaqus/standard, step 2 of 3, increment 14, 45.0% of the step, 48.3% of the total, increment size 0.05, "
        "2 cutback(s), 1 warning(s), 0 error(s) in .msg"
    )
    assert abaqus_text({}) == ""


@pytest.mark.parametrize("factor", [0.0])
def test_an_overrun_factor_of_0_never_flags(factor: float) -> None:
    times = RunTimes(min_runs=1)
    times.add(done("beam", 1.0))
    watcher = Watcher(Watch(overrun_factor=factor), times.estimate(done("beam", 0)), now=0.0)
    assert watcher.check(1e6, 0.0) == []


def test_watch_events_round_trip_the_wire() -> None:
    from engine.events import JobOverrun, JobStalled, ProgressMilestone, decode

    for cls, payload in (
        (JobOverrun, {"name": "beam", "elapsed": 30.0, "factor": 2.0, "estimate": {"seconds": 10.0}}),
        (JobStalled, {"name": "beam", "stalled": True, "idle_seconds": 600.0}),
        (ProgressMilestone, {"name": "beam", "milestone": 50, "percent": 51.2}),
    ):
        event = cls(job_id=7, payload=payload)
        back = decode(3, event.kind, event.data())
        assert isinstance(back, cls) and back.key == 7 and back.payload == payload and back.seq == 3
    assert b"event: job_overrun" in JobOverrun(job_id=7, payload={}).sse()


def test_the_tui_detail_and_show_print_flags_abaqus_figures_and_the_estimate() -> None:
    from engine.models import Progress
    from tui.cli.output import describe_job
    from tui.formatting import detail_text, progress_summary

    job = done("beam", 0).to_dict()
    job["status"] = "running"
    progress = Progress(percent=40.0, text="step 1", overrun=90.0, stalled_since=40.0,
                        detail={"source": "abaqus", "solver": "standard", "step": 1, "increment": 3})  # fmt: skip
    job["progress"] = progress.to_dict()
    estimate = {"seconds": 60.0, "spread": 5.0, "runs": 4, "basis": "tags", "key": "fea"}
    detail = {"job": job, "attempts": [], "events": [], "dependencies": [], "position": None, "estimate": estimate}
    text = detail_text(job, detail, now=100.0)
    assert "OVERRUN (past its estimate)" in text and "STALLED 1m00s" in text
    assert "abaqus/standard, step 1, increment 3" in text
    assert "~1m00s ±5s, median of 4 completed runs with the same tags (fea)" in text
    assert "[b]OVERRUN[/b]" in progress_summary(job["progress"])
    shown = describe_job(detail)
    assert "estimate" in shown and "median of 4 completed runs with the same tags" in shown
    assert "OVERRUN" in shown and "abaqus/standard" in shown


def test_submit_progress_file_flags_reach_the_spec() -> None:
    import argparse

    from engine.service.jobspec import parse_specs
    from tui.cli.job_verbs import _spec_from_args
    from tui.cli.verbs import _submit

    parser = argparse.ArgumentParser()
    _submit(parser)
    args = parser.parse_args(["--name", "beam", "--progress-file", "{name}.sta", "--progress-file", "{name}.msg",
                              "--", "abaqus", "job=beam"])  # fmt: skip
    spec = _spec_from_args(args)
    assert spec["progress_files"] == ["{name}.sta", "{name}.msg"]
    assert parse_specs([spec])[0].progress_files == ["{name}.sta", "{name}.msg"]
    with pytest.raises(Exception, match="leaves the job's working directory"):
        parse_specs([{**spec, "progress_files": ["../x.sta"]}])


def test_a_progress_pattern_needs_a_regex_with_its_marker_or_files() -> None:
    from pydantic import ValidationError as Invalid

    from engine.config import Config

    with pytest.raises(Invalid, match="give both regex and marker"):
        Config(progress_patterns=[{"name": "x", "regex": "a"}])
    with pytest.raises(Invalid, match="give a regex and marker, or progress_files"):
        Config(progress_patterns=[{"name": "x"}])
    config = Config(progress_patterns=[{"name": "abaqus", "progress_files": ["{name}.sta"]}], watch={"stall_after": 60})
    assert config.progress_patterns[0].regex is None and config.watch.stall_after == 60.0
