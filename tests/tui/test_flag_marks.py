"""A running job flagged overrun or stalled carries a mark after its status glyph in the job table (in the
theme's warning style) and after its status in `jobtui list`; an unflagged or finished job carries none."""

from __future__ import annotations

from rich.segment import Segment

from tests.tui.fakes import T0, FakeClient, fake_app, loaded, make_job
from tui.cli.output import table

OVERRUN = {"overrun": T0 - 60, "stalled_since": None}
STALLED = {"overrun": None, "stalled_since": T0 - 300}
BOTH = {"overrun": T0 - 60, "stalled_since": T0 - 300}


def flagged(i: int, status: str, flags: dict[str, float | None]) -> dict:
    job = make_job(i, status)
    job["progress"] = {**job["progress"], **flags}
    return job


JOBS = [
    flagged(1, "running", OVERRUN),
    flagged(2, "running", STALLED),
    flagged(3, "running", BOTH),
    make_job(4, "running"),
    flagged(5, "completed", BOTH),  # a flag left on a finished run is no warning any more
]


async def test_flagged_running_jobs_show_a_mark_and_others_do_not():
    app = fake_app(FakeClient([dict(job) for job in JOBS]))
    async with app.run_test(size=(120, 20)) as pilot:
        await loaded(pilot)
        table_widget = app.main.table
        rows: dict[int, list[Segment]] = {}
        for y in range(1, len(JOBS) + 1):
            job_id = table_widget.index.id_at(int(table_widget.scroll_y) + y - 1)
            assert job_id is not None
            rows[job_id] = list(table_widget.render_line(y))
        warning = table_widget.get_component_rich_style("jobtable--flagged", partial=True).color
    text = {job_id: "".join(s.text for s in segments) for job_id, segments in rows.items()}
    assert "▶! running" in text[1] and "▶⏸ running" in text[2] and "▶!⏸ running" in text[3]
    assert "▶ running" in text[4] and "✔ completed" in text[5]
    assert not any(mark in text[4] + text[5] for mark in "!⏸")
    marks = [s for s in rows[3] if s.text == "!⏸"]
    assert marks and warning is not None and marks[0].style is not None and marks[0].style.color == warning


def test_list_marks_the_status_of_flagged_running_jobs():
    out = table([dict(job) for job in JOBS], ["id", "status"], width=None).splitlines()
    assert [line.split(None, 1)[1] for line in out[1:]] == [
        "running !",
        "running ⏸",
        "running !⏸",
        "running",
        "completed",
    ]
