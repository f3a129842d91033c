"""The submit dialog: command, name, priority, cpus, memory, after, requires approval -> one job spec."""

from __future__ import annotations

import shlex
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label

FIELDS = (
    ("command", "command", "e.g. python train.py --epochs 10"),
    ("name", "name", "optional"),
    ("priority", "priority", "0-100, optional"),
    ("cpus", "cpus", "optional"),
    ("mem", "memory", "e.g. 4G, 512M; optional"),
    ("after", "after", "job ids, e.g. 12 13; optional"),
)


def build_spec(values: dict[str, str], requires_approval: bool) -> dict[str, Any]:
    """A job spec from the form's text; ValueError names the field and what to write instead."""
    try:
        command = shlex.split(values.get("command", ""))
    except ValueError as e:
        raise ValueError(f"command: cannot split it ({e}); check its quotes") from e
    if not command:
        raise ValueError("command: give the command to run")
    spec: dict[str, Any] = {"command": command}
    if values.get("name", "").strip():
        spec["name"] = values["name"].strip()
    for key in ("priority", "cpus"):
        text = values.get(key, "").strip()
        if text:
            if not text.isdigit():
                raise ValueError(f"{key}: write a whole number, not {text!r}")
            spec[key] = int(text)
    if values.get("mem", "").strip():
        spec["mem_mb"] = values["mem"].strip()
    after = values.get("after", "").replace(",", " ").split()
    if not all(a.lstrip("#").isdigit() for a in after):
        raise ValueError(f"after: write job ids separated by spaces, not {values['after']!r}")
    spec["after"] = [int(a.lstrip("#")) for a in after]
    if requires_approval:
        spec["requires_approval"] = True
    return spec


class SubmitScreen(ModalScreen[dict[str, Any] | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel"), Binding("ctrl+s", "send", "Submit")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog submit"):
            yield Label("Submit a job  (Tab moves, Enter or Ctrl+S submits, Esc cancels)", classes="dialog-title")
            for key, label, hint in FIELDS:
                with Horizontal(classes="field"):
                    yield Label(label, classes="field-label")
                    yield Input(placeholder=hint, id=f"f-{key}")
            yield Checkbox("requires approval", id="f-approval")
            yield Label("", id="submit-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Submit", id="send", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_input_submitted(self) -> None:
        self.action_send()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "send":
            self.action_send()
        else:
            self.dismiss(None)

    def action_send(self) -> None:
        values = {key: self.query_one(f"#f-{key}", Input).value for key, _, _ in FIELDS}
        try:
            spec = build_spec(values, self.query_one("#f-approval", Checkbox).value)
        except ValueError as e:
            self.query_one("#submit-error", Label).update(str(e))
            return
        self.dismiss(spec)
