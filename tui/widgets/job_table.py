"""The job table: a virtual table on Textual's line API that renders only the rows on screen.

It draws from a `JobIndex` (sorted, filtered ids) and never creates a widget per row, so 100,000 jobs
cost what 40 do; a data change is a repaint of the visible lines. The cursor follows a job id, so it
stays on its job when rows move.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.formatting import SORTABLE, STATUS_ORDER, Column, cell_text, header_text, layout_columns
from tui.watch_text import flag_marks
from tui.widgets.job_index import JobIndex


class JobTable(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {
        "jobtable--header",
        "jobtable--cursor",
        "jobtable--marked",
        "jobtable--dim",
        "jobtable--flagged",
        *(f"jobtable--{status}" for status in STATUS_ORDER),
    }

    class AttemptStartsWanted(Message):
        """Shown jobs past their first attempt whose current attempt's start is unknown (ELAPSED needs it)."""

        def __init__(self, job_ids: list[int]) -> None:
            super().__init__()
            self.job_ids = job_ids

    class CursorMoved(Message):
        """The cursor is on another job (None: the table is empty)."""

        def __init__(self, job_id: int | None) -> None:
            super().__init__()
            self.job_id = job_id

    def __init__(self, index: JobIndex, clock: Callable[[], float], **kwargs) -> None:
        super().__init__(**kwargs)
        self.index = index
        self.clock = clock
        self.cursor_row = 0
        self.cursor_id: int | None = None
        self.marked: set[int] = set()
        self._styles: dict[str, Style] = {}
        self._layout: tuple[tuple[int, bool], list[tuple[Column, int]]] = ((-1, False), [])
        self._asked: dict[int, int] = {}  # job id -> the attempt whose start was asked for (once per attempt)
        self._wanted: set[int] = set()  # asked for by this repaint

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._restyle())
        self.data_changed(True)

    def _restyle(self) -> None:
        self._styles.clear()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()

    # -- geometry --------------------------------------------------------------------------------------

    @property
    def page(self) -> int:
        """Rows visible under the header."""
        return max(1, self.scrollable_content_region.height - 1)

    def data_changed(self, order_changed: bool, changed: set[int] | None = None) -> None:
        """Called after the index changed: keep the cursor on its job, repaint what is visible."""
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.index) + 1)
        if order_changed or self.cursor_id is None:
            self._reposition()
        wf_column = (self.index.in_workflows > 0) != self._layout[0][1]  # a workflow's first or last job came
        if order_changed or changed is None or wf_column or not changed.isdisjoint(self.visible_ids()):
            self.refresh()

    def visible_ids(self) -> list[int]:
        top = int(self.scroll_y)
        return self.index.ids_between(top, top + self.page)

    def _reposition(self) -> None:
        row = self.index.position(self.cursor_id) if self.cursor_id is not None else None
        if row is None:
            row = min(self.cursor_row, max(0, len(self.index) - 1))
        self._set_cursor(row, scroll=False)

    # -- cursor ----------------------------------------------------------------------------------------

    def move_cursor(self, delta: int) -> None:
        self._set_cursor(self.cursor_row + delta)

    def move_to(self, row: int) -> None:
        self._set_cursor(row)

    def _set_cursor(self, row: int, scroll: bool = True) -> None:
        row = max(0, min(row, len(self.index) - 1))
        old_row, old_id = self.cursor_row, self.cursor_id
        self.cursor_row, self.cursor_id = row, self.index.id_at(row)
        if scroll or not self._cursor_visible():
            self._scroll_to_cursor()
        if old_row != row:
            self._refresh_row(old_row)
            self._refresh_row(row)
        if old_id != self.cursor_id:
            self.post_message(self.CursorMoved(self.cursor_id))

    def on_resize(self) -> None:
        """The table got smaller (the detail or log pane opened): keep the cursor's row in view."""
        if not self._cursor_visible():
            self._scroll_to_cursor()

    def _cursor_visible(self) -> bool:
        return int(self.scroll_y) <= self.cursor_row < int(self.scroll_y) + self.page

    def _scroll_to_cursor(self) -> None:
        top = int(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + self.page:
            self.scroll_to(y=self.cursor_row - self.page + 1, animate=False, immediate=True)

    def _refresh_row(self, row: int) -> None:
        y = row - int(self.scroll_y) + 1
        if 1 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    # -- mouse -----------------------------------------------------------------------------------------

    async def on_click(self, event: events.Click) -> None:
        """A click on a row puts the cursor there (a double click opens its detail); on the header, sorts by
        the column clicked (again: reversed)."""
        if event.y == 0:
            column = self._column_at(event.x)
            if column is not None:
                reverse = not self.index.reverse if column == self.index.sort_column else False
                await self.run_action(f"screen.sort_by({column!r}, {reverse})")
            return
        row = int(self.scroll_y) + event.y - 1
        if 0 <= row < len(self.index):
            self.focus()
            self.move_to(row)
            if event.chain >= 2:
                await self.run_action("screen.detail")

    def _column_at(self, x: int) -> str | None:
        left = 0
        for column, width in self._columns():
            if left <= x < left + width + 1:
                return column.key if column.key in SORTABLE else None
            left += width + 1
        return None

    def toggle_mark(self) -> None:
        if self.cursor_id is not None:
            self.marked ^= {self.cursor_id}
            self._refresh_row(self.cursor_row)

    def selected_ids(self) -> list[int]:
        """The marked jobs, or the one under the cursor."""
        if self.marked:
            return sorted(self.marked)
        return [self.cursor_id] if self.cursor_id is not None else []

    # -- rendering -------------------------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(f"jobtable--{name}", partial=True)
        return style

    def _columns(self) -> list[tuple[Column, int]]:
        shape = (self.scrollable_content_region.width, self.index.in_workflows > 0)
        if self._layout[0] != shape:
            self._layout = (shape, layout_columns(*shape))
        return self._layout[1]

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            cells = header_text(self._columns(), self.index.sort_column, self.index.reverse)
            return Strip([Segment(" ".join(cells), base + self._style("header"))]).adjust_cell_length(width, base)
        row = int(self.scroll_y) + y - 1
        job_id = self.index.id_at(row)
        job = self.index.rows.get(job_id) if job_id is not None else None
        if job is None:
            return Strip.blank(width, base)
        line_style = base
        if job.id in self.marked:
            line_style += self._style("marked")
        if row == self.cursor_row:
            line_style += self._style("cursor")
        now = self.clock()
        since = self.index.attempt_start(job)
        if since is None and self.index.lacks_attempt_start(job):
            self._want_attempt_start(job.id, job.attempts)
        segments = []
        for column, cell_width in self._columns():
            if column.key == "mark":
                text = "●" if job.id in self.marked else " "
            else:
                text = cell_text(job, column, cell_width, now, since)
            if column.key != "status":
                segments += [Segment(text, line_style), Segment(" ", line_style)]
                continue
            style = line_style + self._style(job.status)
            marks = len(flag_marks(job.flags, job.status))  # after the glyph, in the theme's warning colour
            if marks:
                flagged = line_style + self._style("flagged")
                segments += [Segment(text[:1], style), Segment(text[1 : 1 + marks], flagged)]
                text = text[1 + marks :]
            segments += [Segment(text, style), Segment(" ", line_style)]
        return Strip(segments).adjust_cell_length(width, line_style)

    def _want_attempt_start(self, job_id: int, attempt: int) -> None:
        """Ask for the start of a shown job's current attempt: once per attempt, in one message per repaint."""
        if self._asked.get(job_id) == attempt:
            return
        self._asked[job_id] = attempt
        if not self._wanted:
            self.call_after_refresh(self._send_wanted)
        self._wanted.add(job_id)

    def _send_wanted(self) -> None:
        wanted, self._wanted = sorted(self._wanted), set()
        if wanted:
            self.post_message(self.AttemptStartsWanted(wanted))
