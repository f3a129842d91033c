"""`jobtui --token FILE` and `$JOBTUI_TOKEN` open the TUI as that token's user, as they do for the verbs.

Each test goes the way a user does: `tui.cli.main(argv)` against a real `jobtui --serve`, with the app's
`run_async` swapped for a headless run (`run_test`) that drives it and records what it saw.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.engine import Daemon
from tui.app import JobTuiApp
from tui.cli import main


async def _until(pilot: Any, condition: Any, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the TUI opened by `main()` saw: its user and role, and its refusal when asked to approve job 1."""
    seen: dict[str, Any] = {}

    async def run_headless(app: JobTuiApp, **_: Any) -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await _until(pilot, lambda: app.capabilities is not None and 1 in app.index.rows)
            seen.update(user=app.user, role=app.role, hosting=app.hosting)
            await pilot.press("a")  # approve the owner's blocked job 1
            await pilot.pause(0.2)
            seen["refusals"] = [n.message for n in app._notifications if n.title == "Not allowed"]
        return None

    monkeypatch.setattr(JobTuiApp, "run_async", run_headless)
    for name in ("JOBTUI_TOKEN", "JOBTUI_SOCKET", "JOBTUI_HOME"):
        monkeypatch.delenv(name, raising=False)
    return seen


@pytest.fixture
def served(daemon: Daemon) -> Daemon:
    """A daemon holding job 1: the owner's, awaiting approval (it never starts)."""
    done = daemon.cli("submit", "--requires-approval", "--", "sleep", "30")
    assert done.returncode == 0, done.stderr
    return daemon


def test_tui_with_token_file_is_that_user(served: Daemon, seen: dict[str, Any], tmp_path: Path) -> None:
    token_file = tmp_path / "ann.token"
    token_file.write_text(served.issue_token("ann") + "\n")

    assert main(["--state-dir", str(served.state_dir), "--token", str(token_file)]) == 0
    assert seen["user"] == "ann" and seen["role"] == "researcher" and seen["hosting"] is False
    assert seen["refusals"] == ["you are ann (researcher); your role may not approve jobs."]


def test_tui_with_token_env_is_that_user_and_without_is_the_owner(
    served: Daemon, seen: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["--state-dir", str(served.state_dir)]) == 0  # no token: the owner's, from the state dir
    assert seen["user"] == getpass.getuser() and seen["role"] == "admin" and seen["refusals"] == []

    monkeypatch.setenv("JOBTUI_TOKEN", served.issue_token("bob"))
    seen.clear()
    assert main(["--state-dir", str(served.state_dir)]) == 0
    assert seen["user"] == "bob" and seen["role"] == "researcher"
    assert seen["refusals"] == ["you are bob (researcher); your role may not approve jobs."]


def test_serve_still_refuses_a_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token_file = tmp_path / "t"
    token_file.write_text("x\n")
    assert main(["--serve", "--state-dir", str(tmp_path / "s"), "--token", str(token_file)]) == 2
    assert "--serve runs the engine as its owner" in capsys.readouterr().err
