"""The state database: refuses corrupt and newer files untouched; a full disk is a clear error that loses
nothing already acknowledged.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from engine.errors import StoreError
from engine.models import Attempt, Job, JobStatus, Resources
from engine.store import _LOAD_CHUNK, SCHEMA_VERSION, Store
from tests.fixtures.engine import db_rows


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


async def test_garbage_database_is_refused_and_left_byte_identical(engine_factory, state_dir: Path) -> None:
    state_dir.mkdir()
    db = state_dir / "jobtui.db"
    db.write_bytes(b"this is not an SQLite database\n" * 200)
    before = db.read_bytes()
    with pytest.raises(StoreError) as info:
        await engine_factory()
    message = str(info.value)
    assert str(db) in message and "unreadable" in message and "move it aside" in message
    assert db.read_bytes() == before


async def test_damaged_database_is_refused_and_left_byte_identical(engine_factory, state_dir: Path) -> None:
    rig = await engine_factory()
    for _ in range(3):
        await rig.submit(*[{"command": ["true"], "requires_approval": True, "env": {"PAD": "x" * 2000}}] * 20)
    await rig.engine.stop()
    db = state_dir / "jobtui.db"
    data = bytearray(db.read_bytes())
    assert len(data) > 8 * 4096
    data[4 * 4096 : 6 * 4096] = b"\xa5" * (2 * 4096)  # trash two pages in the middle of the file
    db.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="unreadable"):
        await engine_factory()
    assert db.read_bytes() == bytes(data)


async def test_newer_schema_is_refused_untouched(engine_factory, state_dir: Path) -> None:
    state_dir.mkdir()
    db = state_dir / "jobtui.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE future (x)")
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    con.commit()
    con.close()
    before = db.read_bytes()
    with pytest.raises(StoreError) as info:
        await engine_factory()
    assert f"schema version {SCHEMA_VERSION + 5} is newer" in str(info.value) and "Upgrade jobtui" in str(info.value)
    assert db.read_bytes() == before
    assert db_rows(state_dir, "PRAGMA user_version") == [(SCHEMA_VERSION + 5,)]


async def test_fresh_database_is_migrated_to_the_current_schema(engine_factory, state_dir: Path) -> None:
    await engine_factory()
    assert db_rows(state_dir, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert db_rows(state_dir, "PRAGMA journal_mode") == [("wal",)]


async def test_store_reopens_what_it_saved(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    await store.open()
    await store.commit([Store.set_setting("limits", {"max_concurrent": 7})])
    await store.close()
    again = Store(tmp_path / "s.db")
    await again.open()
    assert await again.load_settings() == {"limits": {"max_concurrent": 7}}
    await again.close()


async def test_jobs_load_in_chunks_in_id_order_with_their_common_parts_shared(tmp_path: Path) -> None:
    count = 2 * _LOAD_CHUNK + 7  # more than fit in one chunk of rows
    store = Store(tmp_path / "s.db")
    await store.open()
    jobs = [Job(i, "j", ["true"], "ann", resources=Resources(cpus=1 + i % 2), env={"A": "1"}) for i in range(count)]
    await store.commit([Store.save_job(job) for job in jobs])
    await store.close()
    again = Store(tmp_path / "s.db")
    await again.open()
    loaded = await again.load_jobs()
    await again.close()
    assert [job.to_dict() for job in loaded] == [job.to_dict() for job in jobs]
    assert loaded[2].resources is loaded[0].resources and loaded[1].resources is not loaded[0].resources
    assert loaded[-1].command is loaded[0].command and loaded[-1].env is loaded[0].env


async def test_a_commit_writes_each_attempt_row_once_with_its_latest_state(tmp_path: Path) -> None:
    """An attempt saved at start, running and end within one group window is one row write, of its end."""
    store = Store(tmp_path / "s.db")
    await store.open()
    await store.commit([Store.save_job(Job(n, "j", ["true"], "ann")) for n in (1, 2)])
    first, other = Attempt(1, 1, "local", "/r/1/1", "t1"), Attempt(2, 1, "local", "/r/2/1", "t2")
    store.queue([Store.save_attempt(first), Store.save_attempt(other)])
    first.status = "running"
    store.queue([Store.save_attempt(first)])
    first.status, first.exit_code = "finished", 3
    store.queue([Store.save_attempt(first)])
    before = store.db.total_changes
    await store.flush()
    assert store.db.total_changes - before == 2  # one write per row, not four
    saved = {a.job_id: a for a in await store.load_attempts()}
    assert (saved[1].status, saved[1].exit_code) == ("finished", 3) and saved[2].status == other.status
    await store.close()


async def test_an_after_commit_callback_runs_once_what_was_queued_before_it_is_on_disk(tmp_path: Path) -> None:
    store = Store(tmp_path / "jobtui.db", group_window=0.01)
    await store.open()
    seen: list[list[tuple[int]]] = []
    store.queue([Store.save_job(Job(1, "j", ["true"], "ann"))])
    store.after_commit(lambda: seen.append(db_rows(tmp_path, "SELECT id FROM jobs")))
    assert seen == []  # not before the commit
    await store.flush()
    assert seen == [[(1,)]]  # read from another connection: committed
    store.after_commit(lambda: seen.append([]))  # nothing queued: after the next (empty) flush all the same
    await store.flush()
    assert seen == [[(1,)], []]
    await store.close()


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str = "4m"):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    where.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(directory: Path) -> Path:
    """Fill the file system holding `directory` to the last byte."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for block in (1 << 16, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * block)
    finally:
        os.close(fd)
    return filler


async def test_full_disk_is_a_clear_error_and_loses_nothing_acknowledged(engine_factory, tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "small") as state_dir:
        rig = await engine_factory(state_dir=state_dir)
        done = await rig.submit_one(["echo", "before the disk filled"])
        await rig.wait_terminal(done.id)
        waiting = await rig.submit_one(["true"], requires_approval=True)
        await rig.engine.flush()
        filler = fill(state_dir)
        big = [{"command": ["true"], "requires_approval": True, "env": {"PAD": "x" * 4000}} for _ in range(400)]
        with pytest.raises(StoreError) as info:
            await rig.submit(*big)
        assert "full" in str(info.value) and "Free space" in str(info.value)
        assert sorted(j.id for j in rig.engine.jobs()) == [done.id, waiting.id]  # nothing half-accepted
        filler.unlink()
        (again,) = await rig.submit(big[0])
        assert again.id == waiting.id + 1
        await rig.engine.stop()
        rig2 = await engine_factory(state_dir=state_dir)
        jobs = {j.id: j for j in rig2.engine.jobs()}
        assert sorted(jobs) == [done.id, waiting.id, again.id]
        assert jobs[done.id].status == JobStatus.COMPLETED and jobs[waiting.id].status == JobStatus.BLOCKED
        _, events = await rig2.history(done.id)
        assert [e.to_status for e in events] == ["waiting", "starting", "running", "completed"]
        attempts, _ = await rig2.history(done.id)
        assert Path(attempts[0].run_dir, "stdout").read_text() == "before the disk filled\n"
        await rig2.engine.stop()
