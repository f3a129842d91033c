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


# What a job might print: every parser's lines, prose with `of` and `step` but no progress, tqdm redraws with `\r`,
# CRLF endings, a percent over 100 (not progress), a line with no end; cut into chunks at random.
STREAM_LINES = [
    b"2026-03-14 INFO assembling block 12 of the mesh\n", b"Step 3 of 40\n", b"stepping through 5 of them\n",
    b" 45%|#####     | 45/100 [00:01<00:01]\r", b" 46%|#####     | 46/100 [00:01<00:01]\r", b"epoch 2/10 loss=0.3\n",
    b"loaded 250% more than before\r\n", b"INCREMENT 7 OF 9\n", b"plain\n", b"\n", b"\r", b"done 99.5 %\n",
    b"Increment 9 of 0\n", b"x" * 300 + b" 12% " + b"y" * 300 + b"\n",
]  # fmt: skip


@pytest.mark.parametrize("window", [3, 17, 1 << 16])
def test_last_progress_of_a_stream_finds_what_splitting_every_line_finds(
    window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`LastProgress` (the runner's stream parser, which looks only at lines holding a marker, window by window
    from the end of each chunk) answers exactly as splitting every line and scanning them from the end."""
    import random

    from engine.core import progress

    monkeypatch.setattr(progress, "WINDOW", window)
    monkeypatch.setattr(progress, "DENSE", 4)  # reach the fallback (split the rest) too
    patterns = compile_patterns([("epoch", r"epoch (?P<step>\d+)/(?P<total>\d+)")])
    rng = random.Random(7)
    for _ in range(300):
        data = b"".join(rng.choice(STREAM_LINES) for _ in range(rng.randint(1, 40)))
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 6))))
        split, stream = LineSplitter(), progress.LastProgress()
        for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True):
            assert stream.feed(data[a:b], patterns) == last_progress(split.feed(data[a:b]), patterns), data[a:b]


def test_last_progress_of_a_stream_with_no_marker_at_all_and_a_line_with_no_end() -> None:
    from engine.core.progress import LastProgress

    stream = LastProgress()
    assert stream.feed(b"plain prose of all kinds\n" * 1000) is None
    assert stream.feed(b"x" * 70_000) is None  # parsed as it is once too long, like LineSplitter
    found = stream.feed(b"Step 2 of 4")
    assert found is None  # no end yet
    found = stream.feed(b"\n")
    assert found is not None and found.step == 2
