"""`:` command palette entries (Textual's palette): job verbs, sorting, quick filters, themes, panes."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.formatting import SORTABLE, STATUS_ORDER


class JobCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app = self.app
        act = app.run_action
        out: list[tuple[str, Callable[[], object], str]] = [
            ("jobs: cancel selected", partial(act, "screen.cancel_jobs"), "c"),
            ("jobs: approve selected", partial(act, "screen.approve_jobs"), "a"),
            ("jobs: reject selected", partial(act, "screen.reject_jobs"), "x"),
            ("jobs: requeue selected", partial(act, "screen.requeue_jobs"), "r"),
            ("jobs: submit a job", partial(act, "screen.submit"), "s"),
            ("show: detail", partial(act, "screen.detail"), "Enter"),
            ("show: logs", partial(act, "screen.logs"), "l"),
            ("show: nodes and GPU panels", partial(act, "screen.toggle_panels"), "p"),
            ("show: metrics (rates, run and wait times, running/queued sparklines)", partial(act, "app.metrics"), "M"),
            ("show: the selected job's workflow graph (DAG)", partial(act, "screen.workflow_graph"), "d"),
            ("filter: the selected job's workflow (again: all)", partial(act, "screen.workflow_filter"), "w"),
            ("filter: clear", partial(act, "screen.apply_filter('')"), ""),
        ]
        out += [(f"filter: {s}", partial(act, f"screen.apply_filter('status:{s}')"), "") for s in STATUS_ORDER]
        out += [(f"sort by {c}", partial(act, f"screen.sort_by('{c}')"), ".") for c in SORTABLE]
        out += [(f"theme: {name}", partial(setattr, app, "theme", name), "T") for name in sorted(app.available_themes)]
        return out

    async def discover(self) -> Hits:
        for name, callback, key in self._commands():
            yield DiscoveryHit(name, callback, help=f"key {key}" if key else None)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, key in self._commands():
            if (score := matcher.match(name)) > 0:
                yield Hit(score, matcher.highlight(name), callback, help=f"key {key}" if key else None)
