"""SQLite store through aiosqlite: WAL, ordered migrations, one writer.

Opening checks the file read-only first (integrity, schema version, tables) and changes nothing it then
refuses; a damaged row met when loading is a StoreError naming the file and what to do, never a reset.

User actions are committed before they are acknowledged (`durable=True`); the engine's own transitions
are queued and committed in groups every `group_window` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from itertools import groupby
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from engine.errors import StoreError
from engine.models import Attempt, Job, JobEvent, JobStatus, SharedParts, Submission, WorkflowRecord

log = logging.getLogger(__name__)

MIGRATIONS: list[str] = [
    # 1: the first schema.
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        status TEXT NOT NULL,
        user TEXT NOT NULL,
        updated_at REAL NOT NULL,
        finished_at REAL,
        data TEXT NOT NULL
    );
    CREATE INDEX jobs_status ON jobs(status);
    CREATE INDEX jobs_finished ON jobs(finished_at);
    CREATE TABLE attempts (
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        number INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (job_id, number)
    );
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        kind TEXT NOT NULL,
        from_status TEXT,
        to_status TEXT,
        reason TEXT,
        message TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX events_job ON events(job_id, seq);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: a job's changing fields are rewritten on their own (`state`, laid over `data` on load).
    """
    ALTER TABLE jobs ADD COLUMN state TEXT;
    """,
    # 3: idempotency keys of submissions, each with its batch's digest and job ids (a JSON list).
    """
    CREATE TABLE submissions (
        user TEXT NOT NULL,
        key TEXT NOT NULL,
        digest TEXT NOT NULL,
        ids TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (user, key)
    );
    """,
    # 4: workflow records (a batch submitted from a workflow file); its jobs carry `workflow_id` in their data,
    # with their edges' conditions (`after_when`): a job row of before loads with neither.
    """
    CREATE TABLE workflows (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        version TEXT,
        description TEXT NOT NULL DEFAULT '',
        digest TEXT NOT NULL DEFAULT '',
        submitter TEXT NOT NULL,
        created_at REAL NOT NULL,
        max_concurrent INTEGER
    );
    """,
    # 5: the environments jobs were submitted with, once per distinct one (a job's `extra.environment` is its
    # digest): the submitter's variables that pass the deny-list, and the job's deny-listed values.
    """
    CREATE TABLE environments (digest TEXT PRIMARY KEY, data TEXT NOT NULL);
    """,
    # 6: an attempt's record (JSON in `data`) carries its cgroup's directories, CPU time and peak memory
    # (`cgroups`, `cpu_seconds`, `peak_memory_bytes`); nothing to change in a table, but an older jobtui must not
    # read such records, so the version moves on.
    """
    SELECT 1;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

_UPSERT_JOB = (
    "INSERT INTO jobs(id, status, user, updated_at, finished_at, data) VALUES (?,?,?,?,?,?) "
    "ON CONFLICT(id) DO UPDATE SET status=excluded.status, updated_at=excluded.updated_at, "
    "finished_at=excluded.finished_at, data=excluded.data, state=NULL"
)
_UPDATE_JOB_STATE = "UPDATE jobs SET status=?, updated_at=?, finished_at=?, state=? WHERE id=?"
_UPSERT_ATTEMPT = (
    "INSERT INTO attempts(job_id, number, data) VALUES (?,?,?) "
    "ON CONFLICT(job_id, number) DO UPDATE SET data=excluded.data"
)
_INSERT_SUBMISSION = "INSERT INTO submissions(user, key, digest, ids, created_at) VALUES (?,?,?,?,?)"
_INSERT_WORKFLOW = (
    "INSERT INTO workflows(id, name, version, description, digest, submitter, created_at, max_concurrent) "
    "VALUES (?,?,?,?,?,?,?,?)"
)
_INSERT_EVENT = (
    "INSERT INTO events(seq, job_id, at, actor, kind, from_status, to_status, reason, message) "
    "VALUES (?,?,?,?,?,?,?,?,?)"
)

Statement = tuple[str, tuple[Any, ...]]
_LOAD_CHUNK = 2000  # job rows read at once at start-up


