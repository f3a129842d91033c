"""Every key binding of the TUI, each with a stable id users can remap in config `tui.keys`.

    tui:
      keys:
        jobs.cancel: ctrl+k        # binding id -> key (or "k1,k2" for several)

Scopes: `app` (everywhere), `jobs` (the main screen), `log` (the log pane when it has focus), `graph` (the
workflow graph, `d`).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True, slots=True)
class Key:
    id: str
    key: str
    action: str
    description: str
    scope: str
    show: bool = True
    priority: bool = False


KEYS: tuple[Key, ...] = (
    Key("app.quit", "q", "request_quit", "Quit", "app"),
    Key("app.help", "question_mark", "help", "Help", "app"),
    Key("app.palette", "colon", "command_palette", "Commands", "app"),
    Key("app.theme", "T", "next_theme", "Theme", "app"),
    Key("app.metrics", "M", "metrics", "Metrics", "app", show=False),
    Key("jobs.down", "j,down", "cursor_down", "Down", "jobs"),
    Key("jobs.up", "k,up", "cursor_up", "Up", "jobs"),
    Key("jobs.top", "g,home", "cursor_top", "Top", "jobs"),
    Key("jobs.bottom", "G,end", "cursor_bottom", "Bottom", "jobs"),
    Key("jobs.page_down", "ctrl+d,pagedown", "page_down", "Page down", "jobs", show=False),
    Key("jobs.page_up", "ctrl+u,pageup", "page_up", "Page up", "jobs", show=False),
    Key("jobs.detail", "enter", "detail", "Detail", "jobs"),
    Key("jobs.filter", "slash", "filter", "Filter", "jobs"),
    Key("jobs.sort", "full_stop", "sort_next", "Sort", "jobs"),
    Key("jobs.sort_reverse", "comma", "sort_reverse", "Reverse", "jobs"),
    Key("jobs.mark", "space", "mark", "Mark", "jobs"),
    Key("jobs.cancel", "c", "cancel_jobs", "Cancel", "jobs"),
    Key("jobs.approve", "a", "approve_jobs", "Approve", "jobs"),
    Key("jobs.reject", "x", "reject_jobs", "Reject", "jobs"),
    Key("jobs.requeue", "r", "requeue_jobs", "Requeue", "jobs"),
    Key("jobs.priority_up", "plus", "priority(5)", "Pri+5", "jobs"),
    Key("jobs.priority_down", "minus", "priority(-5)", "Pri-5", "jobs"),
    Key("jobs.submit", "s", "submit", "Submit", "jobs"),
    Key("jobs.logs", "l", "logs", "Logs", "jobs"),
    Key("jobs.follow", "f", "follow", "Follow", "jobs"),
    Key("jobs.report", "y", "failure_report", "Report", "jobs"),
    Key("jobs.panels", "p", "toggle_panels", "Panels", "jobs"),
    Key("jobs.workflow", "w", "workflow_filter", "Workflow", "jobs"),
    Key("jobs.graph", "d", "workflow_graph", "DAG", "jobs"),
    Key("jobs.close", "escape", "close", "Back", "jobs"),
    Key("log.search", "slash", "search", "Search", "log"),
    Key("log.next", "n", "next_match", "Next", "log"),
    Key("log.previous", "N", "previous_match", "Prev", "log"),
    Key("log.wrap", "w", "toggle_wrap", "Wrap", "log"),
    Key("log.stream", "o", "toggle_stream", "Out/err", "log"),
    Key("log.follow", "f", "follow", "Follow", "log"),
    Key("log.down", "j", "scroll_down", "Down", "log", show=False),
    Key("log.up", "k", "scroll_up", "Up", "log", show=False),
    Key("log.top", "g", "scroll_home", "Top", "log", show=False),
    Key("log.bottom", "G", "scroll_end", "End", "log", show=False),
    Key("log.back", "escape", "back", "Back", "log"),
    Key("graph.down", "j,down", "move_level(1)", "Down", "graph", show=False),
    Key("graph.up", "k,up", "move_level(-1)", "Up", "graph", show=False),
    Key("graph.next", "l,right", "move_job(1)", "Next", "graph", show=False),
    Key("graph.previous", "h,left", "move_job(-1)", "Prev", "graph", show=False),
    Key("graph.top", "g,home", "move_end(False)", "First", "graph", show=False),
    Key("graph.bottom", "G,end", "move_end(True)", "Last", "graph", show=False),
    Key("graph.goto", "enter", "goto", "In table", "graph"),
    Key("graph.refresh", "r", "refresh", "Refresh", "graph"),
    Key("graph.close", "escape,q", "close", "Close", "graph"),
)
BY_ID = {k.id: k for k in KEYS}
# The main screen's footer, most used first; it fits 80 columns (tests/tui/test_rough_edges.py checks it).
# Every other binding of the `app` and `jobs` scopes is in `?` help only.
FOOTER = (
    "jobs.detail",
    "jobs.filter",
    "jobs.logs",
    "jobs.cancel",
    "jobs.requeue",
    "jobs.submit",
    "app.help",
    "app.quit",
)
FOOTER_SCOPES = ("app", "jobs")


def bindings(scope: str) -> list[BindingType]:
    """Textual bindings for one scope; the app's keymap (config `tui.keys`) overrides keys by id."""
    keys = [k for k in KEYS if k.scope == scope]
    if scope in FOOTER_SCOPES:  # the footer shows bindings in their order: its own first, in FOOTER's order
        keys.sort(key=lambda k: FOOTER.index(k.id) if k.id in FOOTER else len(FOOTER))
    return [Binding(k.key, k.action, k.description, show=_shown(k), id=k.id, priority=k.priority) for k in keys]


def _shown(key: Key) -> bool:
    return key.id in FOOTER if key.scope in FOOTER_SCOPES else key.show


def check_keymap(keymap: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The usable part of a user keymap, and one message per entry that names no binding."""
    good = {k: v for k, v in keymap.items() if k in BY_ID and v.strip()}
    bad = [
        f"tui.keys: {k!r} is not a binding id (see `?` for the ids)"
        if k not in BY_ID
        else f"tui.keys: {k!r} has no key"
        for k, v in keymap.items()
        if k not in good
    ]
    return good, bad


def key_for(keymap: dict[str, str], binding_id: str) -> str:
    """The key(s) a binding uses once the keymap is applied."""
    return keymap.get(binding_id) or BY_ID[binding_id].key
