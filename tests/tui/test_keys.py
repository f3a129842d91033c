"""Pilot tests for the key paths of the main screen, over the in-memory client."""

from __future__ import annotations

from tests.tui.fakes import FakeClient, fake_app, loaded, make_job
from tui.screens.dialogs import ConfirmScreen, ReasonScreen
from tui.screens.help import HelpScreen
from tui.screens.submit import SubmitScreen
from tui.widgets.log_view import LogView


async def test_move_and_detail():
    app = fake_app(FakeClient(30))
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        table = app.main.table
        assert table.cursor_id == 1
        await pilot.press("j", "j", "k")
        assert table.cursor_id == 2
        await pilot.press("G")
        assert table.cursor_id == 30
        await pilot.press("g")
        assert table.cursor_id == 1
        await pilot.press("enter")
        await pilot.pause(0.1)
        body = str(app.main.query_one("#detail-body").render())
        assert "train-1" in body and "python train.py 1" in body and "submitted" in body


async def test_filter_and_sort():
    app = fake_app(FakeClient(60))
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("slash", *"status:failed", "enter")
        await pilot.pause(0.2)
        shown = app.index.ids_between(0, len(app.index))
        assert shown and all(app.index.rows[i].status == "failed" for i in shown)
        assert app.main.table.cursor_id in shown
        await pilot.press("escape")  # clears the filter
        assert len(app.index) == 60
        await pilot.press("full_stop")
        assert app.index.sort_column == "name"
        await pilot.press("comma")
        assert app.index.reverse


async def test_cancel_needs_confirmation():
    client = FakeClient([make_job(i, "running") for i in range(1, 6)])
    app = fake_app(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert client.calls == []
        await pilot.press("space", "space", "c")  # mark job 1 and 2, cancel both
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause(0.4)
        assert client.calls == [("cancel", 1), ("cancel", 2)]
        assert app.index.rows[1].status == "cancelled"


async def test_approve_reject_requeue_priority():
    client = FakeClient([make_job(1, "blocked"), make_job(2, "blocked"), make_job(3, "failed"), make_job(4, "waiting")])
    app = fake_app(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("a")
        await pilot.pause(0.2)
        await pilot.press("j", "x")
        await pilot.pause()
        assert isinstance(app.screen, ReasonScreen)
        await pilot.press(*"too big", "enter")
        await pilot.pause(0.2)
        await pilot.press("j", "r", "j", "plus")
        await pilot.pause(0.3)
        assert client.calls == [("approve", 1), ("reject", 2), ("requeue", 3), ("priority", 4)]
        assert client.jobs[2]["message"] == "too big"


async def test_role_refused_with_reason():
    client = FakeClient([make_job(1, "blocked")], role="researcher")
    app = fake_app(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        for _ in range(100):  # the capabilities come from me(), asked at start
            if app.capabilities is not None:
                break
            await pilot.pause(0.01)
        assert app.capabilities is not None and not app.capabilities["approve"]
        await pilot.press("a", "plus")
        await pilot.pause(0.2)
        refusals = [n.message for n in app._notifications if n.title == "Not allowed"]
        assert any("researcher" in m and "approve" in m for m in refusals)
        assert any("researcher" in m and "priority" in m for m in refusals)
        assert client.calls == []  # the TUI refused: nothing reached the client (the fake records what does)


async def test_server_error_is_shown():
    client = FakeClient([make_job(1, "completed")])
    app = fake_app(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause(0.2)
        assert any("already ended" in n.message for n in app._notifications)


async def test_submit_dialog():
    client = FakeClient(3)
    app = fake_app(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SubmitScreen)
        await pilot.press(*"sleep 5", "tab", *"nap", "tab", "tab", "tab", *"2G", "tab", *"1 2", "tab", "space")
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        verb, specs = client.calls[0]
        assert verb == "submit"
        assert specs == [
            {"command": ["sleep", "5"], "name": "nap", "mem_mb": "2G", "after": [1, 2], "requires_approval": True}
        ]
        assert 4 in app.index.rows


async def test_help_lists_every_binding_and_remap():
    client = FakeClient(3)
    app = fake_app(client, keymap={"jobs.cancel": "ctrl+k", "nope": "z"})
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        assert any("'nope' is not a binding id" in n.message for n in app._notifications)
        await pilot.press("ctrl+k")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape", "question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one(".dialog-body").render())
        assert "jobs.cancel" in text and "ctrl+k" in text and "log.wrap" in text


async def test_logs_follow_search_wrap():
    client = FakeClient(2)
    client.logs_text[1] = "".join(f"step {i} loss {1 / (i + 1):.3f}\n" for i in range(300)) + "done\n"
    app = fake_app(client)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        await pilot.press("l")
        await pilot.pause(0.3)
        log = app.main.query_one(LogView)
        assert log.has_focus and log.lines[-1] == "done" and len(log.lines) == 301
        await pilot.press("slash", *"step 12", "enter")
        await pilot.pause(0.1)
        assert log.matches == [12, *range(120, 130)]
        await pilot.press("w", "o")
        await pilot.pause(0.2)
        assert log.wrap and app.main.stream == "stderr"
        await pilot.press("escape")
        assert app.main.table.has_focus


async def test_theme_switch_and_broken_theme(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("primary: [not, a, colour\n")
    app = fake_app(FakeClient(2), theme=str(bad))
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        assert app.theme == "dark"
        assert any("bad.yaml" in n.message for n in app._notifications)
        await pilot.press("T")
        assert app.theme == "high-contrast"
        await pilot.press("T")
        assert app.theme == "light"


async def test_quit_offers_daemon_when_hosting_with_queued_jobs():
    app = fake_app(FakeClient([make_job(1, "waiting"), make_job(2, "running")]), hosting=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert "Quit" in str(app.screen.query_one(".dialog-title").render())
        await pilot.press("escape")
        assert app.is_running
        await pilot.press("q", "l")
        await pilot.pause()
    assert app.return_value == "leave"