def _call(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # one callback's failure neither undoes the commit nor stops the others
            log.exception("a callback after a commit failed")


def _commit(conn: sqlite3.Connection, statements: list[Statement], synchronous: str | None) -> None:
    """Run `statements` as one transaction (in the store's SQLite thread), setting `synchronous` first when given;
    rolled back whole when one fails."""
    if synchronous is not None:
        conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql, group in groupby(statements, key=lambda st: st[0]):
            conn.executemany(sql, [params for _, params in group])
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def job_row(job: Job) -> tuple[Any, ...]:
    data = job.to_dict()
    return (job.id, job.status.value, job.user, job.updated_at, job.finished_at, _dumps(data))


class Store:
    """The single writer of the database file."""

    def __init__(self, path: Path, group_window: float = 0.05) -> None:
        self.path = path
        self.group_window = group_window
        self._db: aiosqlite.Connection | None = None
        self._pending: list[Statement] = []
        self._then: list[Callable[[], None]] = []  # to call once what is pending now is committed
        self._lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self.last_error: StoreError | None = None
        self._durable: bool | None = True
        self._reader: aiosqlite.Connection | None = None  # reports' own read-only connection, opened on first use

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection; a programming error to ask for it before `open()` or after `close()`."""
        if self._db is None:
            raise RuntimeError(f"{self.path}: the state store is not open (used before open() or after close())")
        return self._db

    async def open(self) -> None:
        """Check the file through a read-only connection; only then switch it to WAL and migrate it.

        A file that is refused (unreadable, damaged, of a newer schema, or holding another program's
        interrupted transaction) is left byte for byte as it was, in its own journal mode.
        """
        if self.path.exists():
            try:
                await asyncio.to_thread(_inspect, self.path)
            except sqlite3.Error as e:
                raise StoreError(_unreadable_message(self.path, e)) from e
        else:  # made 0600 whatever the umask; SQLite gives its -wal and -shm files the database's mode
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            connection = aiosqlite.connect(self.path, isolation_level=None)
            _never_keeps_the_process_alive(connection)
            self._db = db = await connection
            version: int = await self._scalar("PRAGMA user_version")
            if version > SCHEMA_VERSION:  # checked read-only already, but the file may have changed since
                raise StoreError(_newer_message(self.path, version))
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=FULL")
            await db.execute("PRAGMA foreign_keys=ON")
            await self._migrate(version)
        except sqlite3.Error as e:
            await self._close_quietly()
            raise StoreError(_write_open_error_message(self.path, e)) from e
        except BaseException:
            await self._close_quietly()
            raise

    async def _scalar(self, sql: str) -> Any:
        """The one value of a query that always answers one row of one column (a PRAGMA, an aggregate)."""
        async with self.db.execute(sql) as cur:
            row = await cur.fetchone()
        if row is None:
            raise sqlite3.DatabaseError(f"no answer to {sql!r}")
        (value,) = row
        return value

    async def _migrate(self, version: int) -> None:
        for number in range(version, SCHEMA_VERSION):
            await self.db.executescript(f"BEGIN; {MIGRATIONS[number]} PRAGMA user_version={number + 1}; COMMIT;")

    async def _close_quietly(self) -> None:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await reader.close()
        if self._db is not None:
            try:
                await self._db.close()
            finally:
                self._db = None

    async def close_unflushed(self) -> None:
        """Close without writing what is queued (a start that failed has nothing worth writing)."""
        if self._flusher:
            self._flusher.cancel()
            self._flusher = None
        await self._close_quietly()

    async def close(self) -> None:
        if self._flusher:
            self._flusher.cancel()
            self._flusher = None
        if self._db is not None:
            try:
                await self.flush()
            finally:
                await self._close_quietly()

    # -- writing -------------------------------------------------------------------------------------

    def queue(self, statements: Iterable[Statement]) -> None:
        """Queue statements for the next group commit (within `group_window` seconds)."""
        self._pending.extend(statements)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_later())

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once everything queued so far is committed (with the next group commit)."""
        self._then.append(callback)
        self.queue(())

    async def commit(self, acknowledged: list[Statement] | None = None, durable: bool = True) -> None:
        """Commit everything queued, plus `acknowledged`, before returning.

        `durable` (what a user is told is done) syncs to the disk; the engine's own commits, like launch
        intents, need only survive the engine being killed, which a WAL commit does without a sync.
        """
        await self.flush(acknowledged, durable)

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.group_window)
        try:
            # Shielded: cancelling this task (at close) must never cut a transaction in half.
            await asyncio.shield(self.flush())
        except StoreError as e:
            self.last_error = e
            await asyncio.sleep(1.0)
            self._flusher = asyncio.get_running_loop().create_task(self._flush_later())

    async def flush(self, acknowledged: list[Statement] | None = None, durable: bool = False) -> None:
        """Commit the queued statements, plus `acknowledged` ones whose caller waits for the commit.

        On failure the queued statements stay queued for the next try; the caller's are dropped and
        the error is raised to it, so nothing is acknowledged that is not saved.
        """
        async with self._lock:
            batch, self._pending = self._pending, []
            then, self._then = self._then, []
            # Grouping queued statements by kind turns them into a few executemany calls; a stable sort keeps
            # the order of changes to the same row.
            statements = _latest_only(sorted(batch, key=lambda st: st[0])) + (acknowledged or [])
            if not statements:
                _call(then)
                return
            synchronous = None if durable == self._durable else ("FULL" if durable else "NORMAL")
            try:
                # The whole transaction is one hand-off to the SQLite thread (each awaited call is one, and under
                # load each waits for that thread to be scheduled): `_execute` is how aiosqlite runs its own calls.
                await self.db._execute(_commit, self.db._conn, statements, synchronous)
                self._durable = durable
                self.last_error = None
            except sqlite3.Error as e:
                self._durable = None  # the mode is set again with the next commit
                self._pending[:0] = batch
                self._then[:0] = then
                raise StoreError(_write_error_message(self.path, e)) from e
            _call(then)

    # -- statements ----------------------------------------------------------------------------------

    @staticmethod
    def save_job(job: Job) -> Statement:
        """Upsert a whole job (at submission)."""
        return _UPSERT_JOB, job_row(job)

    @staticmethod
    def save_job_state(job: Job) -> Statement:
        """Rewrite only a job's changing fields: a third of the bytes of the whole record."""
        state = _dumps(job.state_dict())
        return _UPDATE_JOB_STATE, (job.status.value, job.updated_at, job.finished_at, state, job.id)

    @staticmethod
    def save_attempt(attempt: Attempt) -> Statement:
        return _UPSERT_ATTEMPT, (attempt.job_id, attempt.number, _dumps(attempt.to_dict()))

    @staticmethod
    def add_event(event: JobEvent) -> Statement:
        e = event
        return _INSERT_EVENT, (e.seq, e.job_id, e.at, e.actor, e.kind, e.from_status, e.to_status, e.reason, e.message)

    @staticmethod
    def set_setting(key: str, value: Any) -> Statement:
        return "INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, json.dumps(value))

    @staticmethod
    def save_submission(submission: Submission) -> Statement:
        """Record a keyed submission (in the commit of its jobs)."""
        s = submission
        return _INSERT_SUBMISSION, (s.user, s.key, s.digest, _dumps(list(s.ids)), s.created_at)

    @staticmethod
    def delete_submissions(keys: list[tuple[str, str]]) -> list[Statement]:
        """Forget the keys (user, key) of submissions whose jobs are being deleted."""
        return [("DELETE FROM submissions WHERE user = ? AND key = ?", key) for key in keys]

    @staticmethod
    def save_workflow(workflow: WorkflowRecord) -> Statement:
        """Record a workflow (in the commit of its jobs)."""
        w = workflow
        return _INSERT_WORKFLOW, (
            w.id, w.name, w.version, w.description, w.digest, w.submitter, w.created_at, w.max_concurrent
        )  # fmt: skip

    @staticmethod
    def delete_workflows(ids: list[int]) -> list[Statement]:
        """Forget workflows whose last jobs are being deleted."""
        return [("DELETE FROM workflows WHERE id = ?", (i,)) for i in ids]

    @staticmethod
    def delete_jobs(ids: list[int]) -> list[Statement]:
        marks = ",".join("?" * len(ids))
        return [
            (f"DELETE FROM events WHERE job_id IN ({marks})", tuple(ids)),
            (f"DELETE FROM attempts WHERE job_id IN ({marks})", tuple(ids)),
            (f"DELETE FROM jobs WHERE id IN ({marks})", tuple(ids)),
        ]

    @staticmethod
    def save_environment(digest: str, data: dict[str, Any]) -> Statement:
        """Keep an environment jobs were submitted with (once: the same digest is the same environment)."""
        return "INSERT OR IGNORE INTO environments(digest, data) VALUES (?, ?)", (digest, _dumps(data))

    @staticmethod
    def delete_unused_environments() -> Statement:
        """Forget the environments no job refers to any more (after jobs are deleted)."""
        digest = "json_extract(data, '$.extra.environment')"
        used = f"SELECT {digest} FROM jobs WHERE {digest} IS NOT NULL"
        return f"DELETE FROM environments WHERE digest NOT IN ({used})", ()

    # -- reading -------------------------------------------------------------------------------------

    async def load_environments(self) -> dict[str, dict[str, Any]]:
        """Every stored environment by digest (a damaged one is left out: its jobs start from the base)."""
        found = {}
        for digest, data in await self._rows("SELECT digest, data FROM environments"):
            try:
                found[digest] = _json_object(data, "its environment")
            except _Damage:
                continue  # its jobs are started from the engine's base environment
        return found

    async def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        try:
            async with self.db.execute(sql, params) as cur:
                return list(await cur.fetchall())
        except sqlite3.Error as e:
            raise StoreError(_read_error_message(self.path, e)) from e

    async def read(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Any]:
        """Rows of a read-only report query (metrics aggregate in SQL rather than load every job), on a
        connection of its own: a long report never holds up the writer's commits (WAL lets both run)."""
        try:
            if self._reader is None:
                connection = aiosqlite.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
                _never_keeps_the_process_alive(connection)
                self._reader = await connection
            async with self._reader.execute(sql, params) as cur:
                return list(await cur.fetchall())
        except sqlite3.Error as e:
            raise StoreError(_read_error_message(self.path, e)) from e

    async def load_jobs(self) -> list[Job]:
        """Every job, read a chunk of rows at a time (a large queue's rows are never all held at once), the parts
        jobs have in common held once (`SharedParts`)."""
        shared = SharedParts()
        jobs: list[Job] = []
        try:
            async with self.db.execute("SELECT id, status, data, state FROM jobs ORDER BY id") as cur:
                while rows := await cur.fetchmany(_LOAD_CHUNK):
                    jobs += [shared.share(self._job(*row)) for row in rows]
        except sqlite3.Error as e:
            raise StoreError(_read_error_message(self.path, e)) from e
        return jobs

    def _job(self, job_id: int, status: Any, data: Any, state: Any) -> Job:
        """The job of one row (`state` laid over `data`), or a StoreError saying the row is damaged."""
        try:
            fields = _json_object(data, "its record")
            if state:
                fields.update(_json_object(state, "its state"))
            for value in (status, fields.get("status")):
                if not (isinstance(value, str) and value in _STATUSES):
                    raise _Damage(f"it has an unknown status {value!r}")
            job = Job.from_dict(fields)
            if job.id != job_id:
                raise _Damage(f"its record is that of job {job.id!r}")
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise StoreError(_damaged_message(self.path, f"job {job_id} cannot be read: {_why(e)}")) from e
        return job

    def _attempt(self, job_id: int, number: int, data: Any) -> Attempt:
        """The attempt of one row, or a StoreError saying the row is damaged."""
        try:
            attempt = Attempt(**_json_object(data, "its record"))
            if (attempt.job_id, attempt.number) != (job_id, number):
                raise _Damage(f"its record is that of attempt {attempt.number!r} of job {attempt.job_id!r}")
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            what = f"attempt {number} of job {job_id} cannot be read: {_why(e)}"
            raise StoreError(_damaged_message(self.path, what)) from e
        return attempt

    async def load_attempts(self, job_id: int | None = None) -> list[Attempt]:
        sql = "SELECT job_id, number, data FROM attempts"
        params: tuple[Any, ...] = ()
        if job_id is not None:
            sql += " WHERE job_id = ?"
            params = (job_id,)
        return [self._attempt(*row) for row in await self._rows(sql + " ORDER BY job_id, number", params)]

    async def load_attempts_of(self, job_ids: list[int]) -> list[Attempt]:
        """The latest attempt of each of `job_ids`."""
        found: list[Attempt] = []
        for start in range(0, len(job_ids), 500):
            chunk = job_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            sql = (
                f"SELECT job_id, number, data FROM attempts a WHERE job_id IN ({marks}) "
                "AND number = (SELECT MAX(number) FROM attempts b WHERE b.job_id = a.job_id)"
            )
            found += [self._attempt(*row) for row in await self._rows(sql, tuple(chunk))]
        return found

    async def load_events(self, job_id: int, limit: int = 500) -> list[JobEvent]:
        sql = "SELECT seq, job_id, at, actor, kind, from_status, to_status, reason, message FROM events "
        sql += "WHERE job_id = ? ORDER BY seq DESC LIMIT ?"
        rows = await self._rows(sql, (job_id, limit))
        return [JobEvent(*row) for row in reversed(rows)]

    async def max_event_seq(self) -> int:
        rows = await self._rows("SELECT COALESCE(MAX(seq), 0) FROM events")
        seq: int = rows[0][0]
        return seq

    async def load_submissions(self) -> list[Submission]:
        rows = await self._rows("SELECT user, key, digest, ids, created_at FROM submissions")
        return [self._submission(*row) for row in rows]

    def _submission(self, user: Any, key: Any, digest: Any, ids: Any, created_at: Any) -> Submission:
        """The submission of one row, or a StoreError saying the row is damaged."""
        try:
            numbers = json.loads(ids)
            if not (isinstance(numbers, list) and numbers and all(type(i) is int for i in numbers)):
                raise _Damage("its job ids are not a list of numbers")
            return Submission(str(user), str(key), str(digest), tuple(numbers), float(created_at))
        except (ValueError, TypeError) as e:
            what = f"the submission with key {key!r} of {user!r} cannot be read: {_why(e)}"
            raise StoreError(_damaged_message(self.path, what)) from e

    async def load_workflows(self) -> list[WorkflowRecord]:
        sql = (
            "SELECT id, name, version, description, digest, submitter, created_at, max_concurrent "
            "FROM workflows ORDER BY id"
        )
        return [self._workflow(*row) for row in await self._rows(sql)]

    def _workflow(self, workflow_id: Any, name: Any, version: Any, *rest: Any) -> WorkflowRecord:
        """The workflow of one row, or a StoreError saying the row is damaged."""
        description, digest, submitter, created_at, cap = rest
        try:
            if not isinstance(workflow_id, int) or not isinstance(name, str) or not isinstance(submitter, str):
                raise _Damage("its id, name or submitter is not what it should be")
            if cap is not None and (not isinstance(cap, int) or cap < 1):
                raise _Damage(f"its max_concurrent {cap!r} is not a whole number of at least 1")
            text = None if version is None else str(version)
            return WorkflowRecord(
                workflow_id, name, text, str(description), str(digest), submitter, float(created_at), cap
            )
        except (ValueError, TypeError) as e:
            what = f"workflow {workflow_id!r} cannot be read: {_why(e)}"
            raise StoreError(_damaged_message(self.path, what)) from e

    async def load_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {}
        for key, value in await self._rows("SELECT key, value FROM settings"):
            try:
                settings[key] = json.loads(value)
            except (ValueError, TypeError) as e:
                what = f"setting {key!r} cannot be read: its value is not valid JSON ({e})"
                raise StoreError(_damaged_message(self.path, what)) from e
        return settings


