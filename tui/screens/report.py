"""The failure report dialog (`y`): the report in a read-only text area, already copied to the clipboard.

The terminal's clipboard is set with OSC 52 (Textual's `copy_to_clipboard`), which most terminals and the
browser view honour; where one does not, the text area lets the user select (mouse, shift+arrows) and copy.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, TextArea


class ReportScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "dismiss(None)", "Close"), Binding("y", "copy_all", "Copy again")]

    def __init__(self, job_id: int, text: str) -> None:
        super().__init__()
        self.job_id, self.text = job_id, text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog report"):
            yield Label(f"Report of job #{self.job_id}: copied to the clipboard", classes="dialog-title")
            yield TextArea(self.text, read_only=True, show_line_numbers=False, id="report-text")
            yield Label(
                "select with the mouse or shift+arrows and ctrl+c; y copies it all again; Esc closes",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        self.app.copy_to_clipboard(self.text)
        self.query_one(TextArea).focus()

    def action_copy_all(self) -> None:
        self.app.copy_to_clipboard(self.text)
        self.notify("report copied to the clipboard", timeout=2)
