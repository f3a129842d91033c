"""Pure parts of the TUI: formatting, the job index (sort, filter, incremental moves), themes, keys."""

from __future__ import annotations

import dataclasses
import random

from engine.wire import JobRow, row_from_record
from tests.tui.fakes import T0, make_job
from tui import formatting as view
from tui import themes
from tui.keys import KEYS, check_keymap
from tui.screens.submit import build_spec
from tui.widgets.job_index import JobIndex


def rows(n: int) -> list[JobRow]:
    return [row_from_record(make_job(i)) for i in range(1, n + 1)]


def test_durations_and_bars():
    assert [view.duration(s) for s in (None, 5, 125, 7260, 90000)] == ["-", "5s", "2m05s", "2h01m", "1d01h"]
    assert view.progress_bar(50, 15) == "█████░░░░░  50%"
    assert view.progress_bar(None, 15) == ""
    assert len(view.progress_bar(99.9, 14)) == 14


def test_row_cells_fit_every_width():
    row = row_from_record(make_job(1, "running"))
    for width in (60, 80, 120, 200):
        columns = view.layout_columns(width)
        line = " ".join(view.cell_text(row, c, w, T0) for c, w in columns)
        assert len(line) <= width
        assert "▶ running" in line


def test_index_incremental_matches_full_sort():
    index = JobIndex()
    index.load(rows(500))
    index.set_sort("status")
    rng = random.Random(3)
    for _ in range(20):
        changed = [
            dataclasses.replace(index.rows[rng.randint(1, 500)], status=rng.choice(view.STATUS_ORDER))
            for _ in range(30)
        ]
        index.update(changed)
    expected = sorted(index.rows.values(), key=view.sort_key_for("status"))
    assert index.ids_between(0, 500) == [r.id for r in expected]
    assert sum(index.counts.values()) == 500
    assert all(index.position(job_id) == pos for pos, job_id in enumerate(index.ids_between(0, 500)))


def test_filter_terms():
    index = JobIndex()
    index.load(rows(60))
    index.set_filter("status:fail user:bob")
    assert all(index.rows[i].status == "failed" and index.rows[i].user == "bob" for i in index.ids_between(0, 60))
    index.set_filter("tag:nightly !status:running")
    shown = index.ids_between(0, 60)
    assert shown and all(i % 5 == 0 and index.rows[i].status != "running" for i in shown)
    index.set_filter("#12")
    assert index.ids_between(0, 60) == [12]
    index.set_sort("id", reverse=True)
    index.set_filter("")
    assert index.id_at(0) == 60 and index.position(60) == 0


def test_themes_load_and_report_broken(tmp_path):
    found = themes.load_themes()
    assert {"dark", "light", "high-contrast"} <= set(found.themes) and not found.errors
    (tmp_path / "broken.yaml").write_text("name: x\nprimary: '#12'\nbogus: 1\n")
    assert themes.resolve(str(tmp_path / "broken.yaml"), found) == "dark"
    assert "bogus" in found.errors[-1]
    assert themes.resolve("nope", found) == "dark" and "not found" in found.errors[-1]


def test_every_binding_has_a_unique_id_and_keymap_is_checked():
    ids = [k.id for k in KEYS]
    assert len(ids) == len(set(ids))
    good, bad = check_keymap({"jobs.cancel": "ctrl+k", "jobs.nope": "z"})
    assert good == {"jobs.cancel": "ctrl+k"} and "jobs.nope" in bad[0]


def test_submit_form_validation():
    assert build_spec({"command": "echo 'a b'", "after": "3, 4", "cpus": "2"}, False) == {
        "command": ["echo", "a b"],
        "cpus": 2,
        "after": [3, 4],
    }
    for values, field in (
        ({"command": ""}, "command"),
        ({"command": "x", "cpus": "two"}, "cpus"),
        ({"command": "x", "after": "a"}, "after"),
    ):
        try:
            build_spec(values, False)
        except ValueError as e:
            assert str(e).startswith(field)
        else:
            raise AssertionError(f"{values} accepted")


def test_detail_shows_a_cluster_jobs_scheduler_id_and_state() -> None:
    from tui.formatting import detail_text

    job = {
        "id": 3,
        "name": "cfd",
        "status": "running",
        "command": ["x"],
        "resources": {},
        "progress": {},
        "extra": {"scheduler": {"id": "881", "state": "RUNNING"}},
    }
    text = detail_text(job, None, now=0.0)
    assert "job 881" in text and "state RUNNING" in text


def test_every_status_has_a_place_and_a_glyph():
    """The display order and glyphs are the TUI's own; the status names come from the engine."""
    from engine.models import ACTIVE_NAMES, QUEUED_NAMES, TERMINAL_NAMES, JobStatus

    names = {s.value for s in JobStatus}
    assert set(view.STATUS_ORDER) == set(view.STATUS_GLYPH) == names == QUEUED_NAMES | ACTIVE_NAMES | TERMINAL_NAMES
