"""The TUI's rough edges (issue 16): dialog key hints and Enter, the detail pane keeping the cursor in view,
the footer at 80 columns, mouse clicks, and the elapsed time of a job's current attempt."""

from __future__ import annotations

from textual.widgets import TextArea

from engine.errors import Conflict
from tests.tui.fakes import T0, FakeClient, fake_app, loaded, make_job
from tui.formatting import cell_text
from tui.screens.dialogs import ConfirmScreen
from tui.screens.report import ReportScreen


async def test_cancel_dialog_shows_its_keys_and_enter_confirms():
    client = FakeClient([make_job(i, "running") for i in range(1, 4)])
    app = fake_app(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        labels = [str(button.render()) for button in app.screen.query("Button")]
        assert labels == ["Cancel jobs [y, Enter]", "Keep them [n, Esc]"]  # the brackets are shown, not eaten
        await pilot.press("enter")  # Enter does what the dialog says it does: cancel
        await pilot.pause(0.3)
        assert client.calls == [("cancel", 1)]
        await pilot.press("j", "c")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert client.calls == [("cancel", 1)]
        assert any("nothing cancelled" in n.message for n in app._notifications)


async def test_detail_pane_keeps_the_last_row_in_view():
    app = fake_app(FakeClient(30))
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        table = app.main.table
        await pilot.press("G")
        assert table.cursor_id == 30
        await pilot.press("enter")
        await pilot.pause(0.2)
        top = int(table.scroll_y)
        assert top <= table.cursor_row < top + table.page, (top, table.cursor_row, table.page)


async def test_footer_fits_80_columns_with_the_main_keys_first():
    app = fake_app(FakeClient(30))
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        keys = list(app.main.query("FooterKey"))
        assert keys and max(k.region.right for k in keys) <= 80  # nothing cut off
        assert [k.description for k in keys][:4] == ["Detail", "Filter", "Logs", "Cancel"]
        assert {"Help", "Quit"} <= {k.description for k in keys}  # `?` lists the rest


async def test_mouse_click_moves_cursor_sorts_and_opens_help():
    app = fake_app(FakeClient(30))
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        table = app.main.table
        assert await pilot.click(table, offset=(10, 5))  # the header is line 0: line 5 is the fifth row
        assert table.cursor_id == 5
        await pilot.click(table, offset=(10, 3), times=2)  # a double click opens the detail pane
        await pilot.pause(0.2)
        assert table.cursor_id == 3 and app.main.pane == "detail"
        await pilot.click(table, offset=(12, 0))  # the NAME header: sort by name
        assert app.index.sort_column == "name" and not app.index.reverse
        await pilot.click(table, offset=(12, 0))
        assert app.index.reverse
        help_key = next(k for k in app.main.query("FooterKey") if k.description == "Help")
        await pilot.click(help_key)
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"


class RequeuedClient(FakeClient):
    """Job 1 ran at T0-3600 (first attempt), was requeued, and its second attempt started at T0-60."""

    async def job(self, job_id: int) -> dict:
        detail = await super().job(job_id)
        if job_id == 1:
            detail["attempts"] = [
                {"number": 1, "started_at": T0 - 3600, "finished_at": T0 - 3000, "node": "node-a"},
                {"number": 2, "started_at": T0 - 60, "finished_at": None, "node": "node-a"},
            ]
        return detail


async def test_elapsed_counts_from_the_current_attempt():
    jobs = [
        make_job(1, "running", attempts=2, started_at=T0 - 3600),
        make_job(2, "waiting", attempts=1, started_at=T0 - 3600),  # requeued, waiting again: nothing runs
        make_job(3, "running", attempts=1, started_at=T0 - 125),
    ]
    app = fake_app(RequeuedClient(jobs))
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(pilot)
        table = app.main.table
        column = next(c for c, _ in table._columns() if c.key == "elapsed")

        def shown(job_id: int) -> str:
            row = app.index.rows[job_id]
            return cell_text(row, column, 7, T0, app.index.attempt_start(row)).strip()

        for _ in range(100):
            if app.index.attempt_start(app.index.rows[1]) is not None:
                break
            await pilot.pause(0.02)
        assert shown(1) == "1m00s"  # not 1h00m: the first attempt's start
        assert shown(2) == "-"
        assert shown(3) == "2m05s"


async def test_y_copies_a_failure_report_and_shows_it():
    client = FakeClient(
        [make_job(1, "running"), make_job(2, "failed", command=["python", "train.py", "--lr", "0.1 x"])]
    )
    client.stderr_text = {2: "".join(f"warning {i}\n" for i in range(80)) + "Traceback: boom\n"}
    app = fake_app(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("j", "y")
        for _ in range(100):
            if isinstance(app.screen, ReportScreen):
                break
            await pilot.pause(0.02)
        assert isinstance(app.screen, ReportScreen)
        report = app.clipboard
        assert report == app.screen.query_one(TextArea).text
        assert "jobtui job #2 train-2: failed" in report
        assert "command:  python train.py --lr '0.1 x'" in report
        assert "node:     node-a" in report and "reason:   exit_code: exited with code 1" in report
        tail = report.split("```")[1].strip("\n").split("\n")
        assert len(tail) == 50 and tail[-1] == "Traceback: boom" and tail[0] == "warning 31"
        app._clipboard = ""
        await pilot.press("y")  # copies it all again
        assert app.clipboard == report
        await pilot.press("escape")
        assert not isinstance(app.screen, ReportScreen)


class RefusingPriority(FakeClient):
    async def set_priority(self, job_id: int, priority: int) -> dict:
        raise Conflict(f"job {job_id} has already started; only a queued job's priority can change.")


async def test_action_notices_say_what_was_done_in_words():
    client = RefusingPriority([make_job(i, "waiting") for i in range(1, 4)])
    app = fake_app(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("plus")
        await pilot.pause(0.3)
        failed = [n for n in app._notifications if n.severity == "error"]
        assert failed and failed[-1].title == "Could not change the priority"  # not "Could not priority"
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert any(n.message.startswith("cancelled #") for n in app._notifications)  # not "cancel: #1"
