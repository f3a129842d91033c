"""The exit journal: local wrappers record their exit codes in shared files instead of a file per attempt; a job
that ends while no engine runs still has its code; a journal file goes once every attempt it could hold is saved."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.config import Config, LocalNode
from engine.executors import exit_journal
from engine.executors.exit_journal import ExitJournal
from engine.executors.local import LocalExecutor
from engine.executors.registry import make_executors
from engine.models import Job, JobStatus
from tests.fixtures.engine import Rig
from tests.waiting import wait_for, wait_for_sync


def journal_files(rig: Rig) -> list[str]:
    return sorted(p.name for p in (rig.state_dir / "runs" / "exits").iterdir())


async def left_running(engine_factory: Callable[..., Any], gate: Path, code: int) -> tuple[Rig, Job]:
    """A job that exits with `code` once `gate` exists, running, and its engine stopped."""
    rig: Rig = await engine_factory()
    job = await rig.submit_one(["sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.05; done; exit {code}"])
    await rig.wait_status(job.id, JobStatus.RUNNING)
    await rig.engine.stop()
    return rig, job


async def test_a_job_that_ends_while_no_engine_runs_has_its_code_read_from_the_journal(
    engine_factory: Callable[..., Any], tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    first, job = await left_running(engine_factory, gate, 7)
    journal = first.state_dir / "runs" / "exits" / "1"  # the first generation's, made before its first launch
    assert journal.read_bytes() == b""
    gate.touch()
    wait_for_sync(lambda: journal.exists() and journal.read_text().endswith(" 7\n"), 10, "the wrapper's line")
    attempt_dir = first.state_dir / "runs" / f"{job.id}.1"
    assert journal.read_text() == f"{job.id}.1 7\n" and not (attempt_dir / "exit").exists()  # no file of its own

    second: Rig = await engine_factory()
    done = await second.wait_terminal(job.id)
    assert (done.status, done.exit_code, done.attempts) == (JobStatus.FAILED, 7, 1), done.message
    # The inherited file is kept until the re-attached attempt is saved and this engine launches: then it goes.
    assert journal.exists()
    after = await second.submit_one(["true"])
    await second.wait_terminal(after.id)
    await wait_for(lambda: not journal.exists(), 10, "the inherited journal file to go")


async def test_a_job_that_ends_under_the_next_engine_has_its_code_from_the_earlier_engines_journal_file(
    engine_factory: Callable[..., Any], tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    _, job = await left_running(engine_factory, gate, 4)
    second: Rig = await engine_factory()  # the wrapper has written nothing yet: its file is found all the same
    await second.wait_status(job.id, JobStatus.RUNNING)
    gate.touch()
    done = await second.wait_terminal(job.id)
    assert (done.status, done.exit_code, done.attempts) == (JobStatus.FAILED, 4, 1), done.message


async def test_journal_files_go_once_every_attempt_in_them_is_saved(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exit_journal, "ROTATE", 2)
    gate = tmp_path / "go"
    long = await rig.submit_one(["sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.05; done; exit 5"])
    await rig.wait_status(long.id, JobStatus.RUNNING)
    for code in range(6):  # three more generations, each file gone once its two attempts are saved
        job = await rig.submit_one(["sh", "-c", f"exit {code}"])
        done = await rig.wait_terminal(job.id)
        assert done.exit_code == code, done.message
    await rig.engine.flush()
    # generation 1 still has the long job's wrapper to write in it; 2 and 3 are done; 4 is the current one
    await wait_for(lambda: journal_files(rig) == ["1", "4"], 10, "the settled generations to go")
    gate.touch()
    done = await rig.wait_terminal(long.id)
    assert done.exit_code == 5, done.message
    await rig.engine.flush()
    await wait_for(lambda: journal_files(rig) == ["4"], 10, "generation 1 to go with its last attempt")


def test_a_torn_or_partial_line_is_no_code(tmp_path: Path) -> None:
    (tmp_path / "exits").mkdir()
    (tmp_path / "exits" / "1").write_bytes(b"1.1 0\n2.1 302.1 4\n3.1 9")  # a torn line, then one still being written
    journal = ExitJournal(tmp_path)
    assert journal.code(str(tmp_path / "1.1")) == 0
    assert journal.code(str(tmp_path / "2.1")) is None and journal.code(str(tmp_path / "302.1")) is None
    assert journal.code(str(tmp_path / "3.1")) is None
    with (tmp_path / "exits" / "1").open("ab") as f:
        f.write(b"\n")
    assert journal.code(str(tmp_path / "3.1")) == 9  # read on from where it stopped


def test_attempts_re_attached_one_after_another_each_find_their_line(tmp_path: Path) -> None:
    (tmp_path / "exits").mkdir()
    (tmp_path / "exits" / "1").write_bytes(b"1.1 0\n2.1 3\n")
    journal = ExitJournal(tmp_path)
    for name, code in (("1.1", 0), ("2.1", 3)):  # as recovery probes them: the first read takes in both lines
        journal.adopt(str(tmp_path / name))
        assert journal.code(str(tmp_path / name)) == code


def test_inherited_files_stay_until_every_adopted_attempt_is_settled_and_a_launch_happened(tmp_path: Path) -> None:
    (tmp_path / "exits").mkdir()
    (tmp_path / "exits" / "3").write_bytes(b"1.1 0\n")
    journal = ExitJournal(tmp_path)
    journal.adopt(str(tmp_path / "1.1"))
    journal.adopt(str(tmp_path / "2.1"))  # still running: its wrapper writes to exits/3 when it ends
    assert journal.enter(str(tmp_path / "3.1")) == str(tmp_path / "exits" / "4")  # a new generation, after the last
    journal.settled(str(tmp_path / "1.1"))
    assert (tmp_path / "exits" / "3").exists()
    journal.settled(str(tmp_path / "2.1"))
    assert not (tmp_path / "exits" / "3").exists()


def test_local_nodes_of_one_state_directory_share_its_journal(tmp_path: Path) -> None:
    """Their attempts' lines go to the same generations, so none removes a file another's attempt still needs."""
    nodes = [LocalNode(name="cpu"), LocalNode(name="gpu", gpus=0)]
    executors = make_executors(Config(nodes=nodes), tmp_path)
    cpu, gpu = executors["cpu"], executors["gpu"]
    assert isinstance(cpu, LocalExecutor) and isinstance(gpu, LocalExecutor)
    assert cpu.journal is gpu.journal
