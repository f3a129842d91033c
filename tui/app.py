"""`JobTuiApp`: the Textual app over an `EngineClient`, and `run_app`, which finds or hosts the engine.

The app holds the client, the job index and the event bridge; screens get data through attributes and
`apply_*` calls and send intent back through actions and messages.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual.app import App

from engine.api.client import EngineClient
from engine.config import Config
from engine.errors import JobTuiError
from engine.models import ACTIVE_NAMES, QUEUED_NAMES
from tui import themes as theme_files
from tui.app_base import JobAppBase
from tui.bridge import EngineStatus, EventBridge, JobsChanged, SettingsChanged, SnapshotLoaded
from tui.context import start_daemon
from tui.keys import bindings, check_keymap
from tui.screens.connecting import ConnectingScreen, StartingEngine, starting_engine, wait_until_serving
from tui.screens.dialogs import QuitScreen
from tui.screens.help import HelpScreen
from tui.screens.main import MainScreen
from tui.screens.metrics import MetricsScreen
from tui.screens.palette import JobCommands
from tui.screens.workflow import WorkflowScreen
from tui.widgets.job_index import JobIndex
from tui.widgets.panels import GpuPanel, NodesPanel

NODES_EVERY = 2.0  # nodes and their GPUs, as the engine sees them
TICK_EVERY = 1.0


class JobTuiApp(JobAppBase):
    """Returns "serve" when the user asked to hand queued jobs to a `jobtui --serve` daemon."""

    CSS_PATH = "app.tcss"
    TITLE = "jobtui"
    BINDINGS = bindings("app")
    COMMANDS = App.COMMANDS | {JobCommands}
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        client: EngineClient,
        *,
        hosting: bool = False,
        theme: str | None = None,
        keymap: dict[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        live: bool = True,
        starting: StartingEngine | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self.starting = starting  # an engine still starting: the console opens once it answers `client`
        self.hosting = hosting
        self.clock = clock
        self.live = live
        self.index = JobIndex()
        self.user: str | None = None
        self.role: str | None = None
        self.capabilities: dict[str, bool] | None = None
        self.keymap, self._problems = check_keymap(keymap or {})
        self.theme_set = theme_files.load_themes()
        self._theme_choice = theme_files.resolve(theme, self.theme_set)
        self.bridge = EventBridge(client, self.post_message)
        self.nodes: list[dict[str, Any]] | None = None  # None: not heard from the engine yet

    @property
    def main(self) -> MainScreen:
        return self.get_screen("main", MainScreen)

    def on_mount(self) -> None:
        for theme in self.theme_set.themes.values():
            self.register_theme(theme)
        self.theme = self._theme_choice
        self.set_keymap(self.keymap)
        if self.starting is not None:  # an engine still loading its store: say so until it answers
            self.push_screen(ConnectingScreen(self.starting.state_dir, self.starting.jobs))
            self.run_worker(self._connect(self.starting), group="startup")
        else:
            self._open_console()

    async def _connect(self, starting: StartingEngine) -> None:
        try:
            await wait_until_serving(self.client, starting.state_dir)
            if starting.on_ready is not None:
                await starting.on_ready()
        except JobTuiError as e:
            if isinstance(self.screen, ConnectingScreen):
                self.screen.failed(e)
            return
        self._open_console(replace=True)

    def _open_console(self, replace: bool = False) -> None:
        """The main screen, fed by the event bridge (`replace`: in place of the connecting screen)."""
        self.install_screen(MainScreen(), "main")
        if replace:
            self.switch_screen("main")
        else:
            self.push_screen("main")
        for problem in self.theme_set.errors + self._problems:
            self.notify(problem, title="Config problem", severity="warning", timeout=10)
        self.bridge.start()
        self.run_worker(self._who_am_i(), group="startup")
        if self.live:
            self.set_interval(NODES_EVERY, self._refresh_nodes)
            self.set_interval(TICK_EVERY, self._tick)

    async def _who_am_i(self) -> None:
        with contextlib.suppress(JobTuiError):
            me = await self.client.me()
            self.user = me.get("user")
            self.role = me.get("role")
            self.capabilities = me.get("capabilities")

    # -- from the bridge ---------------------------------------------------------------------------------

    def on_snapshot_loaded(self, message: SnapshotLoaded) -> None:
        self.index.load(message.rows)
        message.rows = []
        self.main.limits = message.limits
        self.main.loading_jobs = message.loading
        self.nodes = message.nodes
        self._show_side()
        self.main.apply_snapshot()
        for graph in self._graphs():
            graph.reload(0.0)

    def on_jobs_changed(self, message: JobsChanged) -> None:
        order_changed = self.index.remove(message.removed)
        order_changed = self.index.update(message.rows) or order_changed
        self.main.apply_changes(message.rows, order_changed, message.removed)
        for graph in self._graphs():
            graph.apply_changes(message.rows, message.removed)

    def _graphs(self) -> list[WorkflowScreen]:
        """Open workflow screens: they follow their jobs' changes too."""
        return [screen for screen in self.screen_stack if isinstance(screen, WorkflowScreen)]

    def on_settings_changed(self, message: SettingsChanged) -> None:
        if message.limits is not None:
            self.main.limits = message.limits
            self.main.update_stats()
        if message.nodes_sampled:
            self.run_worker(self._refresh_nodes(), group="nodes", exclusive=True)

    def on_engine_status(self, message: EngineStatus) -> None:
        if message.connected:
            if self.main.engine_note:
                self.notify("reconnected to the engine", timeout=3)
            self.main.set_engine_note("")
        else:
            self.main.set_engine_note("engine unreachable: retrying")
            self.notify(message.detail, title="Engine lost", severity="error", timeout=8)

    # -- periodic: nodes (and their GPUs), clock ----------------------------------------------------------

    async def _refresh_nodes(self) -> None:
        if self.bridge.connected:
            with contextlib.suppress(JobTuiError):
                self.nodes = await self.client.nodes()
                self._show_side()

    def _show_side(self) -> None:
        screen = self.main
        screen.query_one("#nodes", NodesPanel).show_nodes(self.nodes or [])
        screen.query_one("#gpus", GpuPanel).show_gpus(self.nodes)

    def _tick(self) -> None:
        """Elapsed times move: repaint the visible rows once a second when one of them runs."""
        table = self.main.table
        rows = self.index.rows
        if any(rows[i].status in ACTIVE_NAMES for i in table.visible_ids() if i in rows):
            table.refresh()

    # -- global actions ----------------------------------------------------------------------------------

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.keymap))

    def action_metrics(self) -> None:
        if not isinstance(self.screen, MetricsScreen):
            self.push_screen(MetricsScreen(self.client, self.live))

    def action_next_theme(self) -> None:
        names = sorted(self.theme_set.themes) or [theme_files.FALLBACK]
        self.theme = names[(names.index(self.theme) + 1) % len(names)] if self.theme in names else names[0]
        self.notify(f"theme: {self.theme}", timeout=2)

    def action_request_quit(self) -> None:
        queued = sum(self.index.counts[s] for s in QUEUED_NAMES)
        running = sum(self.index.counts[s] for s in ACTIVE_NAMES)
        if not (self.hosting and queued):
            self.exit(None)
            return

        def leave(choice: str | None) -> None:
            if choice:
                self.exit(choice)

        self.push_screen(QuitScreen(queued, running), leave)

    async def on_unmount(self) -> None:
        await self.bridge.stop()


