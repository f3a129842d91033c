"""The TUI against a real engine: attach to a `jobtui --serve` daemon over its socket, see live changes, act,
and ride out the daemon going away and coming back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.api.discovery import attach, engine_running
from tui.app import JobTuiApp

ROOT = Path(__file__).resolve().parents[2]


def serve(state_dir: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "--serve", "--state-dir", str(state_dir)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not (engine_running(state_dir) and (state_dir / "engine.sock").exists()):
        assert time.monotonic() < deadline and proc.poll() is None, "jobtui --serve did not start"
        time.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(20)


async def until(pilot, condition, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


async def test_attach_act_and_reconnect(tmp_path):
    daemon = serve(tmp_path)
    cli = attach(tmp_path)
    try:
        await cli.submit([{"command": ["sleep", "30"], "name": "sleeper"}])
        app = JobTuiApp(attach(tmp_path), live=False, theme="dark")
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: 1 in app.index.rows)
            await cli.submit([{"command": ["sleep", "30"], "name": "second", "requires_approval": True}])
            await until(pilot, lambda: 2 in app.index.rows and app.index.rows[2].status == "blocked")
            await pilot.press("j", "a")  # approve job 2 through the TUI, over HTTP
            await until(pilot, lambda: app.index.rows[2].status in ("waiting", "starting", "running"))

            stop(daemon)  # the daemon goes away; its jobs keep running
            await until(pilot, lambda: "unreachable" in app.main.engine_note)
            daemon = serve(tmp_path)  # and comes back
            await until(pilot, lambda: app.main.engine_note == "")
            await pilot.press("g", "c")
            await pilot.pause()
            await pilot.press("y")
            await until(pilot, lambda: app.index.rows[1].status == "cancelled")
    finally:
        if daemon.poll() is None:
            for job_id in (1, 2):
                try:
                    await attach(tmp_path).cancel(job_id)
                except Exception:
                    pass
            stop(daemon)
        await cli.close()
    assert os.path.exists(tmp_path / "runs" / "1.1")  # job 1's first attempt ran
