"""`?` help: every binding, its key (after the user's remaps) and its id for config `tui.keys`."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from tui.keys import KEYS, key_for

SCOPES = {
    "app": "Everywhere",
    "jobs": "Job table",
    "log": "Log pane (after l, Tab to focus)",
    "graph": "Workflow graph (after d)",
}
FILTER_HELP = (
    "Filter (/): words match the name or id; status:running,failed  user:ann  node:gpu*  tag:x  wf:3 "
    "(a workflow; w sets it to the selected job's); !term negates; Enter keeps it, Esc clears it."
)


def help_text(keymap: dict[str, str]) -> str:
    lines = []
    for scope, title in SCOPES.items():
        lines.append(f"[b]{title}[/b]")
        for k in (k for k in KEYS if k.scope == scope):
            keys = key_for(keymap, k.id).replace("question_mark", "?").replace("full_stop", ".")
            lines.append(f"  {keys:<18} {k.description:<12} [dim]{k.id}[/dim]")
    lines += ["", FILTER_HELP, "Remap keys in the config file:  tui: {keys: {jobs.cancel: ctrl+k}}"]
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss(None)", "Close")]

    def __init__(self, keymap: dict[str, str]) -> None:
        super().__init__()
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Label("Keys  (Esc closes)", classes="dialog-title")
            yield Static(help_text(self.keymap), classes="dialog-body")
