"""The static panels: queue stats line, job detail, nodes and GPUs. Each takes data, formats it with
`tui.view`, and shows it; none of them talks to the engine.
"""

from __future__ import annotations

from typing import Any

from textual.containers import VerticalScroll
from textual.widgets import Static

from tui import view


class StatsBar(Static):
    """One line: queued, running/max, failed, average wait, jobs shown; plus the engine's state."""

    def show_stats(self, text: str, engine_note: str = "") -> None:
        self.update(f"{text}  [b]{view.markup_escape(engine_note)}[/b]" if engine_note else text)


class DetailPane(VerticalScroll, can_focus=False):
    """Every field of the selected job, its failure, dependencies, attempts and events."""

    def compose(self):
        yield Static("", id="detail-body", markup=True)

    def show_job(self, job: dict[str, Any] | None, detail: dict[str, Any] | None, now: float) -> None:
        body = self.query_one("#detail-body", Static)
        body.update("[dim]no job selected[/dim]" if job is None else view.detail_text(job, detail, now))


class NodesPanel(Static):
    def show_nodes(self, nodes: list[dict[str, Any]]) -> None:
        self.update(view.nodes_text(nodes))


class GpuPanel(Static):
    def show_gpus(self, gpus: list[Any] | None, holders: dict[Any, Any]) -> None:
        self.update(view.gpus_text(gpus, holders))
