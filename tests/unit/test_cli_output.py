"""CLI formatting: dot-notation field picking, projection, tables, durations."""

from __future__ import annotations

import json

from tui.cli.output import as_json, cell, describe_job, duration, elapsed_seconds, pick, project, table

JOB = {
    "id": 3,
    "name": "train",
    "status": "running",
    "node": None,
    "command": ["python3", "t.py"],
    "progress": {"percent": 42.5, "step": 17, "total": 40, "eta_seconds": 75.0},
    "resources": {"cpus": 4, "mem_mb": 2048, "gpus": 1, "licenses": {"abaqus": 8}},
    "after": [1, 2],
    "started_at": 100.0,
    "finished_at": 130.0,
}


def test_pick_follows_dots_into_dicts_and_lists() -> None:
    assert pick(JOB, "id") == 3
    assert pick(JOB, "progress.percent") == 42.5
    assert pick(JOB, "resources.licenses.abaqus") == 8
    assert pick(JOB, "after.1") == 2
    assert pick(JOB, "command.0") == "python3"


def test_pick_of_missing_paths_is_none() -> None:
    assert pick(JOB, "nope") is None
    assert pick(JOB, "progress.nope.deeper") is None
    assert pick(JOB, "after.9") is None
    assert pick(JOB, "id.x") is None


def test_elapsed_is_computed() -> None:
    assert pick(JOB, "elapsed") == 30.0
    assert elapsed_seconds({"started_at": 100.0, "finished_at": None}, now=112.0) == 12.0
    assert elapsed_seconds({"started_at": None}) is None


def test_project_keeps_the_dotted_names_as_keys() -> None:
    rows = project([JOB], ["id", "progress.percent", "resources.cpus"])
    assert rows == [{"id": 3, "progress.percent": 42.5, "resources.cpus": 4}]
    assert json.loads(as_json(rows)) == rows


def test_table_aligns_columns_and_shows_dashes_for_none() -> None:
    other = {**JOB, "id": 10, "name": "a-much-longer-name", "progress": {}}
    text = table([JOB, other], ["id", "name", "node", "progress.percent"])
    lines = text.splitlines()
    assert lines[0].split() == ["ID", "NAME", "NODE", "PROGRESS.PERCENT"]
    assert lines[1].split() == ["3", "train", "-", "42.5"]
    assert lines[2].split() == ["10", "a-much-longer-name", "-", "-"]
    assert lines[1].index("train") == lines[2].index("a-much") == lines[0].index("NAME")


def test_cells_and_durations() -> None:
    assert cell(None) == "-"
    assert cell([1, 2]) == "1 2"
    assert cell({"a": 1}) == "a=1"
    assert cell(3.14159) == "3.1"
    assert cell(75.0, "elapsed") == "1m15s"
    assert [duration(s) for s in (5, 59, 60, 3599, 3600, 7325)] == ["5s", "59s", "1m00s", "59m59s", "1h00m", "2h02m"]


def test_describe_job_lists_attempts_dependencies_and_history() -> None:
    detail = {
        "job": {
            **JOB,
            "user": "ann",
            "team": None,
            "priority": 10,
            "workdir": None,
            "attempts": 2,
            "exit_code": None,
            "reason": None,
            "message": "",
        },
        "attempts": [
            {"number": 1, "node": "local", "exit_code": 1, "reason": "exit_code", "message": "exited with code 1"}
        ],
        "events": [
            {"at": 0.0, "kind": "submitted", "from_status": None, "to_status": "waiting", "actor": "ann", "message": ""}
        ],
        "dependencies": [{"id": 1, "name": "mesh", "status": "completed"}],
        "position": None,
    }
    text = describe_job(detail)
    assert text.startswith("Job 3: train  [running]")
    assert "42.5%" in text and "ETA 1m15s" in text
    assert "1 mesh [completed]" in text
    assert "#1 on local exit=1 exit_code exited with code 1" in text
    assert "submitted" in text and "- -> waiting" in text and "by ann" in text


def test_show_tells_what_each_ended_attempt_used() -> None:
    job = {**JOB, "user": "ann", "reason": "out_of_memory", "message": "out of memory"}
    attempts = [
        {"number": 1, "node": "local", "exit_code": 137, "reason": "out_of_memory", "message": "out of memory",
         "cpu_seconds": 1.25, "peak_memory_bytes": 50 << 20},
        {"number": 2, "node": "local", "exit_code": None, "reason": None, "message": ""},
    ]  # fmt: skip
    text = describe_job({"job": job, "dependencies": [], "attempts": attempts, "events": [], "position": None})
    assert "used cpu 1.25s, peak memory 50.0 MiB" in text
    assert text.count("used cpu") == 1  # the second, still running, has no figures yet


def test_show_names_the_schedulers_own_id_and_state() -> None:
    from tui.cli.output import describe_job

    job = {
        "id": 7,
        "name": "solve",
        "status": "running",
        "user": "ann",
        "command": ["sbatch-me"],
        "resources": {"cpus": 4, "mem_mb": 0, "gpus": 0},
        "progress": {},
        "extra": {"scheduler": {"id": "4242", "state": "PENDING"}},
    }
    text = describe_job({"job": job, "dependencies": [], "attempts": [], "events": [], "position": None})
    assert "job 4242, state PENDING" in text
