"""The Abaqus file parsers (`engine.core.abaqus`) on hand-written samples that follow the documented layouts
(tests/data/abaqus/README.md says how each was built)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.abaqus import AbaqusRun, kind_of
from engine.core.progress import LineSplitter

DATA = Path(__file__).resolve().parents[1] / "data" / "abaqus"


def lines_of(name: str, upto: int | None = None) -> list[bytes]:
    lines = LineSplitter().feed((DATA / name).read_bytes())
    return lines if upto is None else lines[:upto]


def test_file_kinds_by_suffix() -> None:
    assert [kind_of(n) for n in ("beam.sta", "BEAM.STA", "beam.msg", "beam.inp", "beam.dat", "sta")] == [
        "sta", "sta", "msg", "inp", None, None,
    ]  # fmt: skip


def test_standard_sta_mid_run_gives_step_and_total_percent_and_increment() -> None:
    run = AbaqusRun()
    run.inp(lines_of("beam.inp"))
    run.sta(lines_of("beam.sta", upto=11))  # up to `2  4  1 ... 1.58  0.575  0.2250`
    assert run.solver == "standard" and run.steps == 2
    assert (run.step, run.increment, run.attempt, run.cutbacks) == (2, 4, 1, 1)
    assert run.step_time == pytest.approx(0.575) and run.total_time == pytest.approx(1.58)
    assert run.increment_size == pytest.approx(0.225)
    assert run.step_percent == pytest.approx(57.5)
    assert run.total_percent == pytest.approx(78.75)  # (1 + 0.575) / 2 steps of period 1
    assert run.completed is None
    progress = run.progress()
    assert progress is not None and progress.percent == pytest.approx(78.75)
    assert (progress.step, progress.total) == (2, 2)
    assert "inc 4" in progress.text and "step 57.5%" in progress.text and "1 cutback" in progress.text
    assert progress.detail["increment_size"] == pytest.approx(0.225)


def test_a_cut_back_attempt_is_counted_and_the_retry_is_its_attempt_number() -> None:
    run = AbaqusRun()
    run.sta(lines_of("beam.sta", upto=9))  # the `2  2  2` retry after `2  2  1U`
    assert (run.step, run.increment, run.attempt, run.cutbacks) == (2, 2, 2, 1)
    assert run.increment_size == pytest.approx(0.1)


def test_without_the_input_deck_the_step_share_is_the_percent() -> None:
    run = AbaqusRun()
    run.sta(lines_of("beam.sta", upto=10))
    assert run.total_percent is None and run.steps is None
    progress = run.progress()
    assert progress is not None and progress.percent == pytest.approx(35.0) and progress.total is None


def test_completed_successfully_is_the_verdict_and_100_percent() -> None:
    run = AbaqusRun()
    run.sta(lines_of("beam.sta"))
    assert run.completed is True
    progress = run.progress()
    assert progress is not None and progress.percent == 100.0 and "completed" in progress.text


def test_not_completed_is_a_failed_verdict_with_the_msg_errors() -> None:
    run = AbaqusRun()
    run.sta(lines_of("diverged.sta"))
    run.msg(lines_of("diverged.msg"))
    assert run.completed is False
    assert (run.step, run.increment, run.attempt, run.cutbacks) == (1, 3, 5, 5)
    assert run.increment_size == pytest.approx(8.789e-4)
    assert (run.warnings, run.errors) == (1, 2)
    progress = run.progress()
    assert progress is not None and "NOT completed" in progress.text and progress.percent == pytest.approx(25.0)


def test_msg_counts_warnings_and_errors_and_learns_step_periods() -> None:
    run = AbaqusRun()
    assert run.msg(lines_of("beam.msg"))
    assert (run.warnings, run.errors) == (3, 0)  # ***NOTE is neither
    assert run.periods == {1: 1.0, 2: 1.0}


def test_inp_steps_and_periods() -> None:
    run = AbaqusRun()
    run.inp(lines_of("beam.inp"))
    assert run.steps == 2 and run.period(1) == 1.0 and run.period(2) == 1.0
    explicit = AbaqusRun()
    explicit.inp(lines_of("plate.inp"))
    assert explicit.steps == 1 and explicit.period(1) == pytest.approx(0.01)


def test_explicit_sta_with_its_step_period() -> None:
    run = AbaqusRun()
    run.inp(lines_of("plate.inp"))
    run.sta(lines_of("plate.sta"))
    assert run.solver == "explicit" and run.step == 1 and run.increment == 13914
    assert run.step_time == pytest.approx(3.5e-3) and run.increment_size == pytest.approx(2.519e-7)
    assert run.step_percent == pytest.approx(35.0) and run.total_percent == pytest.approx(35.0)


def test_explicit_sta_alone_uses_its_field_frames_before_the_first_increment_line() -> None:
    run = AbaqusRun()
    run.sta(lines_of("plate.sta", upto=15))  # to `ODB Field Frame Number 0 of 20`, after the increment-0 line
    assert run.step_time == 0.0 and run.step_percent == 0.0
    fresh = AbaqusRun()
    fresh.sta([b" STEP 1  ORIGIN 0.0000", b"ODB Field Frame Number      5 of     20 requested intervals at 1.0E-3"])
    assert fresh.step_time == 0.0  # a new step starts at 0
    fresh.step_time = None
    assert fresh.step_percent == pytest.approx(25.0)


def test_lines_that_are_not_data_change_nothing() -> None:
    run = AbaqusRun()
    junk = [b"", b"   ", b" 12 apples", b"1 2 3", b"\xff\xfe", b"   1     2   1U", b"nan nan nan"]
    assert run.sta(junk) is False and run.progress() is None
