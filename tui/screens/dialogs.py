"""Small modal dialogs: confirm, ask for a reason, show an error, and the quit question. Keyboard first:
every choice has a key and Escape always backs out. A confirmation focuses the action the user just asked
for, so Enter does it, and the dialog says so (a key hint in a label is escaped: `[y]` is markup otherwise).
"""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


def key_hint(label: str, keys: str) -> str:
    """A button label with its key, e.g. `Cancel jobs [y]`, as markup that shows the brackets."""
    return f"{escape(label)} \\[{escape(keys)}]"


class ConfirmScreen(ModalScreen[bool]):
    """Yes (`y`, or Enter: the yes button has the focus) or no (`n`, Escape)."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, title: str, message: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.title_text, self.message, self.yes, self.no = title, message, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, classes="dialog-body", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(key_hint(self.yes, "y, Enter"), id="yes", variant="error")
                yield Button(key_hint(self.no, "n, Esc"), id="no")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class ReasonScreen(ModalScreen[str | None]):
    """Ask for a (required) reason, e.g. to reject a job."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, title: str, prompt: str) -> None:
        super().__init__()
        self.title_text, self.prompt = title, prompt

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.prompt, classes="dialog-body", markup=False)
            yield Input(placeholder="reason (Enter to send, Esc to cancel)", id="reason")
            yield Label("", id="reason-error", classes="dialog-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.query_one("#reason-error", Label).update("a reason is required")
            return
        self.dismiss(event.value.strip())


class ErrorScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter,q", "dismiss(None)", "Close")]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text, self.message = title, message

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog dialog-error-box"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, classes="dialog-body", markup=False)
            yield Label("Enter or Esc closes", classes="dialog-hint")


class QuitScreen(ModalScreen[str | None]):
    """Asked when this TUI hosts the engine and jobs are still queued: leave them, or hand them to a daemon."""

    BINDINGS = [
        Binding("l", "dismiss('leave')", "Leave queued"),
        Binding("s", "dismiss('serve')", "Start daemon"),
        Binding("escape", "dismiss(None)", "Stay"),
    ]

    def __init__(self, queued: int, running: int) -> None:
        super().__init__()
        self.queued, self.running = queued, running

    def compose(self) -> ComposeResult:
        running = f" {self.running} running job(s) keep running either way." if self.running else ""
        text = (
            f"{self.queued} job(s) are still queued, and this TUI runs the engine.{running}\n\n"
            "[s] start `jobtui --serve` in the background on this state directory, so they run now\n"
            "[l] leave them queued: they start when an engine runs again (`jobtui` or `jobtui --serve`)\n"
            "[Esc] stay in the TUI"
        )
        with Vertical(classes="dialog"):
            yield Label("Quit jobtui?", classes="dialog-title")
            yield Static(text, classes="dialog-body", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(key_hint("Start daemon", "s"), id="serve", variant="primary")
                yield Button(key_hint("Leave queued", "l"), id="leave")
                yield Button(key_hint("Stay", "Esc"), id="stay")

    def on_mount(self) -> None:
        self.query_one("#serve", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "stay" else event.button.id)
