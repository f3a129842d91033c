"""The main screen: stats line, job table, a bottom pane (detail or log), nodes and GPU panels, footer.

Data comes down from the app (`apply_*` methods); the screen never rebuilds widgets for new data, it
updates the index and repaints. Detail and log fetches run in exclusive workers, so moving fast
through the table cancels stale fetches instead of queueing them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Footer, Input, Label

from engine.errors import JobTuiError
from engine.wire import JobRow
from tui import formatting
from tui.formatting import SORTABLE
from tui.keys import bindings
from tui.screens.failure_report import fetch_report
from tui.screens.job_actions import JobActions
from tui.screens.log_feed import LogFeed
from tui.screens.report import ReportScreen
from tui.screens.workflow import WorkflowScreen
from tui.widgets.job_index import without_workflow, workflow_term
from tui.widgets.job_table import JobTable
from tui.widgets.log_view import LogView
from tui.widgets.panels import DetailPane, GpuPanel, NodesPanel, StatsBar

DETAIL_DELAY = 0.15  # wait for the cursor to settle before fetching a job's history
LOG_POLL = 0.5
NARROW = 110  # below this width the side panels hide (toggle with `p`)


class MainScreen(JobActions):
    BINDINGS = bindings("jobs")

    def __init__(self) -> None:
        super().__init__()
        self.pane: str | None = None  # None, "detail" or "log"
        self.prompt_mode = ""
        self.limits: dict[str, Any] = {}
        self.engine_note = ""
        # While a large queue loads after its first page: how many jobs in all. Not `loading`, which is
        # Textual's `Widget.loading` (True covers the whole screen with a loading indicator).
        self.loading_jobs: int | None = None
        self.stream = "stdout"
        self.panels_forced: bool | None = None
        self._detail: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield StatsBar(id="stats")
        with Horizontal(id="body"):
            with Vertical(id="main"):
                yield JobTable(self.app.index, self.app.clock, id="jobs")
                with ContentSwitcher(initial="detail", id="pane"):
                    yield DetailPane(id="detail")
                    yield LogView(id="log")
                yield Input(id="prompt")
            with Vertical(id="side"):
                yield Label("Nodes", classes="panel-title")
                yield NodesPanel(id="nodes")
                yield Label("GPUs", classes="panel-title")
                yield GpuPanel(id="gpus")
        yield Footer()

    @property
    def table(self) -> JobTable:
        return self.query_one(JobTable)

    def on_mount(self) -> None:
        self.query_one("#pane").display = False
        self.query_one("#prompt").display = False
        self.table.focus()
        self.update_stats()

    def on_resize(self) -> None:
        wide = self.size.width >= NARROW
        self.query_one("#side").display = self.panels_forced if self.panels_forced is not None else wide

    def selected_ids(self) -> list[int]:
        return self.table.selected_ids()

    def clear_marks(self) -> None:
        self.table.marked.clear()
        self.table.refresh()

    # -- data from the app -------------------------------------------------------------------------------

    def apply_snapshot(self) -> None:
        self.table.data_changed(True)
        self.update_stats()
        self._refresh_pane()

    def apply_changes(self, rows: list[JobRow], order_changed: bool, removed: list[int] | None = None) -> None:
        changed = {r.id for r in rows}
        if removed:
            self.table.marked.difference_update(removed)
        self.table.data_changed(order_changed, changed)
        self.update_stats()
        if self.table.cursor_id in changed and self.pane == "detail":
            self._load_detail(self.table.cursor_id, delay=1.0)

    def update_stats(self) -> None:
        index = self.app.index
        text = formatting.stats_text(index.counts, self.limits, index.average_wait, len(index), len(index.rows))
        if self.loading_jobs:
            text = f"loading {self.loading_jobs:,} jobs…"
        if index.filter.active:
            text += f"  filter: {formatting.markup_escape(index.filter.text)}"
        self.query_one(StatsBar).show_stats(text, self.engine_note)

    def set_engine_note(self, note: str) -> None:
        self.engine_note = note
        self.update_stats()

    # -- cursor and table ----------------------------------------------------------------------------------

    def action_cursor_down(self) -> None:
        self.table.move_cursor(1)

    def action_cursor_up(self) -> None:
        self.table.move_cursor(-1)

    def action_cursor_top(self) -> None:
        self.table.move_to(0)

    def action_cursor_bottom(self) -> None:
        self.table.move_to(len(self.app.index) - 1)

    def action_page_down(self) -> None:
        self.table.move_cursor(self.table.page)

    def action_page_up(self) -> None:
        self.table.move_cursor(-self.table.page)

    def action_mark(self) -> None:
        self.table.toggle_mark()
        self.table.move_cursor(1)

    def action_sort_next(self) -> None:
        index = self.app.index
        column = SORTABLE[(SORTABLE.index(index.sort_column) + 1) % len(SORTABLE)]
        self.sort_by(column, index.reverse)

    def action_sort_reverse(self) -> None:
        self.sort_by(self.app.index.sort_column, not self.app.index.reverse)

    def sort_by(self, column: str, reverse: bool = False) -> None:
        self.app.index.set_sort(column, reverse)
        self.table.data_changed(True)
        self.notify(f"sorted by {column}{' (descending)' if reverse else ''}", timeout=2)

    def set_filter(self, text: str) -> None:
        self.app.index.set_filter(text)
        self.table.data_changed(True)
        self.update_stats()

    action_sort_by = sort_by
    action_apply_filter = set_filter

    # -- workflows: the selected job's workflow, as a filter or as a graph ------------------------------------

    def _workflow_of_cursor(self, what: str) -> tuple[int, int] | None:
        """(workflow id, job id) of the job under the cursor; None, with a notice, when there is none."""
        job_id = self.table.cursor_id
        row = self.app.index.rows.get(job_id) if job_id is not None else None
        if row is None:
            self.notify(f"no job selected: nothing to {what}.", severity="warning", timeout=3)
            return None
        if row.workflow_id is None:
            self.notify(
                f"job #{row.id} was not submitted with a workflow (a workflow file): nothing to {what}.",
                title="No workflow",
                severity="warning",
                timeout=4,
            )
            return None
        return row.workflow_id, row.id

    def action_workflow_filter(self) -> None:
        """Show only the selected job's workflow (`wf:ID` joins the filter); again: show every job again."""
        rest, had = without_workflow(self.app.index.filter.text)
        if had:
            self.set_filter(rest)
            self.notify("workflow filter cleared", timeout=2)
            return
        found = self._workflow_of_cursor("filter by")
        if found is None:
            return
        self.set_filter(f"{rest} {workflow_term(found[0])}".strip())
        self.notify(f"workflow #{found[0]}: {len(self.app.index)} job(s) shown; w or Esc shows all", timeout=3)

    def action_workflow_graph(self) -> None:
        if found := self._workflow_of_cursor("draw"):
            self._open_graph(*found)

    @work(exclusive=True, group="workflow")
    async def _open_graph(self, workflow_id: int, job_id: int) -> None:
        try:
            detail = await self.app.client.workflow(workflow_id)
        except JobTuiError as e:
            self.notify(e.message, title=f"Workflow #{workflow_id}", severity="error", markup=False)
            return
        if not detail.get("jobs"):
            self.notify(f"workflow #{workflow_id} has no jobs left to draw.", severity="warning")
            return
        self.app.push_screen(WorkflowScreen(workflow_id, detail, job_id), self._after_graph)

    def _after_graph(self, job_id: int | None) -> None:
        """Back from the graph: Enter there puts the table's cursor on its job."""
        if job_id is None:
            return
        row = self.app.index.position(job_id)
        if row is None:
            self.notify(
                f"job #{job_id} is hidden by the filter ({self.app.index.filter.text}).", timeout=3, markup=False
            )
            return
        self.table.move_to(row)

    @work(exclusive=True, group="report")
    async def action_failure_report(self) -> None:
        """`y`: the selected job's report (command, node, reason, stderr's end), copied and shown."""
        job_id = self.table.cursor_id
        if job_id is None:
            self.notify("no job selected: nothing to report.", severity="warning", timeout=3)
            return
        try:
            text = await fetch_report(self.app.client, job_id)
        except JobTuiError as e:
            self.notify(e.message, title=f"Report of #{job_id}", severity="error", markup=False)
            return
        self.app.push_screen(ReportScreen(job_id, text))

    def action_toggle_panels(self) -> None:
        side = self.query_one("#side")
        self.panels_forced = not side.display
        side.display = self.panels_forced

    def action_close(self) -> None:
        if self.prompt_mode:
            self._escape_prompt()
        elif self.pane is not None:
            self.show_pane(None)
        elif self.app.index.filter.active:
            self.set_filter("")
        elif self.table.marked:
            self.clear_marks()

    # -- prompt: filter and log search -------------------------------------------------------------------

    def action_filter(self) -> None:
        self._open_prompt("filter", self.app.index.filter.text, "filter: text  status:running  user:ann  node:x  tag:y")

    def _open_prompt(self, mode: str, value: str, placeholder: str) -> None:
        prompt = self.query_one("#prompt", Input)
        self.prompt_mode = mode
        prompt.placeholder, prompt.value, prompt.display = placeholder, value, True
        prompt.focus()

    @on(Input.Changed, "#prompt")
    def _prompt_changed(self, event: Input.Changed) -> None:
        if self.prompt_mode == "filter":
            self._debounced_filter(event.value)

    @work(exclusive=True, group="filter")
    async def _debounced_filter(self, text: str) -> None:
        await asyncio.sleep(0.12 if len(self.app.index.rows) > 20000 else 0)
        self.set_filter(text)

    @on(Input.Submitted, "#prompt")
    def _prompt_submitted(self, event: Input.Submitted) -> None:
        if self.prompt_mode == "filter":
            self.set_filter(event.value)
            self._close_prompt(self.table)
        else:
            log = self.query_one(LogView)
            found = log.search(event.value) if event.value else 0
            self.notify(f"{found} match(es) for {event.value!r}", timeout=2) if event.value else None
            self._close_prompt(log)

    def _close_prompt(self, focus_to: Widget) -> None:
        self.query_one("#prompt").display = False
        self.prompt_mode = ""
        focus_to.focus()

    def _escape_prompt(self) -> None:
        if self.prompt_mode == "filter":
            self.set_filter("")
        self._close_prompt(self.table if self.prompt_mode != "search" else self.query_one(LogView))

    # -- bottom pane: detail and log -------------------------------------------------------------------

    def action_detail(self) -> None:
        self.show_pane(None if self.pane == "detail" else "detail")

    def action_logs(self) -> None:
        self.show_pane("log")
        self.query_one(LogView).focus()

    def action_follow(self) -> None:
        if self.pane != "log":
            self.action_logs()
        self.query_one(LogView).action_follow()

    def show_pane(self, pane: str | None) -> None:
        self.pane = pane
        self.query_one("#pane").display = pane is not None
        if pane is None:
            self.table.focus()
            self.workers.cancel_group(self, "log")
            return
        self.query_one(ContentSwitcher).current = pane
        self._refresh_pane()

    def _refresh_pane(self) -> None:
        job_id = self.table.cursor_id
        if self.pane == "detail":
            self._load_detail(job_id)
        elif self.pane == "log":
            self._follow_log(job_id, self.stream)

    def on_job_table_cursor_moved(self, message: JobTable.CursorMoved) -> None:
        if self.pane == "detail":
            self._load_detail(message.job_id, delay=DETAIL_DELAY)
        elif self.pane == "log":
            self._follow_log(message.job_id, self.stream, delay=DETAIL_DELAY)

    @work(exclusive=True, group="detail")
    async def _load_detail(self, job_id: int | None, delay: float = 0.0) -> None:
        pane = self.query_one(DetailPane)
        if delay:
            await asyncio.sleep(delay)
        if job_id is None:
            pane.show_job(None, None, self.app.clock())
            return
        try:
            detail = await self.app.client.job(job_id)
        except JobTuiError as e:
            pane.show_job({"id": job_id, "status": "?", "message": e.message}, None, self.app.clock())
            return
        pane.show_job(detail["job"], detail, self.app.clock())

    @work(group="attempts")
    async def on_job_table_attempt_starts_wanted(self, message: JobTable.AttemptStartsWanted) -> None:
        """Jobs past their first attempt: ELAPSED counts from the current attempt's start, from their detail."""
        found = False
        for job_id in message.job_ids:
            try:
                attempts = (await self.app.client.job(job_id)).get("attempts") or []
            except JobTuiError:
                continue
            last = max(attempts, key=lambda a: a.get("number") or 0, default=None)
            if last and last.get("started_at") is not None and last.get("number"):
                self.app.index.attempt_starts[job_id] = (last["number"], last["started_at"])
                found = True
        if found:
            self.table.refresh()

    def on_log_view_request(self, message: LogView.Request) -> None:
        if message.what == "stream":
            self.stream = "stderr" if self.stream == "stdout" else "stdout"
            self._follow_log(self.table.cursor_id, self.stream)
        elif message.what == "search":
            self._open_prompt("search", self.query_one(LogView).term, "search the log (Enter; n/N next/prev)")
        elif message.what == "back":
            self.table.focus()

    @work(exclusive=True, group="log")
    async def _follow_log(self, job_id: int | None, stream: str, delay: float = 0.0) -> None:
        log = self.query_one(LogView)
        if delay:
            await asyncio.sleep(delay)
        if job_id is None:
            log.clear("no job selected")
            return
        log.clear(f"#{job_id} {stream}")
        feed = LogFeed(self.app.client, job_id, stream)
        try:
            log.append(await feed.first())
            while not feed.done and self.pane == "log":
                await asyncio.sleep(LOG_POLL)
                log.append(await feed.more())
        except JobTuiError as e:
            log.info = f"#{job_id} {stream}: {e.message}"
            log.refresh()