# -- opening: the read-only inspection -------------------------------------------------------------------

_STATUSES = frozenset(status.value for status in JobStatus)
_SQLITE_READONLY_ROLLBACK = 776  # a hot rollback journal that a read-only connection cannot roll back


class _Damage(ValueError):
    """What is wrong with one row, in words."""


def _json_object(text: Any, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, TypeError) as e:
        raise _Damage(f"{what} is not valid JSON ({e})") from e
    if not isinstance(value, dict):
        raise _Damage(f"{what} is not a JSON object")
    return value


def _why(error: Exception) -> str:
    return str(error) if isinstance(error, _Damage) else f"its record does not fit ({type(error).__name__}: {error})"


def _inspect(path: Path) -> None:
    """Check `path` without writing to it: readable, not of a newer schema, intact, with the tables it should have.

    Raises StoreError (or sqlite3.Error, made one by `open`); returns when the file may be opened for writing.
    """
    con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, isolation_level=None)
    try:
        try:
            version = con.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.OperationalError as e:
            if getattr(e, "sqlite_errorcode", None) == _SQLITE_READONLY_ROLLBACK:
                raise StoreError(_interrupted_message(path)) from e
            raise
        if version > SCHEMA_VERSION:
            raise StoreError(_newer_message(path, version))
        (check,) = con.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {check}")
        missing = _missing_schema(_schema(con), _expected_schema(version))
        if missing:
            raise StoreError(_damaged_message(path, "; ".join(missing)))
    finally:
        con.close()


