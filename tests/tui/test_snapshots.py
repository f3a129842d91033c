"""Snapshot tests at fixed sizes (fixed clock, no timers). Regenerate with `pytest --snapshot-update`."""

from __future__ import annotations

import pytest

from tests.tui.fakes import FakeClient, fake_app, loaded, make_job, workflow_jobs, workflow_record
from tui.screens.dialogs import ErrorScreen


def populated(**kwargs) -> FakeClient:
    jobs = [make_job(i) for i in range(1, 40)]
    jobs[3]["progress"]["text"] = "Step 3 of 10"
    client = FakeClient(jobs, **kwargs)
    client.logs_text[1] = "".join(f"epoch {i}: loss {1 / (i + 1):.4f}\n" for i in range(60))
    return client


async def _loaded(pilot) -> None:
    await loaded(pilot)


def test_empty(snap_compare):
    assert snap_compare(fake_app(FakeClient(0)), terminal_size=(120, 30), run_before=_settle)


async def _settle(pilot) -> None:
    await pilot.pause(0.2)


def test_populated(snap_compare):
    assert snap_compare(fake_app(populated()), terminal_size=(120, 30), run_before=_loaded)


def test_detail(snap_compare):
    async def before(pilot):
        await loaded(pilot)
        await pilot.press("j", "enter")
        await pilot.pause(0.3)

    assert snap_compare(fake_app(populated()), terminal_size=(120, 36), run_before=before)


def test_log(snap_compare):
    async def before(pilot):
        await loaded(pilot)
        await pilot.press("l")
        await pilot.pause(0.3)

    assert snap_compare(fake_app(populated()), terminal_size=(120, 36), run_before=before)


def test_error_modal(snap_compare):
    async def before(pilot):
        await loaded(pilot)
        pilot.app.push_screen(ErrorScreen("Invalid request", "after: job 99 does not exist; submit it first."))
        await pilot.pause(0.2)

    assert snap_compare(fake_app(populated()), terminal_size=(100, 30), run_before=before)


def test_80x24(snap_compare):
    assert snap_compare(fake_app(populated()), terminal_size=(80, 24), run_before=_loaded)


@pytest.mark.parametrize("theme", ["dark", "light", "high-contrast"])
def test_theme(snap_compare, theme):
    assert snap_compare(fake_app(populated(), theme=theme), terminal_size=(120, 30), run_before=_loaded)


def test_workflow_graph_80x24(snap_compare):
    """`d` on a job of a 14-job workflow in 9 levels: one line per level, the critical path starred."""
    client = FakeClient([make_job(i) for i in range(1, 40)] + workflow_jobs(40, 3), workflows=[workflow_record(3)])

    async def before(pilot):
        await loaded(pilot)
        pilot.app.main.table.move_to(45)  # job 46: train-resnet-large-with-augmentations, on the critical path
        await pilot.press("d")
        await pilot.pause(0.3)

    assert snap_compare(fake_app(client), terminal_size=(80, 24), run_before=before)


def test_cancel_dialog_80x24(snap_compare):
    """The cancel question: its keys shown on the buttons, the action it confirms focused (Enter does it)."""

    async def before(pilot):
        await loaded(pilot)
        await pilot.press("c")
        await pilot.pause(0.2)

    assert snap_compare(fake_app(populated()), terminal_size=(80, 24), run_before=before)


def test_failure_report(snap_compare):
    client = populated()
    client.stderr_text[3] = "".join(f"loading shard {i}\n" for i in range(60)) + "RuntimeError: CUDA out of memory\n"

    async def before(pilot):
        await loaded(pilot)
        await pilot.press("j", "j", "y")
        await pilot.pause(0.4)

    assert snap_compare(fake_app(client), terminal_size=(120, 36), run_before=before)
