"""While the engine starts (a daemon loading a large store holds the state directory but serves no socket
yet): a screen that says so and how many jobs it loads, then gives way to the console once it answers.
"""

from __future__ import annotations

import asyncio
import getpass
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Label, LoadingIndicator, Static

from engine.api.client import EngineClient, HttpClient
from engine.api.discovery import SOCKET_NAME, engine_running, shared_engine_reachable
from engine.api.starting import engine_serving, engine_starting, stored_jobs
from engine.api.tokens import read_owner_token
from engine.errors import EngineUnavailable, JobTuiError

POLL = 0.25


@dataclass(frozen=True)
class StartingEngine:
    """The engine the app waits for: on `state_dir`, loading `jobs` jobs; `on_ready` runs once it answers."""

    state_dir: Path
    jobs: int | None
    on_ready: Callable[[], Awaitable[None]] | None = None


def starting_engine(state_dir: Path, token: str | None) -> tuple[HttpClient, StartingEngine] | None:
    """Where an engine is starting on `state_dir` (not a shared one): a client for when it serves, and what
    the connecting screen shows. None when none is starting, or its owner's token is not there yet (a first
    start: its store is new, so it serves at once)."""
    if shared_engine_reachable() or not engine_starting(state_dir):
        return None
    token = token or read_owner_token(state_dir)
    if token is None:
        return None
    client = HttpClient(state_dir / SOCKET_NAME, token, getpass.getuser())
    return client, StartingEngine(state_dir, stored_jobs(state_dir))


async def wait_until_serving(client: EngineClient, state_dir: Path, poll: float = POLL) -> None:
    """Return once the engine starting on `state_dir` answers `client`; EngineUnavailable if it stops first."""
    while True:
        if engine_serving(state_dir):
            try:
                await client.limits()
                return
            except EngineUnavailable:  # the socket is there, its server not yet
                pass
        elif not engine_running(state_dir):
            raise EngineUnavailable(
                f"the engine on {state_dir} stopped while it was starting; its log ({state_dir}/serve.log, for "
                "`jobtui --serve`) says why. Run `jobtui` again to start one here."
            )
        await asyncio.sleep(poll)


class ConnectingScreen(Screen[None]):
    """Shown until `connect` returns; an error stays on screen until the user quits (q, Esc)."""

    BINDINGS = [Binding("q,escape", "app.exit", "Quit")]

    def __init__(self, state_dir: Path, jobs: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.state_dir, self.jobs, self.clock = state_dir, jobs, clock
        self.since = clock()

    def compose(self) -> ComposeResult:
        loading = f"loading {self.jobs:,} jobs" if self.jobs is not None else "loading its jobs"
        with Vertical(classes="dialog connecting"):
            yield Label(f"Connecting to the engine ({loading})", classes="dialog-title", markup=False, id="connecting")
            yield Static(
                f"An engine is starting on {self.state_dir}: it serves once its store is loaded. "
                "The console opens by itself then.",
                classes="dialog-body",
                markup=False,
            )
            yield LoadingIndicator()
            yield Label("", classes="dialog-hint", id="connecting-hint")

    def on_mount(self) -> None:
        self._timer = self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        waited = int(self.clock() - self.since)
        self.query_one("#connecting-hint", Label).update(f"waiting {waited}s; q quits")

    def failed(self, error: JobTuiError) -> None:
        self._timer.stop()
        self.query_one(LoadingIndicator).display = False
        self.query_one("#connecting", Label).update(f"Could not connect: {error.title}")
        self.query_one(".dialog-body", Static).update(error.message)
        self.query_one("#connecting-hint", Label).update("q quits")
