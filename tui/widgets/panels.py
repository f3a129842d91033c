"""The static panels: queue stats line, job detail, nodes and GPUs. Each takes data, formats it with
`tui.formatting`, and shows it; none of them talks to the engine.
"""

from __future__ import annotations

from typing import Any

from textual.containers import VerticalScroll
from textual.widgets import Static

from tui import formatting


class StatsBar(Static):
    """One line: queued, running/max, failed, average wait, jobs shown; plus the engine's state."""

    def show_stats(self, text: str, engine_note: str = "") -> None:
        self.update(f"{text}  [b]{formatting.markup_escape(engine_note)}[/b]" if engine_note else text)


class DetailPane(VerticalScroll, can_focus=False):
    """Every field of the selected job, its failure, dependencies, attempts and events."""

    def compose(self):
        yield Static("", id="detail-body", markup=True)

    def show_job(self, job: dict[str, Any] | None, detail: dict[str, Any] | None, now: float) -> None:
        body = self.query_one("#detail-body", Static)
        body.update("[dim]no job selected[/dim]" if job is None else formatting.detail_text(job, detail, now))


class NodesPanel(Static):
    def show_nodes(self, nodes: list[dict[str, Any]]) -> None:
        self.update(formatting.nodes_text(nodes))


class GpuPanel(Static):
    def show_gpus(self, nodes: list[dict[str, Any]] | None) -> None:
        """Every node's devices and who holds each (the node records' `gpus`)."""
        self.update(formatting.gpus_text(nodes))
