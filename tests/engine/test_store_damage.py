"""Opening the state database changes nothing it then refuses; damaged state is refused, never reset.

The store first reads the file through a read-only connection (integrity, schema version, tables),
and only when all is well switches it to WAL and migrates it. A damaged row (broken JSON, an unknown
status) or a missing table is a clear `StoreError` naming the file and what to do: restore a backup,
or move the file aside to start empty.
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.errors import StoreError
from engine.models import JobStatus
from engine.store import MIGRATIONS, SCHEMA_VERSION
from tests.fixtures.engine import db_rows


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def header_journal_bytes(db: Path) -> bytes:
    """Bytes 18-19 of the SQLite header: 1,1 for a rollback journal, 2,2 for WAL."""
    return db.read_bytes()[18:20]


def journal_mode(db: Path) -> str:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        con.close()


def assert_says_what_to_do(message: str, db: Path) -> None:
    assert str(db) in message, message
    assert "backup" in message and "move it aside" in message, message
    assert "Traceback" not in message


def run_sql(db: Path, *statements: str) -> None:
    con = sqlite3.connect(db)
    try:
        for sql in statements:
            con.execute(sql)
        con.commit()
    finally:
        con.close()


# -- 1: read-only first ------------------------------------------------------------------------------------


async def test_newer_schema_in_rollback_journal_mode_is_refused_byte_identical_and_not_switched_to_wal(
    engine_factory, state_dir: Path
) -> None:
    state_dir.mkdir()
    db = state_dir / "jobtui.db"
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    con.execute("CREATE TABLE future (x)")
    con.execute("INSERT INTO future VALUES (42)")
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    before = sha256(db)
    assert header_journal_bytes(db) == b"\x01\x01"

    with pytest.raises(StoreError) as info:
        await engine_factory()

    message = str(info.value)
    assert f"schema version {SCHEMA_VERSION + 1} is newer" in message and "Upgrade jobtui" in message
    assert sha256(db) == before, "the refused database was changed"
    assert header_journal_bytes(db) == b"\x01\x01" and journal_mode(db) == "delete"
    assert not (state_dir / "jobtui.db-wal").exists()
    assert db_rows(state_dir, "SELECT x FROM future") == [(42,)]


async def test_interrupted_transaction_of_another_writer_is_refused_untouched(engine_factory, state_dir: Path) -> None:
    """A hot rollback journal needs a writer to roll it back: refused, database and journal left as they are."""
    state_dir.mkdir()
    db = state_dir / "jobtui.db"
    run_sql(db, "CREATE TABLE future (x)", "INSERT INTO future VALUES (1)", f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    # A writer that dies mid-transaction, with pages already spilled to the file: a hot journal remains.
    crash = (
        "import os, sqlite3\n"
        f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
        "c.execute('PRAGMA cache_size=1')\n"
        "c.execute('BEGIN')\n"
        "c.execute('INSERT INTO future SELECT randomblob(4000) FROM "
        "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<100) SELECT i FROM n)')\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", crash], check=True, timeout=30)
    journal = state_dir / "jobtui.db-journal"
    assert journal.exists() and journal.stat().st_size > 0
    before = (sha256(db), sha256(journal))

    with pytest.raises(StoreError) as info:
        await engine_factory()

    message = str(info.value)
    assert str(db) in message and "interrupted transaction" in message
    assert (sha256(db), sha256(journal)) == before


async def test_store_opened_twice_leaves_a_current_database_byte_identical(engine_factory, state_dir: Path) -> None:
    rig = await engine_factory()
    await rig.submit_one(["true"], requires_approval=True)
    await rig.engine.stop()
    db = state_dir / "jobtui.db"
    before = sha256(db)
    rig2 = await engine_factory()
    assert len(rig2.engine.jobs()) == 1
    await rig2.engine.stop()
    assert sha256(db) == before


async def test_older_schema_is_migrated_and_switched_to_wal(engine_factory, state_dir: Path) -> None:
    """What passes the read-only checks is still upgraded: version 1 in rollback mode becomes current, WAL."""
    state_dir.mkdir()
    db = state_dir / "jobtui.db"
    con = sqlite3.connect(db)
    con.executescript(MIGRATIONS[0])
    con.execute("PRAGMA user_version=1")
    con.commit()
    con.close()
    rig = await engine_factory()
    await rig.engine.stop()
    assert db_rows(state_dir, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert journal_mode(db) == "wal"


# -- 2: damaged state ----------------------------------------------------------------------------------------


DAMAGE: dict[str, tuple[Callable[[int, int], list[str]], str]] = {
    # name: (the SQL that damages the file, given a waiting job's id and a running job's id; what the message names)
    "broken job JSON": (lambda w, r: [f'UPDATE jobs SET data = \'{{"id": {w}, "name": \' WHERE id = {w}'], "job {w}"),
    "broken job state JSON": (lambda w, r: [f"UPDATE jobs SET state = '{{nope' WHERE id = {w}"], "job {w}"),
    "job JSON not an object": (
        lambda w, r: [f"UPDATE jobs SET data = '[1, 2]', state = NULL WHERE id = {w}"],
        "job {w}",
    ),
    "unknown status in the record": (
        lambda w, r: [
            f"UPDATE jobs SET data = json_set(data, '$.status', 'exploded'), "
            f"state = json_set(state, '$.status', 'exploded') WHERE id = {w}"
        ],
        "unknown status 'exploded'",
    ),
    "unknown status in the status column": (
        lambda w, r: [f"UPDATE jobs SET status = 'exploded' WHERE id = {w}"],
        "unknown status 'exploded'",
    ),
    "broken attempt JSON of a running job": (
        lambda w, r: [f"UPDATE attempts SET data = 'xx' WHERE job_id = {r}"],
        "attempt 1 of job {r}",
    ),
    "broken setting": (lambda w, r: ["INSERT OR REPLACE INTO settings(key, value) VALUES ('limits', '{')"], "'limits'"),
    "missing settings table": (lambda w, r: ["DROP TABLE settings"], "table 'settings' is missing"),
    "missing events table": (lambda w, r: ["DROP TABLE events"], "table 'events' is missing"),
    "missing column": (
        lambda w, r: ["ALTER TABLE jobs DROP COLUMN state"],
        "column 'state' of table 'jobs' is missing",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
async def test_damaged_state_is_refused_with_what_to_do_and_never_reset(
    engine_factory, state_dir: Path, damage: str
) -> None:
    rig = await engine_factory()
    waiting = await rig.submit_one(["true"], requires_approval=True)
    running = await rig.submit_one(["sleep", "30"])
    await rig.wait_status(running.id, JobStatus.RUNNING)
    await rig.engine.stop()
    db = state_dir / "jobtui.db"
    sql, names = DAMAGE[damage]
    run_sql(db, *sql(waiting.id, running.id))
    before = sha256(db)

    with pytest.raises(StoreError) as info:
        await engine_factory()

    message = str(info.value)
    assert_says_what_to_do(message, db)
    assert names.format(w=waiting.id, r=running.id) in message
    assert "damaged" in message
    assert sha256(db) == before, "the refused database was changed"


async def test_broken_attempt_of_a_finished_job_is_a_clear_error_when_read(engine_factory, state_dir: Path) -> None:
    """Attempts of jobs that are not active are read on demand: a broken one is a StoreError then, not a crash."""
    rig = await engine_factory()
    done = await rig.submit_one(["true"])
    await rig.wait_terminal(done.id)
    await rig.engine.stop()
    db = state_dir / "jobtui.db"
    run_sql(db, f'UPDATE attempts SET data = \'{{"job_id": {done.id}, "bogus": 1}}\' WHERE job_id = {done.id}')
    rig2 = await engine_factory()
    with pytest.raises(StoreError) as info:
        await rig2.history(done.id)
    assert_says_what_to_do(str(info.value), db)
    assert f"attempt 1 of job {done.id}" in str(info.value)
