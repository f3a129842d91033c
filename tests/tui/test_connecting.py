"""While a real engine starts (its state directory locked, its socket not there yet, as while a daemon loads
a large store), the TUI shows a "connecting" screen with the jobs it loads, and opens the console once the
engine answers. Real engine, real SQLite store, real lock and Unix socket."""

from __future__ import annotations

from pathlib import Path

from engine.api.daemon import EngineHost, StateLock
from engine.api.starting import engine_starting, stored_jobs
from tests.fixtures.engine import make_config
from tests.tui.fakes import T0
from tui.app import JobTuiApp
from tui.screens.connecting import ConnectingScreen, starting_engine
from tui.screens.main import MainScreen


async def _store_with_jobs(state_dir: Path, count: int) -> None:
    host = EngineHost(make_config(), state_dir)
    await host.start()
    try:
        specs = [{"command": ["true"], "name": f"held-{i}", "requires_approval": True} for i in range(count)]
        await host.client().submit(specs)
    finally:
        await host.stop()


async def test_connecting_screen_until_the_starting_engine_serves(tmp_path):
    state_dir = tmp_path / "state"
    await _store_with_jobs(state_dir, 3)
    lock = StateLock(state_dir)
    lock.acquire()  # an engine starting: the lock is held, no socket yet
    try:
        assert engine_starting(state_dir) and stored_jobs(state_dir) == 3
        found = starting_engine(state_dir, None)
        assert found is not None
        client, starting = found
        app = JobTuiApp(client, clock=lambda: T0, live=False, theme="dark", starting=starting)
        host = EngineHost(make_config(), state_dir)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause(0.3)
            assert isinstance(app.screen, ConnectingScreen)
            title = str(app.screen.query_one("#connecting").render())
            assert title == "Connecting to the engine (loading 3 jobs)"
            lock.release()
            await host.start()  # takes the lock at once (no await before it): the engine was never absent
            try:
                for _ in range(200):
                    if isinstance(app.screen, MainScreen) and len(app.index.rows) == 3:
                        break
                    await pilot.pause(0.05)
                assert isinstance(app.screen, MainScreen)
                assert sorted(r.name for r in app.index.rows.values()) == ["held-0", "held-1", "held-2"]
            finally:
                await app.bridge.stop()
                await host.stop()
        await client.close()
    finally:
        lock.release()


async def test_connecting_screen_says_when_the_engine_stopped_starting(tmp_path):
    state_dir = tmp_path / "state"
    await _store_with_jobs(state_dir, 1)
    lock = StateLock(state_dir)
    lock.acquire()
    found = starting_engine(state_dir, None)
    assert found is not None
    client, starting = found
    app = JobTuiApp(client, clock=lambda: T0, live=False, theme="dark", starting=starting)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.3)
        lock.release()  # the engine gave up before it served
        for _ in range(100):
            if "Could not connect" in str(app.screen.query_one("#connecting").render()):
                break
            await pilot.pause(0.05)
        assert "stopped while it was starting" in str(app.screen.query_one(".dialog-body").render())
        await pilot.press("q")
    await client.close()