def _schema(con: sqlite3.Connection) -> dict[str, set[str]]:
    """The tables of a database, each with its column names."""
    sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    tables = [name for (name,) in con.execute(sql)]
    return {name: {row[1] for row in con.execute("SELECT * FROM pragma_table_info(?)", (name,))} for name in tables}


@functools.cache
def _expected_schema(version: int) -> dict[str, set[str]]:
    """The tables and columns a database of schema `version` has: the first `version` migrations, in memory."""
    con = sqlite3.connect(":memory:")
    try:
        for script in MIGRATIONS[:version]:
            con.executescript(script)
        return _schema(con)
    finally:
        con.close()


def _missing_schema(actual: dict[str, set[str]], expected: dict[str, set[str]]) -> list[str]:
    missing = []
    for table, columns in sorted(expected.items()):
        if table not in actual:
            missing.append(f"table {table!r} is missing")
            continue
        missing += [f"column {c!r} of table {table!r} is missing" for c in sorted(columns - actual[table])]
    return missing


# -- messages ------------------------------------------------------------------------------------------------

_WHAT_TO_DO = (
    "jobtui will not reset it or guess what it held: restore it from a backup, or move it aside (keep it for "
    "recovery) to start with an empty queue, or point --state-dir elsewhere; then start again."
)


