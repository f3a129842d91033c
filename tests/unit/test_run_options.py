"""`jobtui run`'s helpers: `--tag` selection, the atomic results file, which job came from which spec, hints."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from engine.errors import ValidationError
from tui.cli.dry_run import levels_of
from tui.cli.run_options import (
    RESULT_FIELDS,
    check_output_path,
    follow_hint,
    job_keys,
    results_document,
    select_tagged,
    write_results,
)

PIPELINE: list[dict[str, Any]] = [
    {"key": "build", "command": ["true"], "tags": ["build"]},
    {"key": "lint", "command": ["true"], "tags": ["check"]},
    {"key": "test", "command": ["true"], "after": ["build", "lint"], "after_when": {"lint": "any"}, "tags": ["check"]},
    {"key": "deploy", "command": ["true"], "after": ["test"], "tags": ["deploy"]},
]


def test_a_tag_keeps_its_jobs_and_drops_their_edges_to_jobs_left_out() -> None:
    chosen, notes = select_tagged(PIPELINE, ["check"], False, "ci.yaml")
    assert [s["key"] for s in chosen] == ["lint", "test"]
    test = chosen[1]
    assert test["after"] == ["lint"] and test["after_when"] == {"lint": "any"}  # build was left out
    assert PIPELINE[2]["after"] == ["build", "lint"]  # the caller's specs are not changed
    assert notes[0] == "--tag check: running 2 of 4 jobs"
    assert "test no longer waits for build" in notes[1] and "--with-deps" in notes[1]


def test_with_deps_adds_every_ancestor_and_drops_nothing() -> None:
    chosen, notes = select_tagged(PIPELINE, ["deploy"], True, "ci.yaml")
    assert [s["key"] for s in chosen] == ["build", "lint", "test", "deploy"]
    assert chosen[2]["after"] == ["build", "lint"]
    assert notes == ["--tag deploy: running 4 of 4 jobs (1 tagged, 3 of their dependencies)"]


def test_several_tags_take_the_jobs_of_any() -> None:
    chosen, _ = select_tagged(PIPELINE, ["build", "deploy"], False, "ci.yaml")
    assert [s["key"] for s in chosen] == ["build", "deploy"]
    assert chosen[1]["after"] == []


def test_an_unknown_tag_is_an_error_naming_the_tags_there_are() -> None:
    with pytest.raises(ValidationError) as caught:
        select_tagged(PIPELINE, ["check", "nightly"], False, "ci.yaml")
    message = str(caught.value)
    assert "--tag nightly" in message and "ci.yaml" in message
    assert "build, check, deploy" in message and "nothing was queued" in message


def test_results_are_written_by_rename_and_leave_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    target.write_text("old")
    before = target.stat().st_ino
    write_results(target, {"jobs": [1]})
    assert json.loads(target.read_text()) == {"jobs": [1]}
    assert target.stat().st_ino != before  # a new file renamed over the old, never the old one rewritten
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_failed_write_leaves_the_old_results_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_results(target, {"jobs": object()})  # not JSON
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_a_results_file_that_cannot_be_written_is_refused_first(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "results.json")
    with pytest.raises(ValidationError, match="is a directory"):
        check_output_path(tmp_path)
    check_output_path(tmp_path / "results.json")


def test_the_results_document_has_every_field_and_the_keys() -> None:
    jobs = [
        {"id": 8, "name": "b", "status": "failed", "attempts": 2, "exit_code": 3, "reason": "exit_code", "extra": {}},
        {"id": 7, "name": "a", "status": "completed", "attempts": 1, "exit_code": 0, "reason": None},
    ]
    document = results_document(jobs, {7: "first", 8: "second"}, "f.yaml", "wf")
    assert document["file"] == "f.yaml" and document["workflow"] == "wf" and document["ok"] is False
    assert [tuple(r) for r in document["jobs"]] == [RESULT_FIELDS, RESULT_FIELDS]
    rows = [(r["id"], r["key"], r["status"]) for r in document["jobs"]]
    assert rows == [(7, "first", "completed"), (8, "second", "failed")]


def test_job_keys_follow_the_order_the_engine_numbers_a_batch_in() -> None:
    specs = [
        {"key": "child", "command": ["echo", "child"], "after": ["parent"]},
        {"key": "parent", "command": ["echo", "parent"]},
    ]
    submitted = [  # the parent is numbered first: it must exist before its child
        {"id": 11, "command": ["echo", "child"]},
        {"id": 10, "command": ["echo", "parent"]},
    ]
    assert job_keys(specs, submitted) == {10: "parent", 11: "child"}
    assert job_keys(specs, [{"id": 10, "command": ["echo", "other"]}, submitted[0]]) == {}  # not ours: no claim


def test_levels_come_from_the_dependencies_within_the_batch() -> None:
    assert levels_of(PIPELINE) == [[0, 1], [2], [3]]
    assert levels_of([{"command": ["a"]}, {"command": ["b"], "after": [5]}]) == [[0, 1]]  # an id: not in the batch


def test_the_follow_hint_names_few_jobs_a_range_or_all() -> None:
    assert follow_hint("jobtui", [3, 1, 2]) == "`jobtui wait 1 2 3` or `jobtui list`"
    assert "wait $(seq 5 104)" in follow_hint("jobtui", list(range(5, 105)))
    assert "wait --all" in follow_hint("jobtui", [*range(1, 10), 20])
