"""`jobtui --serve` that cannot start says why in one message and exits 2 (bad input) or 1 (anything else).

Each case runs the real command as a subprocess: no traceback, the path named, the next step said.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.store import SCHEMA_VERSION
from tests.fixtures.engine import JOBTUI, ROOT

SOCKET_NAME = "engine.sock"
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes, the last one the terminating NUL


def serve(state_dir: Path, *extra: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run `jobtui --state-dir STATE_DIR --serve` and expect it to stop on its own (it fails to start)."""
    env = {**os.environ}
    env.pop("JOBTUI_CONFIG", None)
    env.pop("JOBTUI_HOME", None)
    return subprocess.run(
        [*JOBTUI, "--state-dir", str(state_dir), "--serve", *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


def assert_one_clear_message(done: subprocess.CompletedProcess[str], rc: int, *says: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == rc, f"rc {done.returncode}, stderr: {done.stderr}"
    assert "Traceback" not in done.stderr and len(lines) == 1, done.stderr
    assert lines[0].startswith("jobtui: "), done.stderr
    for text in says:
        assert text in done.stderr, f"{text!r} not in: {done.stderr}"


def sized_state_dir(parent: Path, socket_bytes: int) -> Path:
    """A state directory (not created) whose socket path is exactly `socket_bytes` long."""
    room = socket_bytes - len(os.fsencode(parent)) - len("/") - len("/" + SOCKET_NAME)
    assert 1 <= room <= 255, "tmp_path too long or too short for this test"
    return parent / ("s" * room)


# -- bad input: exit 2 ---------------------------------------------------------------------------------------


def test_state_dir_that_is_a_regular_file_is_refused_with_exit_2(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("not a directory\n")
    done = serve(state)
    assert_one_clear_message(done, 2, str(state), "not a directory", "--state-dir")
    assert state.read_text() == "not a directory\n"


def test_state_dir_under_a_regular_file_is_refused_with_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    done = serve(blocker / "state")
    assert_one_clear_message(done, 2, str(blocker / "state"), f"{blocker} is a file", "--state-dir")


def test_socket_path_over_107_bytes_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    state = sized_state_dir(tmp_path, MAX_SOCKET_PATH + 1)
    done = serve(state)
    assert_one_clear_message(done, 2, f"{MAX_SOCKET_PATH + 1} bytes", "107", "--state-dir", "JOBTUI_HOME")
    assert str(state / SOCKET_NAME) in done.stderr
    assert not state.exists(), "nothing should be made for a state directory that cannot be served"


def test_socket_path_of_exactly_107_bytes_serves(daemon_factory, tmp_path: Path) -> None:
    daemon = daemon_factory(name=sized_state_dir(tmp_path, MAX_SOCKET_PATH).name)
    assert len(os.fsencode(daemon.socket)) == MAX_SOCKET_PATH
    daemon.start()
    assert daemon.get("/api/health").status_code == 200


# -- anything else: exit 1 ---------------------------------------------------------------------------------


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[str]:
    """`directory` made unwritable: a read-only bind mount as root (root ignores modes), mode 0500 otherwise."""
    directory.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        directory.chmod(0o500)
        try:
            yield "Permission denied"
        finally:
            directory.chmod(0o700)
        return
    bind = subprocess.run(["mount", "--bind", str(directory), str(directory)], capture_output=True, text=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bind.stderr.strip()}")
    try:
        remount = subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(directory)], capture_output=True, text=True, check=False
        )
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {remount.stderr.strip()}")
        yield "read-only"
    finally:
        subprocess.run(["umount", str(directory)], check=False)


@contextlib.contextmanager
def immutable(directory: Path) -> Iterator[None]:
    """`directory` made immutable (`chattr +i`): not even root may create files in it."""
    if os.geteuid() != 0:
        pytest.skip("chattr +i needs root")
    directory.mkdir(exist_ok=True)
    done = subprocess.run(["chattr", "+i", str(directory)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not possible here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=False)


def test_read_only_state_dir_is_one_clear_message_with_exit_1(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with read_only(state) as why:
        done = serve(state)
    assert_one_clear_message(done, 1, str(state), why, "--state-dir", "JOBTUI_HOME")


def test_read_only_state_dir_of_an_earlier_engine_is_one_clear_message(daemon_factory, tmp_path: Path) -> None:
    daemon = daemon_factory().start()
    daemon.stop()
    db = daemon.state_dir / "jobtui.db"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    with read_only(daemon.state_dir) as why:
        done = serve(daemon.state_dir)
    assert_one_clear_message(done, 1, str(daemon.state_dir), why, "--state-dir")
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_state_dir_that_cannot_be_created_under_a_read_only_parent(tmp_path: Path) -> None:
    parent = tmp_path / "parent"
    with read_only(parent) as why:
        done = serve(parent / "state")
    assert_one_clear_message(done, 1, str(parent / "state"), why, "--state-dir")


def test_immutable_state_dir_is_one_clear_message_with_exit_1(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with immutable(state):
        done = serve(state)
    assert_one_clear_message(done, 1, str(state), "Operation not permitted", "--state-dir")


def test_damaged_database_is_one_clear_message_with_exit_1(daemon_factory) -> None:
    daemon = daemon_factory().start()
    daemon.stop()
    db = daemon.state_dir / "jobtui.db"
    con = sqlite3.connect(db)
    con.execute("INSERT INTO jobs(id, status, user, updated_at, data) VALUES (7, 'waiting', 'u', 0, '{broken')")
    con.commit()
    con.close()
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    done = serve(daemon.state_dir)
    assert_one_clear_message(done, 1, str(db), "job 7", "damaged", "backup", "move it aside")
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_newer_database_is_one_clear_message_with_exit_1(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    con = sqlite3.connect(state / "jobtui.db")
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.close()
    done = serve(state)
    assert_one_clear_message(done, 1, str(state / "jobtui.db"), "newer", "Upgrade jobtui")


def test_listen_address_in_use_is_one_clear_message_and_leaves_no_socket(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = serve(tmp_path / "state", "--listen", f"127.0.0.1:{port}")
    assert_one_clear_message(done, 1, f"127.0.0.1:{port}", "--listen")
    assert not (tmp_path / "state" / SOCKET_NAME).exists()


# -- shared mode ---------------------------------------------------------------------------------------------


async def test_shared_mode_without_root_refuses_to_start_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shared mode runs each job as its submitter; a daemon that cannot switch users must not pretend it can."""
    from engine.api import daemon
    from engine.config import parse_config
    from engine.errors import StartupError

    monkeypatch.setattr(daemon, "can_switch_users", lambda: False)
    config = parse_config(f"mode: shared\nshared:\n  socket: {tmp_path / 'shared.sock'}\n")
    host = daemon.EngineHost(config, tmp_path / "state")
    with pytest.raises(StartupError, match="needs root"):
        await host.start()
    assert not (tmp_path / "shared.sock").exists()
    assert not (tmp_path / "state").exists(), "nothing is made before the refusal"
