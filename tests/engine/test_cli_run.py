"""`jobtui run` against a real `jobtui --serve`, and hosting its own engine: `--dry-run`, `-o FILE`, `--tag`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from engine.api.discovery import engine_running
from tests.fixtures.engine import JOBTUI, ROOT, Daemon, db_rows

WORKFLOW = """\
name: pipeline
jobs:
  - id: build
    command: "true"
    tags: [build]
  - id: lint
    command: "true"
    tags: [check]
  - id: test
    command: "true"
    dependencies: [build, lint]
    tags: [check]
  - id: deploy
    command: "true"
    dependencies: [test]
    tags: [deploy]
"""


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("run")
    config = base / "config.yaml"
    config.write_text(
        "nodes: [{name: local, kind: local, cores: 4}]\nlimits: {max_concurrent: 10, user_max_concurrent: 10}\n"
    )
    daemon = Daemon(base / "state", config).start()
    yield daemon
    daemon.cleanup()


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(WORKFLOW)
    return path


def job_count(cli: Daemon) -> int:
    return len(cli.cli_json("list", "--limit", "0"))


def test_dry_run_prints_each_level_with_nodes_and_why_not_and_queues_nothing(cli: Daemon, tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(WORKFLOW + '  - id: huge\n    command: "true"\n    cpus: 512\n    dependencies: [build]\n')
    before = job_count(cli)
    done = cli.cli("run", str(path), "--dry-run")
    assert done.returncode == 2, done.stderr  # a job that can never start: the submission would be refused
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f'Dry run of {path} (workflow "pipeline"): 5 job(s) in 3 level(s); nothing was queued')
    rows = {line.split()[1]: line.split() for line in lines if line[:1].isdigit()}
    assert rows["build"][:4] == ["0", "build", "build", "local"] and rows["lint"][0] == "0"
    assert rows["test"][:4] == ["1", "test", "test", "local"] and rows["deploy"][0] == "2"
    assert rows["huge"][:4] == ["1", "huge", "huge", "-"] and "asks for 512 cores" in " ".join(rows["huge"])
    assert "1 job(s) can never start" in done.stdout
    plan = cli.cli("--json", "run", str(path), "--dry-run")
    document = json.loads(plan.stdout)
    assert document["levels"] == [["build", "lint"], ["test", "huge"], ["deploy"]]
    assert document["ok"] is False and document["workflow"] == "pipeline"
    huge = next(j for j in document["jobs"] if j["key"] == "huge")
    assert huge["runnable"] is False and huge["node"] is None and huge["level"] == 1 and huge["after"] == ["build"]
    assert job_count(cli) == before  # nothing queued


def test_dry_run_hosting_its_own_engine_leaves_nothing_queued(tmp_path: Path, pipeline: Path) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "JOBTUI_HOME": str(state)}
    env.pop("JOBTUI_CONFIG", None)
    done = subprocess.run(
        [*JOBTUI, "--json", "run", str(pipeline), "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["ok"] is True and [j["node"] for j in document["jobs"]] == ["local"] * 4
    assert not engine_running(state)
    assert db_rows(state, "SELECT count(*) FROM jobs") == [(0,)]


def test_output_file_holds_each_jobs_result_and_replaces_the_old_one(cli: Daemon, tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(
        "- {key: ok, name: fine, command: 'true'}\n"
        "- {key: bad, command: 'sh -c \"echo no >&2; exit 3\"'}\n"
        "- {key: after-bad, command: 'true', after: [bad]}\n"
    )
    results = tmp_path / "results.json"
    results.write_text("{}")
    old = results.stat().st_ino
    done = cli.cli("run", str(path), "-o", str(results))
    assert done.returncode == 1, done.stderr
    assert f"wrote the results of 3 job(s) to {results}" in done.stderr
    document = json.loads(results.read_text())
    assert results.stat().st_ino != old and sorted(p.name for p in tmp_path.iterdir()) == ["jobs.yaml", "results.json"]
    assert document["file"] == str(path) and document["workflow"] is None and document["ok"] is False
    by_key = {r["key"]: r for r in document["jobs"]}
    assert set(by_key) == {"ok", "bad", "after-bad"}
    assert by_key["ok"]["name"] == "fine" and by_key["ok"]["status"] == "completed"
    assert by_key["ok"]["exit_code"] == 0 and by_key["ok"]["attempts"] == 1
    assert by_key["ok"]["started_at"] <= by_key["ok"]["finished_at"]
    assert (by_key["bad"]["status"], by_key["bad"]["exit_code"], by_key["bad"]["reason"]) == ("failed", 3, "exit_code")
    assert by_key["after-bad"]["status"] == "skipped" and by_key["after-bad"]["started_at"] is None
    assert by_key["after-bad"]["reason"] == "dependency_failed" and by_key["after-bad"]["message"]


def test_an_output_file_that_cannot_be_written_is_refused_before_anything_runs(cli: Daemon, pipeline: Path) -> None:
    before = job_count(cli)
    done = cli.cli("run", str(pipeline), "-o", str(pipeline.parent / "missing" / "r.json"))
    assert done.returncode == 2 and "does not exist" in done.stderr
    assert job_count(cli) == before


def test_a_tag_runs_only_its_jobs_and_says_which_edges_it_dropped(cli: Daemon, pipeline: Path) -> None:
    done = cli.cli("--json", "run", str(pipeline), "--tag", "check")
    assert done.returncode == 0, done.stderr
    jobs = json.loads(done.stdout)
    assert [(j["name"], j["status"]) for j in jobs] == [("lint", "completed"), ("test", "completed")]
    assert jobs[1]["after"] == [jobs[0]["id"]]  # its edge to build, left out, is gone
    assert "--tag check: running 2 of 4 jobs" in done.stderr
    assert "test no longer waits for build" in done.stderr


def test_a_tag_with_deps_runs_its_ancestors_too(cli: Daemon, pipeline: Path) -> None:
    done = cli.cli("--json", "run", str(pipeline), "--tag", "deploy", "--with-deps")
    assert done.returncode == 0, done.stderr
    assert sorted(j["name"] for j in json.loads(done.stdout)) == ["build", "deploy", "lint", "test"]
    assert "(1 tagged, 3 of their dependencies)" in done.stderr and "no longer waits" not in done.stderr


def test_an_unknown_tag_is_refused_and_nothing_is_queued(cli: Daemon, pipeline: Path) -> None:
    before = job_count(cli)
    done = cli.cli("run", str(pipeline), "--tag", "nightly")
    assert done.returncode == 2
    assert "--tag nightly: no job of" in done.stderr and "tags there: build, check, deploy" in done.stderr
    assert job_count(cli) == before
    alone = cli.cli("run", str(pipeline), "--with-deps")
    assert alone.returncode == 2 and "--with-deps goes with --tag" in alone.stderr