# -- running it ------------------------------------------------------------------------------------------


def run_app(config: Config, state_dir: Path, args: argparse.Namespace, token: str | None = None) -> int:
    """`jobtui` with no verb: attach to the engine on `state_dir`, or host one for as long as the TUI runs.

    With a `token` (`--token FILE`, `$JOBTUI_TOKEN`), attach as its user; never host.
    """
    return asyncio.run(_run(config, state_dir, args, token))


async def _run(config: Config, state_dir: Path, args: argparse.Namespace, token: str | None) -> int:
    from tui.context import host_or_attach
    from tui.jobfile import read_jobs

    host: Any = None
    starting = starting_engine(state_dir, token)  # a daemon loading its store: the app waits for it
    if starting is not None:
        client: EngineClient = starting[0]
    else:
        client, host = await host_or_attach(config, state_dir, token=token)
    try:

        async def submit_file() -> None:
            if getattr(args, "submit_file", None):
                found = read_jobs(args.submit_file)
                await client.submit(found.jobs, workflow=found.workflow_info)

        if starting is None:
            await submit_file()
        app = JobTuiApp(
            client,
            hosting=host is not None,
            theme=getattr(args, "theme", None) or config.tui.theme,
            keymap=config.tui.keys,
            starting=replace(starting[1], on_ready=submit_file) if starting is not None else None,
        )
        choice = await app.run_async()
        counts = app.index.counts
    finally:
        await client.close()
        if host is not None:
            await host.stop()
    return _after_quit(choice, counts, state_dir, args)


def _after_quit(choice: str | None, counts: Any, state_dir: Path, args: argparse.Namespace) -> int:
    running = sum(counts[s] for s in ACTIVE_NAMES)
    queued = sum(counts[s] for s in QUEUED_NAMES)
    if running:
        print(f"jobtui: {running} job(s) keep running; `jobtui` re-attaches to them.")
    if choice == "serve":
        start_daemon(state_dir, getattr(args, "config", None))
        print(f"jobtui: started `jobtui --serve` on {state_dir} for {queued} queued job(s); log: {state_dir}/serve.log")
    elif queued and choice == "leave":
        print(f"jobtui: {queued} job(s) stay queued until an engine runs (`jobtui` or `jobtui --serve`).")
    return 0


__all__ = ["JobTuiApp", "run_app", "start_daemon"]
