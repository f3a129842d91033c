"""`M` (or `:` show: metrics): the engine's figures of the last day, and sparklines of how many jobs were
running and queued at each minute of the last hour; refreshed every REFRESH seconds while it is open."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Sparkline, Static

from engine.api.client import EngineClient
from engine.errors import JobTuiError
from tui.formatting import duration, markup_escape

REFRESH = 10.0
WINDOW = "1d"


def metrics_text(overall: dict[str, Any]) -> str:
    """The day's figures as a few markup lines."""

    def share(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    def seconds(value: float | None) -> str:
        return "-" if value is None else duration(value)

    run, wait = overall["run_seconds"], overall["wait_seconds"]
    errors = ", ".join(f"{markup_escape(r)} {n}" for r, n in overall["errors_by_reason"].items()) or "none"
    licences = ", ".join(f"{markup_escape(p)} {h:.1f}" for p, h in overall["licence_hours"].items()) or "-"
    return "\n".join(
        [
            "[b]last 24 hours[/b]",
            f"ended {overall['ended']}  completed {overall['completed']}  failed {overall['failed']}  "
            f"success [b]{share(overall['success_rate'])}[/b]  throughput {overall['throughput_per_hour']:.2f}/h",
            f"errors    {errors}",
            f"run time  avg {seconds(run['avg'])}  p95 {seconds(run['p95'])}    "
            f"wait  avg {seconds(wait['avg'])}  p95 {seconds(wait['p95'])}",
            f"cores     {overall['core_hours']:.1f} of {overall['available_core_hours']:.1f} core-hours "
            f"([b]{share(overall['utilisation'])}[/b])  GPU-hours {overall['gpu_hours']:.1f}  licence-hours {licences}",
        ]
    )


class MetricsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    .metrics { width: 110; }
    .metrics Sparkline { height: 3; margin-bottom: 1; }
    """
    BINDINGS = [Binding("escape,q,M", "dismiss(None)", "Close"), Binding("r", "refresh_metrics", "Refresh")]

    def __init__(self, client: EngineClient, live: bool = True) -> None:
        super().__init__()
        self.client = client
        self.live = live

    def compose(self) -> ComposeResult:
        with Vertical(id="metrics-box", classes="dialog metrics"):
            yield Static("[dim]loading metrics…[/dim]", id="metrics-figures", markup=True)
            yield Label("running, last hour", id="metrics-running-label")
            yield Sparkline([], id="metrics-running")
            yield Label("queued, last hour", id="metrics-queued-label")
            yield Sparkline([], id="metrics-queued")
            yield Label("[dim]r refresh · Esc close[/dim]")

    async def on_mount(self) -> None:
        await self.action_refresh_metrics()
        if self.live:
            self.set_interval(REFRESH, self.action_refresh_metrics)

    async def action_refresh_metrics(self) -> None:
        figures = self.query_one("#metrics-figures", Static)
        try:
            result = await self.client.metrics(WINDOW)
        except JobTuiError as e:
            figures.update(f"[b]metrics unavailable[/b]: {markup_escape(e.message)}")
            return
        figures.update(metrics_text(result["overall"]))
        series = result["series"]
        for name in ("running", "queued"):
            values = series[name]
            self.query_one(f"#metrics-{name}", Sparkline).data = values
            now, peak = (values[-1], max(values)) if values else (0, 0)
            self.query_one(f"#metrics-{name}-label", Label).update(f"{name}, last hour: now {now}, peak {peak}")
