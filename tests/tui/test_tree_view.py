"""A job tree (`jobtui tree`) in the TUI: its workflow drawn by material directory, each directory's
`qsub.{id}` jobs in tree order, the title counting directories by state as `jobtui tree status` does."""

from __future__ import annotations

from rich.cells import cell_len

from tests.tui.fakes import FakeClient, fake_app, loaded, make_job, workflow_record
from tui import workflow_layout as wl
from tui.screens.workflow import WorkflowScreen

# (directory, script, status, parent script): 3 materials x (lda -> gw1 -> gw2) as the tree's ids 1, 2, 3
TREE = [
    ("Si", "1", "completed", None),
    ("Si", "2", "completed", "1"),
    ("Si", "3", "running", "2"),
    ("GaAs", "1", "completed", None),
    ("GaAs", "2", "failed", "1"),
    ("GaAs", "3", "skipped", "2"),
    ("a-very-long-material-directory-name/sub", "1", "waiting", None),
    ("a-very-long-material-directory-name/sub", "2", "waiting", "1"),
]
FIRST = 10


def tree_jobs() -> list[dict]:
    ids = {(d, s): FIRST + n for n, (d, s, _, _) in enumerate(TREE)}
    return [
        make_job(
            ids[(d, s)],
            status,
            name=f"{d}/qsub.{s}",
            user="ann",
            tags=[d],
            after=[ids[(d, parent)]] if parent else [],
            workflow_id=7,
        )
        for d, s, status, parent in TREE
    ]


def client() -> FakeClient:
    return FakeClient(tree_jobs(), workflows=[workflow_record(7, name="tree:camp-20261130-120000", version=None)])


async def detail() -> dict:
    return await client().workflow(7)


async def test_tree_is_drawn_a_directory_a_line_in_tree_order():
    d = await detail()
    assert wl.is_tree(d)
    for width in (40, 80, 120):
        graph = wl.layout(d, width)
        lines = ["".join(t for t, _, _ in line) for line in graph.lines]
        assert all(cell_len(line) <= width for line in lines)
        assert set(graph.line_of) == {FIRST + n for n in range(len(TREE))}  # every job drawn
    graph = wl.layout(d, 80)
    lines = ["".join(t for t, _, _ in line) for line in graph.lines]
    assert len(lines) == 3  # a line per directory at 80 columns
    assert lines[0].split("│")[0].strip() == "Si" and lines[1].split("│")[0].strip() == "GaAs"
    assert lines[2].split("│")[0].strip().startswith("a-very-long-materia")  # cut to the gutter's width
    assert graph.levels == [[10, 11, 12], [13, 14, 15], [16, 17]]  # rows are directories, in tree order
    chips = lines[0].split("│")[1]
    assert "qsub.1" in chips and "Si/" not in chips  # the gutter names the directory; a chip its script
    assert chips.index("qsub.1") < chips.index("qsub.2") < chips.index("qsub.3")


async def test_tree_title_counts_directories_by_state():
    d = await detail()
    title = "".join(text for text, _ in wl.title_pieces(d))
    assert title.startswith("Tree #7 camp-20261130-120000")
    assert "8 jobs  3 directories: 1 running, 1 waiting, 1 failed" in title


async def test_a_workflow_that_is_not_a_tree_keeps_its_levels():
    d = await detail()
    d["workflow"]["name"] = "camp"  # the same jobs as a plain workflow: drawn by level
    lines = ["".join(t for t, _, _ in line) for line in wl.layout(d, 80).lines]
    assert [line.split("│")[0].strip() for line in lines] == ["L0", "L1", "L2"]
    assert "Si/qsub.1" in lines[0]


async def test_tree_screen_moves_between_directories():
    app = fake_app(client())
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        detail_now = await app.client.workflow(7)
        app.push_screen(WorkflowScreen(7, detail_now, 13))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, WorkflowScreen)
        assert "Tree #7" in str(screen.query_one("#wf-title").render())
        job = str(screen.query_one("#wf-job").render())
        assert "#13 GaAs/qsub.1" in job and "in GaAs" in job
        await pilot.press("j")  # the next directory
        assert screen.graph.selected == 16
        await pilot.press("k", "k", "l")  # back up to Si, then its next script
        assert screen.graph.selected == 11
        assert "in Si" in str(screen.query_one("#wf-job").render())
