"""Progress parsers: N%, Step i of N, Abaqus Increment i of N, tqdm (with \\r redraws), custom patterns."""

from __future__ import annotations

import pytest

from engine.core.progress import LineSplitter, compile_patterns, last_progress, parse_line, with_eta
from engine.models import Progress


@pytest.mark.parametrize(
    "line,percent",
    [(b"done 42%", 42.0), (b"progress: 99.5 %", 99.5), (b"100%", 100.0), (b"  7% complete", 7.0)],
)
def test_percent(line: bytes, percent: float) -> None:
    assert parse_line(line).percent == percent


def test_percent_over_100_is_not_progress() -> None:
    assert parse_line(b"cpu usage 250%") is None


@pytest.mark.parametrize("line", [b"hello world", b"", b"of course", b"Step one of many"])
def test_lines_without_progress(line: bytes) -> None:
    assert parse_line(line) is None


def test_step_i_of_n() -> None:
    p = parse_line(b"[solver] Step 3 of 12 converged")
    assert (p.step, p.total, p.percent, p.text) == (3, 12, 25.0, "Step 3 of 12")


def test_abaqus_increment_i_of_n() -> None:
    p = parse_line(b"  STEP 1  Increment 45 of 60   TIME 0.75")
    assert (p.step, p.total, p.percent) == (45, 60, 75.0)
    assert p.text == "Increment 45 of 60"


def test_tqdm_bar() -> None:
    p = parse_line(" 45%|████▌     | 45/100 [00:01<00:01, 45.0it/s]".encode())
    assert (p.percent, p.step, p.total) == (45.0, 45, 100)


def test_tqdm_redraws_with_carriage_returns_are_split_into_lines() -> None:
    splitter = LineSplitter()
    bar = "\r{:3d}%|{:<10}| {}/200 [00:0{}<00:10, 20.0it/s]"
    chunk = "".join(bar.format(n // 2, "#" * (n // 20), n, n % 10) for n in (20, 40, 80)).encode()
    lines = splitter.feed(chunk)
    assert last_progress(lines) is not None, "the \\r-separated redraws must give progress before any newline"
    assert last_progress(lines).step == 40  # the latest complete redraw; the last one is still being drawn
    lines = splitter.feed(b"\r100%|##########| 200/200 [00:10<00:00, 20.0it/s]\n")
    p = last_progress(lines)
    assert (p.percent, p.step, p.total) == (100.0, 200, 200)


def test_line_splitter_keeps_partial_tails_and_crlf() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"Step 1 of 4\nStep 2") == [b"Step 1 of 4"]
    assert splitter.feed(b" of 4\r\nnext") == [b"Step 2 of 4"]
    assert splitter.feed(b"\n") == [b"next"]


def test_line_splitter_bounds_a_line_with_no_end() -> None:
    splitter = LineSplitter()
    lines = splitter.feed(b"x" * 70_000)
    assert lines == [b"x" * 70_000]
    assert splitter.feed(b"\n") == [b""]


def test_last_progress_takes_the_latest_line() -> None:
    lines = [b"Step 1 of 10", b"noise", b"Step 7 of 10", b"more noise"]
    assert last_progress(lines).step == 7
    assert last_progress([b"nothing", b"at all"]) is None


def test_custom_pattern_with_percent() -> None:
    patterns = compile_patterns([("epoch", r"epoch (?P<step>\d+)/(?P<total>\d+)")])
    p = parse_line(b"train epoch 3/4 loss=0.1", patterns)
    assert (p.step, p.total, p.percent) == (3, 4, 75.0)


def test_custom_pattern_wins_over_builtins_and_needs_its_marker() -> None:
    patterns = compile_patterns([("SCF", r"SCF (?P<percent>\d+(\.\d+)?) done")])
    assert parse_line(b"SCF 12.5 done, 80% of memory", patterns).percent == 12.5
    assert parse_line(b"scf 12.5 done", patterns) is None  # marker missing, no builtin matches


def test_eta_is_extrapolated_from_the_start() -> None:
    p = with_eta(Progress(percent=25.0), started_at=100.0, now=110.0)
    assert p.eta_seconds == pytest.approx(30.0) and p.updated_at == 110.0
    assert with_eta(Progress(percent=100.0), 100.0, 110.0).eta_seconds == 0.0
    assert with_eta(Progress(step=3), 100.0, 110.0).eta_seconds is None
