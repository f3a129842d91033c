"""Workflows in the TUI: the `wf:` filter and its key, the WF column, and the graph screen (`d`): its layout,
its keys, its live updates, and what a job without a workflow gets instead."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.cells import cell_len

from engine.wire import row_from_record
from tests.tui.fakes import FakeClient, fake_app, loaded, make_job, workflow_jobs, workflow_record
from tui import formatting as view
from tui import workflow_layout as wl
from tui.screens.help import HelpScreen
from tui.screens.main import MainScreen
from tui.screens.workflow import WorkflowScreen
from tui.widgets.job_index import JobIndex, without_workflow
from tui.widgets.workflow_graph import WorkflowGraph

FIRST = 40  # the workflow's jobs are 40..53, after 39 jobs of no workflow
CRITICAL_NAMES = ("fetch-raw", "clean-raw", "join-datasets", "featurize", "evaluate", "publish-model", "announce")


def client_with_workflow(**kwargs) -> FakeClient:
    jobs = [make_job(i) for i in range(1, FIRST)] + workflow_jobs(FIRST, 3)
    return FakeClient(jobs, workflows=[workflow_record(3)], **kwargs)


def detail() -> dict:
    return asyncio.run(client_with_workflow().workflow(3))


def graph_text(screen: WorkflowScreen) -> str:
    graph = screen.graph
    return "\n".join(graph.render_line(y).text for y in range(graph.size.height))


# -- pure parts ------------------------------------------------------------------------------------------


def test_workflow_filter_terms():
    index = JobIndex()
    index.load(row_from_record(job) for job in client_with_workflow().jobs.values())
    index.set_filter("wf:3")
    assert index.ids_between(0, 100) == list(range(FIRST, FIRST + 14))
    index.set_filter("workflow:3 status:running")
    assert index.ids_between(0, 100) == [46]
    index.set_filter("wf:*")
    assert len(index) == 14
    index.set_filter("wf:-")
    assert len(index) == FIRST - 1
    index.set_filter("!wf:3")
    assert len(index) == FIRST - 1
    index.set_filter("wf:nonsense")
    assert len(index) == 0
    assert without_workflow("user:ann wf:3 train") == ("user:ann train", True)
    assert without_workflow("user:ann !wf:3") == ("user:ann !wf:3", False)


def test_wf_column_only_where_it_fits_and_there_are_workflows():
    assert "workflow" not in [c.key for c, _ in view.layout_columns(80)]  # 80 columns: the detail pane says it
    assert "workflow" in [c.key for c, _ in view.layout_columns(120)]
    assert "workflow" not in [c.key for c, _ in view.layout_columns(120, workflows=False)]
    index = JobIndex()
    index.load([row_from_record(make_job(1)), row_from_record(make_job(2, workflow_id=4))])
    assert index.in_workflows == 1
    index.update([row_from_record(make_job(3, workflow_id=4)), row_from_record(make_job(2, "failed", workflow_id=4))])
    assert index.in_workflows == 2
    index.remove([2, 3])
    assert index.in_workflows == 0
    row = row_from_record(make_job(5, workflow_id=12))
    column = next(c for c in view.COLUMNS if c.key == "workflow")
    assert view.cell_text(row, column, 4, 0) == "  12"
    assert view.cell_text(row_from_record(make_job(6)), column, 4, 0) == "   -"
    ordered = sorted([row_from_record(make_job(1)), row, row_from_record(make_job(9, workflow_id=2))],
                     key=view.sort_key_for("workflow"))  # fmt: skip
    assert [r.id for r in ordered] == [9, 5, 1]  # grouped by workflow, jobs of none last
    text = view.detail_text(make_job(5, workflow_id=12), None, 0)
    assert "workflow[/b]  #12" in text


def test_layout_levels_critical_path_and_widths():
    d = detail()
    assert len(d["jobs"]) == 14 and len(d["levels"]) == 9
    for width in (24, 40, 60, 79, 120, 200):
        graph = wl.layout(d, width)
        lines = ["".join(t for t, _, _ in line) for line in graph.lines]
        assert all(cell_len(line) <= width for line in lines)
        assert set(graph.line_of) == set(range(FIRST, FIRST + 14))  # every job drawn
        assert [line.split("│")[0].strip() for line in lines if line.split("│")[0].strip()] == [
            f"L{n}" for n in range(9)
        ]
    graph = wl.layout(d, 79)
    assert len(graph.lines) == 9  # each level on one line at 80 columns: the widest holds 4 jobs
    critical = set(d["critical_path"]["jobs"])
    decorated = [graph.line(n, 46, wl.parents_of(d, 46)) for n in range(len(graph.lines))]
    for line in decorated:
        for text, styles in line:
            if wl.MARK in styles:
                assert text == wl.CRITICAL_MARK and wl.CRITICAL in styles
    starred = {owner for line in graph.lines for text, _, owner in line if text == wl.CRITICAL_MARK}
    assert starred == critical  # each job of the critical path starred, no other
    cursor = [(t, s) for line in decorated for t, s in line if wl.CURSOR in s]
    assert cursor and "train-resnet" in "".join(t for t, _ in cursor) and "running" in cursor[-1][1]
    parents = [t for line in decorated for t, s in line if wl.PARENT in s]
    assert any("featurize" in t for t in parents)


def test_user_text_is_plain_text():
    d = detail()
    d["jobs"][0]["name"] = "[b]evil[/b]\x1b[31m\nnext"
    d["workflow"]["name"] = "[red]wf"
    lines = ["".join(t for t, _, _ in line) for line in wl.layout(d, 200).lines]
    assert "[b]evil[/b]\ufffd[31m" in lines[0] and len(lines) == 9
    assert "[red]wf" in "".join(t for t, _ in wl.title_pieces(d))
    first = "".join(t for t, _ in wl.job_pieces(d, FIRST)[0])
    assert "[b]evil[/b]\ufffd[31m\ufffdnext" in first and "\n" not in first


def test_job_pieces_show_parents_with_conditions_and_children():
    d = detail()
    info = ["".join(t for t, _ in line) for line in wl.job_pieces(d, 49)]  # alert-oncall
    assert info[0].startswith("#49 alert-oncall  ✔ completed  L4")
    assert info[1] == "after: #45 profile-data ✘ (on failure)"
    assert info[2] == "then:  nothing (a last job)"
    info = ["".join(t for t, _ in line) for line in wl.job_pieces(d, FIRST)]
    assert info[0].startswith("★ #40 fetch-raw") and info[1] == "after: nothing (it starts first)"
    assert info[2] == "then:  #42 clean-raw ✔"


def test_statuses_in_place_rederive_the_workflow_status():
    d = detail()
    assert d["workflow"]["status"] == "running"
    changed = wl.with_statuses(d, {46: ("failed", "exit_code", 1), 999: ("failed", None, 1)})
    assert changed and d["workflow"]["status"] == "waiting" and d["workflow"]["counts"]["failed"] == 2
    assert not wl.with_statuses(d, {46: ("failed", "exit_code", 1)})


# -- the app -----------------------------------------------------------------------------------------------


async def test_filter_key_limits_the_table_to_the_workflow_and_clears():
    app = fake_app(client_with_workflow())
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("G")  # the last job: 53, of workflow 3
        assert app.main.table.cursor_id == FIRST + 13
        await pilot.press("w")
        await pilot.pause()
        shown = app.index.ids_between(0, len(app.index))
        assert shown == list(range(FIRST, FIRST + 14))
        assert all(app.index.rows[i].workflow_id == 3 for i in shown)
        assert app.main.table.cursor_id == FIRST + 13  # the cursor stays on its job
        assert "wf:3" in str(app.main.query_one("#stats").render())  # the filter is on show
        await pilot.press("w")  # again: every job
        await pilot.pause()
        assert len(app.index) == FIRST + 13
        assert "wf:" not in str(app.main.query_one("#stats").render())
        await pilot.press("w")
        await pilot.pause()
        assert len(app.index) == 14
        await pilot.press("escape")  # Escape clears it too
        assert len(app.index) == FIRST + 13
        await pilot.press("g", "w")  # job 1 has no workflow: said so, nothing filtered
        await pilot.pause()
        assert len(app.index) == FIRST + 13 and not app.index.filter.active
        assert any(n.title == "No workflow" and "#1 " in n.message for n in app._notifications)


async def test_wf_column_appears_with_the_first_workflow_job():
    client = FakeClient([make_job(i) for i in range(1, 5)])
    app = fake_app(client)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        table = app.main.table
        assert "WF" not in table.render_line(0).text
        client.emit(make_job(5, "waiting", workflow_id=7))
        for _ in range(100):
            await pilot.pause(0.02)
            if 5 in app.index.rows:
                break
        await pilot.pause()
        assert table.render_line(0).text.rstrip().endswith("WF")
        assert table.render_line(5).text.rstrip().endswith(" 7")


async def test_filter_key_keeps_other_filter_terms():
    app = fake_app(client_with_workflow())
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        app.main.set_filter("status:completed")
        await pilot.press("G", "w")
        await pilot.pause()
        assert app.index.filter.text == "status:completed wf:3"
        assert all(app.index.rows[i].workflow_id == 3 for i in app.index.ids_between(0, 100))
        await pilot.press("w")
        assert app.index.filter.text == "status:completed"


async def test_graph_opens_on_the_selected_jobs_workflow():
    client = client_with_workflow()
    app = fake_app(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        app.main.set_filter("wf:3")
        app.main.table.move_to(6)  # job 46, train-resnet-large-with-augmentations
        await pilot.press("d")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, WorkflowScreen) and screen.workflow_id == 3
        assert ("workflow", 3) in client.calls
        assert screen.graph.selected == 46 and screen.graph.has_focus
        text = graph_text(screen)
        for name in CRITICAL_NAMES:  # the critical path: starred, every job of it drawn
            assert f"★✔ {name}" in text or f"★○ {name}" in text or f"★◇ {name}" in text
        assert text.count(wl.CRITICAL_MARK) == 9
        assert "Workflow #3 nightly-train v2" in str(screen.query_one("#wf-title").render())
        job = str(screen.query_one("#wf-job").render())
        assert "★ #46 train-resnet-large-with-augmenta…  ▶ running  L4" in job and "after: #44 featurize ✔" in job
        assert "critical path" in str(screen.query_one("#wf-legend").render())
        await pilot.press("j")  # down a level: evaluate
        assert screen.graph.selected == 50
        assert "#50 evaluate" in str(screen.query_one("#wf-job").render())
        await pilot.press("l", "k", "k")  # next job (compare), then up two levels: level 4, place 0
        assert screen.graph.selected == 46
        await pilot.press("right", "enter")  # train-baseline, shown in the table
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert app.main.table.cursor_id == 47


async def test_graph_escape_closes():
    app = fake_app(client_with_workflow())
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("G", "d")
        await pilot.pause(0.2)
        assert isinstance(app.screen, WorkflowScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen) and app.main.table.cursor_id == FIRST + 13


async def test_graph_without_workflow_notifies_instead():
    client = client_with_workflow()
    client.jobs[5] = make_job(5, workflow_id=8)  # a workflow the engine no longer knows
    app = fake_app(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("d")  # job 1: no workflow
        await pilot.pause(0.2)
        assert isinstance(app.screen, MainScreen)
        assert any(n.title == "No workflow" and "job #1 " in n.message for n in app._notifications)
        assert not any(verb == "workflow" for verb, _ in client.calls)  # nothing asked: the row says it
        app.main.table.move_to(4)  # job 5
        await pilot.press("d")
        await pilot.pause(0.2)
        assert isinstance(app.screen, MainScreen)
        assert any(n.title == "Workflow #8" and "does not exist" in n.message for n in app._notifications)


async def test_graph_follows_its_jobs_live():
    client = client_with_workflow()
    app = fake_app(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("G", "d")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, WorkflowScreen)
        assert "★▶ train-resnet" in graph_text(screen)
        client.emit(dict(client.jobs[46], status="completed", exit_code=0))  # a status: in place
        client.emit(make_job(7, "running"))  # another job: nothing to do
        for _ in range(100):
            await pilot.pause(0.02)
            if "★✔ train-resnet" in graph_text(screen):
                break
        assert "★✔ train-resnet" in graph_text(screen)
        assert client.calls.count(("workflow", 3)) == 1  # no fetch for a status
        assert screen.detail["workflow"]["counts"]["completed"] == 8
        added = make_job(60, "waiting", name="late-job", after=[53], workflow_id=3)
        client.emit(added)  # a job joined the workflow: fetched again
        for _ in range(100):
            await pilot.pause(0.02)
            if "late-job" in graph_text(screen):
                break
        assert client.calls.count(("workflow", 3)) == 2
        assert "L9" in graph_text(screen) and len(screen.detail["jobs"]) == 15


async def test_graph_closes_when_its_workflow_goes():
    client = client_with_workflow()
    app = fake_app(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("G", "d")
        await pilot.pause(0.2)
        assert isinstance(app.screen, WorkflowScreen)
        del client.workflow_records[3]
        client.remove(list(range(FIRST, FIRST + 14)))
        told = False  # `notify` posts a message: the notice may be handled just after the screen closes
        for _ in range(200):
            await pilot.pause(0.02)
            told = any("gone" in n.title for n in app._notifications)
            if isinstance(app.screen, MainScreen) and told:
                break
        assert isinstance(app.screen, MainScreen)
        assert told


async def test_help_lists_the_workflow_keys():
    app = fake_app(client_with_workflow())
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one(".dialog-body").render())
        assert "jobs.workflow" in text and "jobs.graph" in text and "Workflow graph" in text
        assert "graph.goto" in text and "wf:3" in text


def test_graph_widget_styles_come_from_the_theme_rules():
    # every status the table colours, the graph colours by the same rule (app.tcss lists both selectors)
    text = (Path(view.__file__).parent / "app.tcss").read_text()
    for status in view.STATUS_ORDER:
        assert f"JobTable > .jobtable--{status}, WorkflowGraph > .wfgraph--{status} {{" in text
    assert {f"wfgraph--{s}" for s in view.STATUS_ORDER} <= WorkflowGraph.COMPONENT_CLASSES
