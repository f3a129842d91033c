"""The nodes panel shows what each node's sample measured next to what jobtui reserved (load, memory, GPU
use, a cluster's queue, an unreachable node's reason and time), and the metrics view (`M`) shows the day's
figures with sparklines of the running and queued jobs of the last hour."""

from __future__ import annotations

import time
from typing import Any

from textual.widgets import Sparkline, Static

from tests.tui.fakes import T0, FakeClient, fake_app, loaded, make_job
from tui.formatting import detail_text
from tui.screens.metrics import MetricsScreen
from tui.widgets.panels import NodesPanel

DOWN_SINCE = T0 - 600


def _node(name: str, kind: str, measured: dict[str, Any] | None, reachable: bool = True) -> dict[str, Any]:
    return {
        **{"name": name, "kind": kind, "cores": 16, "used_cores": 4, "mem_mb": 65536, "used_mem_mb": 8192},
        **{"running": 2, "reachable": reachable, "labels": {}, "gpu_holders": {}, "gpus": [], "measured": measured},
    }


NODES = [
    _node("here", "local", {"load1": 3.25, "memory_mb": 65536, "memory_used_mb": 20480, "gpu_utilization_pct": 45.0}),
    _node("hpc", "slurm", {"queue": {"running": 3, "pending": 5}}),
    _node("far", "ssh", {"unreachable_since": DOWN_SINCE, "unreachable_reason": "far:22: Connection refused"}, False),
]


def panel_text(app: Any) -> str:
    return str(app.main.query_one("#nodes", NodesPanel).render())


async def test_the_nodes_panel_shows_measured_load_next_to_what_is_reserved() -> None:
    app = fake_app(FakeClient(5, nodes=NODES))
    async with app.run_test(size=(140, 45)) as pilot:
        await loaded(pilot)
        await app._refresh_nodes()
        await pilot.pause()
        text = panel_text(app)
        assert "cpu 4/16  mem 8.0/64.0G  jobs 2" in text  # reserved by jobtui
        assert "measured load 3.25  mem 20.0/64.0G  gpu 45%" in text  # measured on the node
        assert "queue 3 running, 5 pending" in text
        since = time.strftime("%H:%M:%S", time.localtime(DOWN_SINCE))
        assert f"down since {since}: far:22: Connection refused" in text


SERIES = {"step_seconds": 60, "at": [T0 - 60 * (59 - i) for i in range(60)], "running": [0] * 58 + [2, 4],
          "queued": [7] * 59 + [3]}  # fmt: skip
DAY = {
    "ended": 10, "completed": 8, "failed": 2, "started": 10, "success_rate": 0.8, "error_rate": 0.2,
    "errors_by_reason": {"timeout": 2}, "error_rate_by_reason": {"timeout": 0.2},
    "run_seconds": {"avg": 125.0, "p95": 3600.0}, "wait_seconds": {"avg": 30.0, "p95": 90.0},
    "throughput_per_hour": 0.3333, "core_hours": 12.0, "available_core_hours": 384.0, "utilisation": 0.0313,
    "gpu_hours": 1.5, "licence_hours": {"abaqus": 4.0},
}  # fmt: skip


async def test_the_metrics_view_shows_the_figures_and_sparklines_of_the_last_hour() -> None:
    client = FakeClient(3)
    client.metrics_result = {"overall": DAY, "series": SERIES, "window_seconds": 86400}
    app = fake_app(client)
    async with app.run_test(size=(140, 45)) as pilot:
        await loaded(pilot)
        await pilot.press("M")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MetricsScreen)
        for _ in range(100):
            if screen.query_one("#metrics-running", Sparkline).data:
                break
            await pilot.pause(0.02)
        assert list(screen.query_one("#metrics-running", Sparkline).data or []) == SERIES["running"]
        assert list(screen.query_one("#metrics-queued", Sparkline).data or []) == SERIES["queued"]
        figures = str(screen.query_one("#metrics-figures", Static).render())
        assert "success 80.0%" in figures and "p95 1h00m" in figures and "timeout 2" in figures
        assert "12.0 of 384.0 core-hours (3.1%)" in figures and "abaqus 4.0" in figures
        assert "running, last hour: now 4, peak 4" in str(screen.query_one("#metrics-running-label").render())
        await pilot.press("escape")
        assert not isinstance(app.screen, MetricsScreen)


def test_the_job_detail_shows_measured_usage() -> None:
    job = make_job(4, "running")
    job["extra"] = {"usage": {"cpu_seconds": 12.5, "cpu_percent": 97.0, "rss_mb": 210.4, "peak_rss_mb": 250.0}}
    text = detail_text(job, None, T0)
    assert "[b]usage[/b]     cpu 12.5s (97%)  rss 210 MiB (peak 250)" in text
    assert "usage" not in detail_text(make_job(5, "running"), None, T0)