def _damaged_message(path: Path, what: str) -> str:
    return f"{path}: the state database is damaged: {what}. {_WHAT_TO_DO}"


def _newer_message(path: Path, version: int) -> str:
    return (
        f"{path}: schema version {version} is newer than this jobtui understands ({SCHEMA_VERSION}). "
        "Upgrade jobtui; the database was left untouched."
    )


def _interrupted_message(path: Path) -> str:
    return (
        f"{path}: the state database holds an interrupted transaction of another program (its hot journal, "
        f"{path}-journal); jobtui will not roll it back before it has checked the file, and left both untouched. "
        f"Let the program that wrote it open it again, or recover it with `sqlite3 {path} 'PRAGMA quick_check'`, "
        "or restore a backup; then start again."
    )


def _unreadable_message(path: Path, error: sqlite3.Error) -> str:
    return f"{path}: the state database is unreadable ({error}). {_WHAT_TO_DO}"


def _write_open_error_message(path: Path, error: sqlite3.Error) -> str:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM):
        return (
            f"{path}: cannot open the state database for writing ({error}). Check that the state directory and "
            "the file are writable by this user and not on a read-only file system, or point --state-dir elsewhere."
        )
    return _unreadable_message(path, error)


def _read_error_message(path: Path, error: sqlite3.Error) -> str:
    return (
        f"{path}: could not read the state database ({error}). If it persists the file may be damaged: "
        "restore it from a backup, or move it aside (keep it for recovery) to start with an empty queue."
    )


