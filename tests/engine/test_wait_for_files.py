"""`wait_for_files`: a job starts only once every file it names exists below its working directory on its node; until
then it waits with the reason `waiting_for_files` and the missing files listed. Local node here (a stat per job per
interval); SSH and cluster nodes in tests/integration (one batched query per node per interval)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ValidationError
from engine.models import JobStatus, Reason
from tests.fixtures.engine import Rig
from tests.waiting import wait_for


async def test_a_job_starts_once_all_its_files_exist(rig: Rig, tmp_path: Path) -> None:
    (tmp_path / "POSCAR").write_text("Si\n")
    job = await rig.submit_one(
        ["sh", "-c", "cat POSCAR sub/ctrl >seen"], workdir=str(tmp_path), wait_for_files=["POSCAR", "sub/ctrl"]
    )
    await wait_for(lambda: job.reason == Reason.WAITING_FOR_FILES, 10, lambda: f"the wait to show ({job.reason})")
    assert job.status == JobStatus.WAITING and job.attempts == 0
    assert job.extra["missing_files"] == ["sub/ctrl"] and job.message == f"waiting for sub/ctrl in {tmp_path}"
    assert rig.engine.queue_position(job.id) is None  # not in the ready queue: nothing can start it
    waiting = rig.engine.waiting_of(job)  # what `list`, `show` and the TUI say it waits for
    assert waiting is not None and (waiting["code"], waiting["text"]) == ("waiting_for_files", job.message)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "ctrl").write_text("ctrl\n")
    await rig.wait_terminal(job.id)
    assert job.status == JobStatus.COMPLETED, job.message
    assert (tmp_path / "seen").read_text() == "Si\nctrl\n"
    assert "missing_files" not in job.extra and job.attempts == 1
    _, events = await rig.history(job.id)
    kinds = [e.kind for e in events]
    assert kinds.index("waiting_for_files") < kinds.index("files_found") < kinds.index("starting"), kinds


async def test_files_that_exist_at_once_cost_no_event(rig: Rig, tmp_path: Path) -> None:
    (tmp_path / "in.dat").write_text("x")
    job = await rig.submit_one(["true"], workdir=str(tmp_path), wait_for_files=["./in.dat"])
    await rig.wait_terminal(job.id)
    assert job.status == JobStatus.COMPLETED
    _, events = await rig.history(job.id)
    assert "waiting_for_files" not in [e.kind for e in events]


async def test_a_waiting_job_can_be_cancelled_and_the_wait_survives_a_restart(engine_factory, tmp_path: Path) -> None:
    first = await engine_factory()
    gone, kept = await first.submit(
        {"command": ["true"], "workdir": str(tmp_path), "wait_for_files": ["never"]},
        {"command": ["true"], "workdir": str(tmp_path), "wait_for_files": ["later"]},
    )
    await wait_for(lambda: kept.reason == Reason.WAITING_FOR_FILES, 10, "the wait to show")
    await first.engine.cancel(gone, first.actor())
    assert gone.status == JobStatus.CANCELLED
    await first.engine.stop()
    second = await engine_factory()
    again = second.engine.get(kept.id)
    assert again.status == JobStatus.WAITING and again.reason == Reason.WAITING_FOR_FILES  # as saved
    (tmp_path / "later").write_text("")
    await second.wait_terminal(kept.id)
    assert again.status == JobStatus.COMPLETED and second.engine.get(gone.id).attempts == 0


@pytest.mark.parametrize(
    ("path", "why"),
    [("/etc/passwd", "absolute"), ("~/x", "absolute"), ("../x", "'..'"), ("a/../../x", "'..'"),
     ("a\nb", "line break"), ("", "names no file"), ("x\x00", "NUL")],
    ids=["absolute", "home", "up", "up-below", "newline", "empty", "nul"],
)  # fmt: skip
async def test_bad_waited_files_are_refused_with_nothing_stored(rig: Rig, tmp_path: Path, path: str, why: str) -> None:
    with pytest.raises(ValidationError) as refused:
        await rig.submit_one(["true"], workdir=str(tmp_path), wait_for_files=["ok", path])
    assert why in str(refused.value) and "wait_for_files" in str(refused.value)
    assert "waited-for file 2" in str(refused.value)
    assert list(rig.engine.jobs()) == []


async def test_a_waiting_job_needs_a_working_directory_and_an_http_job_cannot_wait(rig: Rig) -> None:
    with pytest.raises(ValidationError, match="needs one; give workdir"):
        await rig.submit_one(["true"], wait_for_files=["x"])
    with pytest.raises(ValidationError, match="cannot wait for files"):
        await rig.submit({"http": {"url": "https://example.org/"}, "wait_for_files": ["x"]})
    assert list(rig.engine.jobs()) == []
