"""Issue 12, item 7: a tree survives its engine being SIGKILLed mid-campaign. A real `jobtui --serve` runs an
ecalj-like tree of 3 materials x (lda -> gw1 -> gw2) on `--node local`; it is killed with SIGKILL twice, once
early (the first steps done, others running) and once later (most steps done, the last ones running), and
started again on the same state directory each time. The tree ends with every script run exactly once (each
directory's `runs.log` lists each step once, each job has one attempt), every marker written, and
`tree status` saying done everywhere."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engine.test_tree_cli import STEPS, make_tree, status
from tests.fixtures.engine import Daemon
from tests.waiting import wait_for_sync

pytestmark = pytest.mark.timeout(90)
NAP = "0.8"  # each step runs this long (seconds): long enough that the engine is killed with steps in flight


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    config = tmp_path / "config.yaml"
    config.write_text("limits: {max_concurrent: 10, user_max_concurrent: 10}\n")
    daemon = Daemon(tmp_path / "state", config).start()
    yield daemon
    daemon.cleanup()


def jobs_of(daemon: Daemon, workflow: int) -> list[dict[str, Any]]:
    """The workflow's jobs as the engine has them (one HTTP request: cheap enough to poll)."""
    response = daemon.get(f"/api/workflows/{workflow}")
    assert response.status_code == 200, response.text
    jobs: list[dict[str, Any]] = response.json()["jobs"]
    return jobs


def counts(daemon: Daemon, workflow: int) -> Counter[str]:
    return Counter(job["status"] for job in jobs_of(daemon, workflow))


def kill_when(daemon: Daemon, workflow: int, done: int) -> Counter[str]:
    """SIGKILL the daemon once at least `done` jobs completed while others still run; the counts it saw."""
    seen: Counter[str] = Counter()

    def mid_campaign() -> bool:
        nonlocal seen
        seen = counts(daemon, workflow)
        return seen["completed"] >= done and seen["running"] + seen["starting"] >= 1

    wait_for_sync(mid_campaign, 30, lambda: f"{done} jobs completed and some running (now {dict(seen)})", step=0.05)
    daemon.kill9()
    return seen


def test_a_tree_killed_twice_mid_campaign_runs_every_step_exactly_once(daemon: Daemon, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "init", {m: {s: "sleep __nap__\n" for s in STEPS} for m in ("Si", "GaAs", "NiO")})
    sets = ["--set", "binpath=/opt/ecalj/bin", "--set", "pythonpath=/usr/bin/python3", "--set", "maxcore=4"]
    out = daemon.cli_json("tree", "init", str(src), "--node", "local", "--name", "camp", *sets, "--set", f"nap={NAP}")
    run, workflow = Path(out["run_dir"]), int(out["workflow"])
    assert out["jobs"] == 9

    started = time.monotonic()
    first = kill_when(daemon, workflow, done=1)  # early: lda of some materials done, gw1/lda still running
    assert first["completed"] < 9
    daemon.start()
    second = kill_when(daemon, workflow, done=max(5, first["completed"] + 1))  # later: the last steps in flight
    assert second["completed"] < 9
    print(f"killed at {dict(first)}, then at {dict(second)}")
    daemon.start()

    def finished() -> bool:
        return all(job["status"] == "completed" for job in jobs_of(daemon, workflow))

    wait_for_sync(finished, 30, lambda: f"the tree to finish (now {dict(counts(daemon, workflow))})", step=0.1)
    assert time.monotonic() - started < 30

    jobs = jobs_of(daemon, workflow)
    assert len(jobs) == 9
    assert {job["name"]: job["attempts"] for job in jobs} == {
        f"{m}/qsub.{s}": 1 for m in ("Si", "GaAs", "NiO") for s in STEPS
    }  # no job launched twice, none rerun after its end was recovered
    for material in ("Si", "GaAs", "NiO"):
        lines = (run / material / "runs.log").read_text().splitlines()
        assert lines == [f"{s} bin=/opt/ecalj/bin py=/usr/bin/python3 np=4" for s in STEPS], (material, lines)
        assert all((run / material / f"qsub.finished.{s}").exists() for s in STEPS)
    assert status(daemon, run) == {m: {f"qsub.{s}": "done" for s in STEPS} for m in ("Si", "GaAs", "NiO")}
    assert json.loads((run / "tree.json").read_text())["workflows"] == [workflow]  # nothing resubmitted