# Statements that rewrite a whole row (an attempt; a job's changing fields) from the object as it is when queued:
# of several for one row in a commit, the last says all the others do (a job that starts and ends within one group
# window writes its attempt once, not three times). The key of the row in each statement's parameters.
_LAST_WINS: dict[str, slice] = {_UPSERT_ATTEMPT: slice(0, 2), _UPDATE_JOB_STATE: slice(4, 5)}


def _latest_only(statements: list[Statement]) -> list[Statement]:
    """`statements` (sorted by kind) without those a later one of the same kind for the same row overwrites."""
    kept: list[Statement] = []
    for sql, group in groupby(statements, key=lambda st: st[0]):
        key = _LAST_WINS.get(sql)
        if key is None:
            kept.extend(group)
        else:
            kept.extend({tuple(params[key]): (sql, params) for sql, params in group}.values())
    return kept


def _write_error_message(path: Path, error: sqlite3.Error) -> str:
    text = str(error)
    if "full" in text or getattr(error, "sqlite_errorcode", None) == errno.ENOSPC:
        return (
            f"{path}: the disk holding the state directory is full; nothing was acknowledged that is not "
            "saved. Free space there, then retry the action."
        )
    return f"{path}: could not save to the state database ({text}); retry, and check the disk if it persists."


def _never_keeps_the_process_alive(connection: aiosqlite.Connection) -> None:
    """A store that was never closed (a caller that crashed) must not hang the interpreter's exit.

    aiosqlite runs each connection in a non-daemon thread (`_thread` since 0.21; the connection itself is the
    thread before). Marked daemon before it starts, a forgotten connection ends with the process; SQLite's
    journal keeps the file whole whatever was in flight.
    """
    worker = getattr(connection, "_thread", None) or connection
    if isinstance(worker, threading.Thread):
        worker.daemon = True
