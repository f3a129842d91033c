"""Metrics against a known history: jobs with chosen submit, start and end times are written to a state
directory's store, then a real daemon answers `jobtui metrics --json` and `/metrics` (Prometheus text)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.errors import ValidationError
from engine.models import Job, JobStatus, Reason, Resources
from engine.service.metrics import parse_window
from engine.store import Store
from tests.fixtures.engine import Daemon

H = 3600.0
CONFIG = "nodes:\n  - {name: local, kind: local, cores: 8, gpus: 1}\n"


def _job(job_id: int, user: str, status: JobStatus, times: tuple[float, float | None, float | None], **kw: Any) -> Job:
    created, started, finished = times
    return Job(job_id, f"j{job_id}", ["true"], user, status=status, created_at=created, updated_at=finished or created,
               started_at=started, finished_at=finished, node="local" if started else None, **kw)  # fmt: skip


async def _write_history(state_dir: Path, now: float) -> None:
    """alice: a 2-core hour completed, a 1-core 1-GPU half hour failed (exit code); bob: a 4-core half hour
    completed holding 5 abaqus licences, a 1-core quarter hour failed (timeout); a cancelled job that never
    started; and one that ended ten days ago (outside the window)."""
    jobs = [
        _job(1, "alice", JobStatus.COMPLETED, (now - 5000, now - 4900, now - 1300), resources=Resources(cpus=2),
             team="a", tags=["mesh"]),
        _job(2, "alice", JobStatus.FAILED, (now - 4000, now - 3700, now - 1900), resources=Resources(cpus=1, gpus=1),
             reason=Reason.EXIT_CODE, team="a", tags=["mesh", "solve"]),
        _job(3, "bob", JobStatus.COMPLETED, (now - 3000, now - 2990, now - 1190),
             resources=Resources(cpus=4, licenses={"abaqus": 5}), team="b", tags=["solve"]),
        _job(4, "bob", JobStatus.FAILED, (now - 2000, now - 1980, now - 1080), reason=Reason.TIMEOUT, team="b"),
        _job(5, "bob", JobStatus.CANCELLED, (now - 500, None, now - 400), reason=Reason.CANCELLED, team="b"),
        _job(6, "carol", JobStatus.COMPLETED, (now - 10 * 86400, now - 10 * 86400 + 5, now - 10 * 86400 + 50)),
    ]  # fmt: skip
    state_dir.mkdir(parents=True, mode=0o700)
    store = Store(state_dir / "jobtui.db")
    await store.open()
    await store.commit([Store.save_job(job) for job in jobs])
    await store.close()


@pytest.fixture
async def known(daemon_factory: Any) -> Daemon:
    daemon = daemon_factory(CONFIG)
    await _write_history(daemon.state_dir, time.time())
    return daemon.start()


async def test_jobtui_metrics_json_matches_the_known_history(known: Daemon) -> None:
    result = known.cli_json("metrics", "--since", "1d", "--by", "user")
    day = result["overall"]
    assert result["window_seconds"] == 86400 and result["by"] == "user"
    assert (day["ended"], day["completed"], day["failed"], day["started"]) == (5, 2, 2, 4)
    assert day["success_rate"] == 0.5 and day["error_rate"] == 0.5
    assert day["errors_by_reason"] == {"exit_code": 1, "timeout": 1}
    assert day["error_rate_by_reason"] == {"exit_code": 0.25, "timeout": 0.25}
    assert day["run_seconds"] == {"avg": 2025.0, "p95": 3600.0}  # runs of 3600, 1800, 1800 and 900 s
    assert day["wait_seconds"] == {"avg": 107.5, "p95": 300.0}  # waits of 100, 300, 10 and 20 s
    assert day["throughput_per_hour"] == round(2 / 24, 4)
    assert day["core_hours"] == 4.75 and day["available_core_hours"] == 192.0
    assert day["utilisation"] == round(4.75 / 192, 4)
    assert day["gpu_hours"] == 0.5 and day["licence_hours"] == {"abaqus": 2.5}
    alice, bob = result["groups"]["alice"], result["groups"]["bob"]
    assert (alice["completed"], alice["failed"], alice["core_hours"], alice["gpu_hours"]) == (1, 1, 2.5, 0.5)
    assert (bob["ended"], bob["core_hours"], bob["licence_hours"]) == (3, 2.25, {"abaqus": 2.5})
    assert "carol" not in result["groups"]  # her job ended ten days ago
    week = known.cli_json("metrics", "--since", "7d")
    assert week["overall"]["ended"] == 5 and "groups" not in week
    by_tag = known.cli_json("metrics", "--since", "1d", "--by", "tag")["groups"]
    assert by_tag["mesh"]["ended"] == 2 and by_tag["solve"]["core_hours"] == 2.5
    series = result["series"]
    assert len(series["at"]) == len(series["running"]) == len(series["queued"]) == 60
    assert max(series["running"]) == 4  # jobs 1 to 4 all ran from 1,980 to 1,900 s ago
    assert series["running"][-1] == 0 and series["queued"][-1] == 0
    table = known.cli("metrics", "--since", "1d", "--by", "team")
    assert table.returncode == 0 and "SUCCESS" in table.stdout and "50.0%" in table.stdout
    bad = known.cli("metrics", "--since", "soon")
    assert bad.returncode != 0 and "--since 'soon' is not a duration" in bad.stderr


async def test_prometheus_metrics_match_the_known_history(known: Daemon) -> None:
    response = known.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    assert samples[("jobtui_jobs", (("status", "completed"),))] == 3
    assert samples[("jobtui_window_success_ratio", ())] == 0.5
    assert samples[("jobtui_window_errors", (("reason", "timeout"),))] == 1
    assert samples[("jobtui_window_run_seconds", (("stat", "p95"),))] == 3600
    assert samples[("jobtui_window_core_hours", (("node", "local"),))] == 4.75
    assert samples[("jobtui_window_licence_hours", (("pool", "abaqus"),))] == 2.5
    assert samples[("jobtui_node_cores", (("node", "local"),))] == 8
    assert samples[("jobtui_hook_deliveries_total", (("result", "failed"),))] == 0
    assert known.get("/metrics", token="not-a-token").status_code == 401


def test_windows_are_durations() -> None:
    assert parse_window("7d") == 7 * 86400 and parse_window("90m") == 5400 and parse_window("3600") == 3600
    with pytest.raises(ValidationError, match=r"write e\.g\. 90m, 12h, 7d or 2w"):
        parse_window("0h")
