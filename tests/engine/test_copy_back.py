"""`copy_back`: as a job ends (completed or failed), the engine's host copies the files of its working directory that
match its globs, and its output, into a directory of this machine, off the engine's loop; nothing there is deleted,
a copy that fails is noted on the job and never fails it, and one missed while no engine ran is made at the next
start. A local node here (a plain copy); a staged tree on a real SGE through sshd in tests/integration."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ValidationError
from engine.models import JobStatus
from engine.trees.results import ResultsBack
from tests.fixtures.engine import Rig
from tests.waiting import wait_for

SCRIPT = "echo r >a.dat; mkdir -p sub; echo s >sub/b.dat; echo t >c.tmp; echo out; echo err >&2; exit $1"


@pytest.fixture
async def results(rig: Rig):
    back = ResultsBack(rig.engine)
    back.start()
    yield back
    await back.close()


async def _events(rig: Rig, job_id: int) -> dict[str, str]:
    _, events = await rig.history(job_id)
    return {e.kind: e.message for e in events}


async def test_matching_files_and_output_come_back_as_each_job_ends(
    rig: Rig, results: ResultsBack, tmp_path: Path
) -> None:
    work, here = tmp_path / "work", tmp_path / "here"
    work.mkdir()
    here.mkdir()
    (here / "notes.txt").write_text("mine\n")
    (here / "a.dat").write_text("old and longer\n")
    back = {"to": str(here), "files": ["*.dat", "sub"], "output": "jobtui.1"}
    ok, bad = await rig.submit(
        {"command": ["sh", "-c", SCRIPT, "sh", "0"], "workdir": str(work), "copy_back": back},
        {"command": ["sh", "-c", SCRIPT, "sh", "3"], "workdir": str(work), "copy_back": {**back, "output": "j2"}},
    )
    for job in (ok, bad):
        await rig.wait_terminal(job.id)
        await wait_for(lambda job=job: job.extra.get("copied_back") == 1, 10, f"job {job.id}'s copy")
    assert ok.status == JobStatus.COMPLETED and bad.status == JobStatus.FAILED  # the copy changed neither
    assert (here / "a.dat").read_text() == "r\n" and (here / "sub" / "b.dat").read_text() == "s\n"
    assert (here / "jobtui.1.stdout").read_text() == "out\n" and (here / "jobtui.1.stderr").read_text() == "err\n"
    assert (here / "j2.stdout").read_text() == "out\n"
    assert not (here / "c.tmp").exists() and (here / "notes.txt").read_text() == "mine\n"
    assert sorted(p.name for p in here.iterdir()) == sorted(
        ["a.dat", "sub", "notes.txt", "jobtui.1.stdout", "jobtui.1.stderr", "j2.stdout", "j2.stderr"]
    )
    assert "results_copied" in await _events(rig, ok.id) and "results_copied" in await _events(rig, bad.id)


async def test_a_failed_copy_is_noted_and_never_fails_the_job(rig: Rig, results: ResultsBack, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    to = tmp_path / "file" / "below"  # cannot be made: a file is in the way
    job = await rig.submit_one(
        ["sh", "-c", "echo r >a.dat"], workdir=str(tmp_path), copy_back={"to": str(to), "files": ["a.dat"]}
    )
    await rig.wait_terminal(job.id)

    async def noted() -> dict[str, str] | None:
        events = await _events(rig, job.id)
        return events if "results_not_copied" in events else None

    events = await wait_for(noted, 10, "the failed copy's note")
    assert str(to) in events["results_not_copied"], events
    assert "Not a directory" in events["results_not_copied"]
    assert job.status == JobStatus.COMPLETED and "copied_back" not in job.extra and job.message == ""  # untouched


async def test_a_copy_missed_while_nothing_followed_is_made_at_the_next_start(rig: Rig, tmp_path: Path) -> None:
    here = tmp_path / "here"
    job = await rig.submit_one(
        ["sh", "-c", "echo r >a.dat"], workdir=str(tmp_path), copy_back={"to": str(here), "files": ["a.dat"]}
    )
    await rig.wait_terminal(job.id)
    assert not here.exists()
    back = ResultsBack(rig.engine)
    back.start()  # as an engine host does after a restart
    try:
        await wait_for(lambda: job.extra.get("copied_back") == 1, 10, "the copy")
        assert (here / "a.dat").read_text() == "r\n"
    finally:
        await back.close()


@pytest.mark.parametrize(
    ("copy_back", "said"),
    [({"to": "relative/dir"}, "absolute directory"), ({"to": "/x", "files": ["../up"]}, "'..'"),
     ({"to": "/x", "files": ["/etc/*"]}, "absolute"), ({"to": "/x", "output": "a/b"}, "file name"),
     ({"to": "/x", "where": 1}, "where")],
)  # fmt: skip
async def test_bad_copy_backs_are_refused(rig: Rig, tmp_path: Path, copy_back: dict, said: str) -> None:
    with pytest.raises(ValidationError, match=said):
        await rig.submit_one(["true"], workdir=str(tmp_path), copy_back=copy_back)
    with pytest.raises(ValidationError, match="needs one; give workdir"):
        await rig.submit_one(["true"], copy_back={"to": "/x"})
    assert list(rig.engine.jobs()) == []
