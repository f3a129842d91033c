"""The workflow screen (`d` on a job of a workflow): the workflow's graph by execution levels, the critical
path starred, the selected job's parents and children, a legend.

It opens with the detail the main screen fetched (`EngineClient.workflow`), and stays live: the app hands
it every batch of changed jobs (`apply_changes`); a status change is applied in place, a job added to or
removed from the workflow fetches the detail again. Enter closes it on the selected job in the table.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from textual import getters, work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static

from engine.errors import JobTuiError, NotFound
from engine.wire import JobRow
from tui import workflow_layout as wl
from tui.app_base import JobAppBase
from tui.formatting import STATUS_ORDER
from tui.keys import bindings
from tui.widgets.workflow_graph import WorkflowGraph

RELOAD_DELAY = 0.3  # a burst of new or removed jobs: one fetch


class WorkflowScreen(Screen[int | None]):
    """Dismissed with the job id to show in the table (Enter), or None (Escape)."""

    BINDINGS = bindings("graph")

    if TYPE_CHECKING:  # at run time Textual's own `app` property returns the same object
        app = getters.app(JobAppBase)

    def __init__(self, workflow_id: int, detail: dict[str, Any], selected: int | None = None) -> None:
        super().__init__()
        self.workflow_id = workflow_id
        self.detail = detail
        self.first_selected = selected

    def compose(self) -> ComposeResult:
        yield Static(id="wf-title")
        yield WorkflowGraph(self.detail, self.first_selected, id="wf-graph")
        yield Static(id="wf-job")
        yield Static(id="wf-legend")
        yield Footer()

    @property
    def graph(self) -> WorkflowGraph:
        return self.query_one(WorkflowGraph)

    def on_mount(self) -> None:
        self.graph.focus()
        self._show_text()

    def _show_text(self) -> None:
        graph = self.graph
        self.query_one("#wf-title", Static).update(graph.text_of(wl.title_pieces(self.detail)))
        width = max(0, self.size.width - 2)  # the padding; 0 (not laid out yet): no limit
        job_lines = wl.job_pieces(self.detail, graph.selected, width)
        job = graph.text_of(job_lines[0])
        for line in job_lines[1:]:
            job.append("\n")
            job.append_text(graph.text_of(line))
        self.query_one("#wf-job", Static).update(job)
        self.query_one("#wf-legend", Static).update(graph.text_of(wl.legend_pieces(self.detail, STATUS_ORDER, width)))

    def on_workflow_graph_selected(self, _message: WorkflowGraph.Selected) -> None:
        self._show_text()

    def on_resize(self) -> None:
        self._show_text()

    # -- live: from the app --------------------------------------------------------------------------------

    def apply_changes(self, rows: list[JobRow], removed: list[int]) -> None:
        """Changed jobs (the bridge's batch): statuses in place; a job that joined or left: fetch again."""
        ours = wl.jobs_by_id(self.detail)
        joined = any(row.id not in ours and row.workflow_id == self.workflow_id for row in rows)
        if joined or any(job_id in ours for job_id in removed):
            self.reload()
            return
        statuses = {row.id: (row.status, row.reason, row.attempts) for row in rows if row.id in ours}
        if statuses and wl.with_statuses(self.detail, statuses):
            self.graph.show(self.detail)
            self._show_text()

    @work(exclusive=True, group="workflow-reload")
    async def reload(self, delay: float = RELOAD_DELAY) -> None:
        """Fetch the workflow again (after `delay`, so a burst of changes costs one fetch)."""
        if delay:
            await asyncio.sleep(delay)
        try:
            detail = await self.app.client.workflow(self.workflow_id)
        except NotFound as e:
            self.notify(e.message, title=f"Workflow #{self.workflow_id} is gone", severity="warning", markup=False)
            self.dismiss(None)
            return
        except JobTuiError as e:
            self.notify(
                e.message, title=f"Could not refresh workflow #{self.workflow_id}", severity="error", markup=False
            )
            return
        self.detail = detail
        self.graph.show(detail)
        self._show_text()

    # -- keys ----------------------------------------------------------------------------------------------

    def action_move_level(self, delta: int) -> None:
        self.graph.move_level(delta)

    def action_move_job(self, delta: int) -> None:
        self.graph.move_job(delta)

    def action_move_end(self, last: bool) -> None:
        self.graph.move_end(last)

    def action_refresh(self) -> None:
        self.reload(0.0)

    def action_goto(self) -> None:
        self.dismiss(self.graph.selected)

    def action_close(self) -> None:
        self.dismiss(None)
