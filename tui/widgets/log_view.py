"""The log pane: a bounded, line-API view of one job's output with wrap, search and follow.

It keeps at most `MAX_LINES` lines (older ones drop off the top) of at most `MAX_LINE` characters, so
memory stays bounded whatever the job prints. The screen feeds it text; it never talks to the engine.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.keys import bindings

MAX_LINES = 5000
MAX_LINE = 2000


class LogView(ScrollView, can_focus=True):
    BINDINGS = bindings("log")
    COMPONENT_CLASSES = {"logview--match", "logview--current", "logview--info"}

    class Request(Message):
        """Ask the screen for something only it can do: `search`, `stream`, `follow` or `back`."""

        def __init__(self, what: str) -> None:
            super().__init__()
            self.what = what

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lines: list[str] = []
        self.partial = ""
        self.wrap = False
        self.follow = True
        self.term = ""
        self.matches: list[int] = []
        self.match_index = -1
        self.info = ""
        self._rows: list[tuple[int, int]] = []  # (line, start column) per screen row when wrapping
        self._rows_width = -1
        self._widest = 0

    # -- feeding -----------------------------------------------------------------------------------------

    def clear(self, info: str = "") -> None:
        self.lines, self.partial, self.matches, self.match_index, self._widest = [], "", [], -1, 0
        self.info = info
        self._relayout()

    def append(self, text: str) -> None:
        """Add output; `\\r` rewrites the current line (tqdm), so only the latest redraw stays."""
        if not text:
            return
        parts = (self.partial + text).split("\n")
        self.partial = parts.pop()
        for part in parts:
            redraws = [s for s in part.split("\r") if s]
            self.lines.append(redraws[-1][:MAX_LINE] if redraws else "")
            self._widest = max(self._widest, len(self.lines[-1]))
        if len(self.lines) > MAX_LINES + MAX_LINES // 10:
            del self.lines[: len(self.lines) - MAX_LINES]
        if self.term:
            self._find()
        self._relayout()

    def all_lines(self) -> list[str]:
        tail = self.partial.rsplit("\r", 1)[-1]
        return [*self.lines, tail] if tail else self.lines

    # -- modes ---------------------------------------------------------------------------------------------

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self._relayout()

    def action_toggle_stream(self) -> None:
        self.post_message(self.Request("stream"))

    def action_follow(self) -> None:
        self.follow = not self.follow
        self.notify(f"follow {'on' if self.follow else 'off'}", timeout=2)
        if self.follow:
            self.scroll_end(animate=False, immediate=True)

    def action_search(self) -> None:
        self.post_message(self.Request("search"))

    def action_back(self) -> None:
        self.post_message(self.Request("back"))

    def search(self, term: str) -> int:
        """Highlight `term` (case-insensitive) and jump to its last match; returns the match count."""
        self.term = term.lower()
        self._find()
        self.match_index = len(self.matches) - 1
        self._show_match()
        self.refresh()
        return len(self.matches)

    def action_next_match(self) -> None:
        self._step_match(1)

    def action_previous_match(self) -> None:
        self._step_match(-1)

    def _step_match(self, step: int) -> None:
        if self.matches:
            self.match_index = (self.match_index + step) % len(self.matches)
            self.follow = False
            self._show_match()

    def _find(self) -> None:
        self.matches = [i for i, line in enumerate(self.all_lines()) if self.term and self.term in line.lower()]

    def _show_match(self) -> None:
        if 0 <= self.match_index < len(self.matches):
            line = self.matches[self.match_index]
            row = next((r for r, (li, _) in enumerate(self._rows) if li == line), line) if self.wrap else line
            self.scroll_to(y=max(0, row - self.size.height // 2), animate=False, immediate=True)
            self.refresh()

    # -- layout and rendering ----------------------------------------------------------------------------

    def on_resize(self) -> None:
        self._relayout()

    def _relayout(self) -> None:
        width = max(1, self.scrollable_content_region.width)
        lines = self.all_lines()
        if self.wrap:
            self._rows = [(i, start) for i, line in enumerate(lines) for start in range(0, max(1, len(line)), width)]
            self.virtual_size = Size(width, len(self._rows) + 1)
        else:
            self._rows = []
            self.virtual_size = Size(max(width, self._widest), len(lines) + 1)
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            mode = f"{'wrap' if self.wrap else 'nowrap'}  {'follow' if self.follow else 'paused'}"
            found = f"  /{self.term}: {len(self.matches)} match(es)" if self.term else ""
            text = f" {self.info}  {mode}{found}"
            return Strip([Segment(text, base + self.get_component_rich_style("logview--info"))]).adjust_cell_length(
                width, base
            )
        row = int(self.scroll_y) + y - 1
        lines = self.all_lines()
        if self.wrap:
            if row >= len(self._rows):
                return Strip.blank(width, base)
            index, start = self._rows[row]
            text = lines[index][start : start + width]
        else:
            if row >= len(lines):
                return Strip.blank(width, base)
            index, start = row, int(self.scroll_x)
            text = lines[index][start : start + width]
        return Strip(self._highlight(text, index, base)).adjust_cell_length(width, base)

    def _highlight(self, text: str, index: int, base: Style) -> list[Segment]:
        if not self.term or self.term not in text.lower():
            return [Segment(text, base)]
        current = 0 <= self.match_index < len(self.matches) and self.matches[self.match_index] == index
        mark = base + self.get_component_rich_style("logview--current" if current else "logview--match")
        out, lower, pos = [], text.lower(), 0
        while (hit := lower.find(self.term, pos)) >= 0:
            out += [Segment(text[pos:hit], base), Segment(text[hit : hit + len(self.term)], mark)]
            pos = hit + len(self.term)
        out.append(Segment(text[pos:], base))
        return out
