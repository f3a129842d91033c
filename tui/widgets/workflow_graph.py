"""The workflow graph widget: `tui.workflow_layout`'s lines on Textual's line API, with a cursor on a job.

Colours come from component classes styled in app.tcss beside the job table's (one rule per status serves
both), so a job reads the same colour in the table and in the graph, in every theme.
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui import workflow_layout as wl
from tui.formatting import STATUS_ORDER


class WorkflowGraph(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {
        "wfgraph--level",
        "wfgraph--mark",
        "wfgraph--critical",
        "wfgraph--cursor",
        "wfgraph--parent",
        *(f"wfgraph--{status}" for status in STATUS_ORDER),
    }

    class Selected(Message):
        """The cursor is on another job."""

        def __init__(self, job_id: int | None) -> None:
            super().__init__()
            self.job_id = job_id

    def __init__(self, detail: dict[str, Any], selected: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.detail = detail
        self.selected = selected
        self._layout: tuple[int, wl.GraphLayout] | None = None
        self._parents: set[int] = wl.parents_of(detail, selected)
        self._styles: dict[str, Style] = {}
        self._column = 0  # the place in its level the cursor keeps when it moves up or down

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._restyle())
        if self.selected not in wl.jobs_by_id(self.detail):
            levels = wl.levels_of(self.detail)
            self.selected = levels[0][1][0] if levels else None
        self._parents = wl.parents_of(self.detail, self.selected)
        where = self._current().position(self.selected) if self.selected is not None else None
        self._column = where[1] if where else 0
        self.call_after_refresh(self._show_cursor)

    def _restyle(self) -> None:
        self._styles.clear()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()

    def style_of(self, names: tuple[str, ...]) -> Style:
        """The rich style of a piece (its style names combined in order)."""
        style = Style()
        for name in names:
            cached = self._styles.get(name)
            if cached is None:
                component = f"wfgraph--{name}"
                known = component in self.COMPONENT_CLASSES
                cached = self.get_component_rich_style(component, partial=True) if known else Style()
                self._styles[name] = cached
            style += cached
        return style

    def text_of(self, pieces: list[wl.Piece]) -> Text:
        """Pieces as a rich `Text` (plain text with styles: nothing in them is read as markup)."""
        text = Text(no_wrap=True, overflow="ellipsis")
        for content, names in pieces:
            text.append(content, self.style_of(names))
        return text

    # -- data --------------------------------------------------------------------------------------------

    def show(self, detail: dict[str, Any]) -> None:
        """New data (a fresh fetch, or statuses changed in place): lay out again, keep the cursor's job."""
        self.detail = detail
        jobs = wl.jobs_by_id(detail)
        if self.selected not in jobs:
            levels = wl.levels_of(detail)
            self.selected = levels[0][1][0] if levels else None
            self.post_message(self.Selected(self.selected))
        self._parents = wl.parents_of(detail, self.selected)
        self._relayout()
        self.refresh()

    def _current(self) -> wl.GraphLayout:
        width = self.scrollable_content_region.width
        if self._layout is None or self._layout[0] != width:
            self._layout = (width, wl.layout(self.detail, width))
        return self._layout[1]

    def _relayout(self) -> None:
        self._layout = None
        graph = self._current()
        self.virtual_size = Size(self.scrollable_content_region.width, len(graph.lines))

    def on_resize(self) -> None:
        self._relayout()
        self._show_cursor()

    # -- cursor ------------------------------------------------------------------------------------------

    def select(self, job_id: int | None) -> None:
        if job_id is None or job_id == self.selected:
            return
        self.selected = job_id
        self._parents = wl.parents_of(self.detail, job_id)
        self.refresh()
        self._show_cursor()
        self.post_message(self.Selected(job_id))

    def _show_cursor(self) -> None:
        line = self._current().line_of.get(self.selected) if self.selected is not None else None
        if line is not None:
            self.scroll_to_region(Region(0, line, 1, 1), animate=False, immediate=True)

    def move_level(self, delta: int) -> None:
        """Up or down a level, to the job at about the same place."""
        graph = self._current()
        where = graph.position(self.selected) if self.selected is not None else None
        if where is None:
            return
        level = max(0, min(len(graph.levels) - 1, where[0] + delta))
        if level != where[0]:
            ids = graph.levels[level]
            self.select(ids[min(self._column, len(ids) - 1)])

    def move_job(self, delta: int) -> None:
        """To the previous or next job, level by level."""
        order = [job_id for level in self._current().levels for job_id in level]
        if self.selected in order:
            self.select(order[max(0, min(len(order) - 1, order.index(self.selected) + delta))])
            where = self._current().position(self.selected) if self.selected is not None else None
            self._column = where[1] if where else 0

    def move_end(self, last: bool) -> None:
        order = [job_id for level in self._current().levels for job_id in level]
        if order:
            self.select(order[-1] if last else order[0])
            self._column = 0

    # -- rendering ---------------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        graph = self._current()
        row = int(self.scroll_y) + y
        if not 0 <= row < len(graph.lines):
            return Strip.blank(width, base)
        pieces = graph.line(row, self.selected, self._parents)
        segments = [Segment(content, base + self.style_of(names)) for content, names in pieces]
        return Strip(segments).adjust_cell_length(width, base)
