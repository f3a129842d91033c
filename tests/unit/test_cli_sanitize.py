"""Terminal controls in user text and job output: visible in fields, removed or visible in logs."""

from __future__ import annotations

import pytest

from tui.cli.output import cell, describe_job, table
from tui.cli.sanitize import LogFilter, clean_output, printable, visible

TITLE = "\x1b]0;owned\x07x"


def test_fields_show_every_control_as_a_visible_escape() -> None:
    assert visible(TITLE) == "\\x1b]0;owned\\x07x"
    assert visible("a\nb\tc\rd\x7fe\x9bf\x00") == "a\\nb\\tc\\rd\\x7fe\\x9bf\\x00"
    assert visible("plain é ✓") == "plain é ✓" and visible(3) == "3"
    assert printable("line 1\n\tline 2\x1b[2J") == "line 1\n\tline 2\\x1b[2J"


def test_tables_and_show_escape_every_value() -> None:
    job = {"id": 1, "name": TITLE, "tags": ["\x1b[31mred"], "env": {"K\x07": "v\x9b"}}
    text = table([job], ["id", "name", "tags", "env"])
    assert "\x1b" not in text and "\\x1b]0;owned\\x07x" in text and "\\x1b[31mred" in text
    assert cell(job["env"]) == "K\\x07=v\\x9b"
    assert table([job], ["name\x1b"]).splitlines()[0] == "NAME\\x1b"
    detail = {
        "job": {**job, "status": "failed", "message": "two\nlines", "resources": {"cpus": 1, "mem_mb": 0, "gpus": 0}},
        "attempts": [{"number": 1, "node": "n\x1bc", "exit_code": 1, "reason": "r\x07", "message": "m\x1b[2J"}],
        "events": [{"at": 0, "kind": "k", "from_status": None, "to_status": "x", "actor": "a\x1b", "message": "\x9d"}],
        "dependencies": [{"id": 2, "name": "\x1b]52;c;eA==\x07", "status": "waiting"}],
        "position": None,
        "extra": {},
    }
    shown = describe_job(detail)
    assert not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F for c in shown)
    assert "two\\nlines" in shown and "n\\x1bc" in shown and "\\x1b]52;c;eA==\\x07" in shown


def test_job_output_loses_its_sequences_and_keeps_its_lines() -> None:
    out = "a\x1b[2Jb\x1b[1;31mc\x1b]0;title\x07d\x1b]52;c;eA==\x1b\\e\x1bcf\x1b(Bg\r\nh\ti\x08\x9bj\n"
    assert clean_output(out) == "abcdefg\nh\ti\\x08\\x9bj\n"
    assert clean_output("10%\r20%\r100%\n") == "10%\n20%\n100%\n"  # nothing hides what came before
    assert clean_output("\x1b\x1b[2J[2J") == "\\x1b[2J"  # a sequence that forms after removal is shown
    assert clean_output("\x1b]0;x\x1b[2Jy") == "\\x1b]0;xy"  # a malformed string: its ESC is shown
    assert clean_output("end\x1b]0;never ends") == "end"  # unfinished at the very end: dropped
    assert clean_output("x\x1b]0;" + "y" * 5000) == "x\\x1b]0;" + "y" * 5000  # too long to hold: shown


@pytest.mark.parametrize("cut", range(1, 30))
def test_a_sequence_or_crlf_cut_between_chunks_is_seen_whole(cut: int) -> None:
    out = "ab\x1b[31mred\x1b]0;title\x1b\\x\r\ny\x1b[0m\r"
    log = LogFilter()
    assert log.feed(out[:cut]) + log.feed(out[cut:]) + log.flush() == "abredx\ny\n"
