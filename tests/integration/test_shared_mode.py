"""Shared mode, for real: a root daemon, two Unix accounts, jobs that run as their submitters.

The accounts reach the engine with curl over the shared socket, as any program of theirs would; the kernel's
peer credentials say who they are. Their jobs try everything a researcher would try to act as someone else:
the owner's token, the database, the daemon's environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.accounts import UnixUser
from tests.fixtures.cgroups import cgroups_available
from tests.fixtures.engine import JOBTUI, ROOT, Daemon
from tests.waiting import wait_for_sync

SECRET = "daemon-secret-8c1f"  # in the daemon's environment: no job may see it
TERMINAL = {"completed", "failed", "cancelled", "skipped", "lost", "rejected"}


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """Where the shared socket lives: a directory every account may enter."""
    path = Path(tempfile.mkdtemp(prefix="jobtui-shared-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def shared(
    daemon_factory: Callable[..., Daemon], shared_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SharedEngine]:
    monkeypatch.setenv("JOBTUI_TEST_SECRET", SECRET)
    sock = shared_dir / "engine.sock"
    daemon = daemon_factory(f"mode: shared\nshared:\n  socket: {sock}\n").start()
    wait_for_sync(sock.exists, 10, "the shared socket")
    yield SharedEngine(daemon, sock)


class SharedEngine:
    def __init__(self, daemon: Daemon, sock: Path) -> None:
        self.daemon = daemon
        self.sock = sock

    def api(self, who: UnixUser, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        """One request as `who`, made by curl running under their uid."""
        argv = ["curl", "-sS", "--unix-socket", str(self.sock), "-X", method, "-w", "\n%{http_code}"]
        if body is not None:
            argv += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        if token is not None:
            argv += ["-H", f"Authorization: Bearer {token}"]
        done = who.run(*argv, f"http://jobtui{path}")
        assert done.returncode == 0, done.stderr
        text, _, code = done.stdout.rpartition("\n")
        return int(code), json.loads(text) if text else None

    def submit(self, who: UnixUser, command: list[str]) -> int:
        code, body = self.api(who, "POST", "/api/queue/submit", {"jobs": [{"command": command}]})
        assert code == 200, body
        return body["jobs"][0]["id"]

    def wait_ended(self, who: UnixUser, job_id: int) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            code, body = self.api(who, "GET", f"/api/jobs/{job_id}")
            assert code == 200, body
            return body["job"] if body["job"]["status"] in TERMINAL else None

        return wait_for_sync(ended, 30, f"job {job_id} to end")

    def output(self, who: UnixUser, job_id: int) -> str:
        code, body = self.api(who, "GET", f"/api/jobs/{job_id}/logs?stream=stdout")
        assert code == 200, body
        return body["data"]


def test_the_kernel_says_who_calls_and_a_token_cannot_change_it(
    shared: SharedEngine, test_accounts: dict[str, UnixUser]
) -> None:
    alice = test_accounts["alice"]
    code, me = shared.api(alice, "GET", "/api/queue/me")
    assert code == 200, me
    assert (me["user"], me["role"]) == ("jobtui-alice", "researcher")
    assert me["capabilities"]["issue_tokens"] is False
    # On the shared socket a token is no identity: the owner's, presented by alice, leaves her alice.
    code, me = shared.api(alice, "GET", "/api/queue/me", token=shared.daemon.token)
    assert (code, me["user"]) == (200, "jobtui-alice")


def test_root_uses_the_cli_on_the_shared_socket_without_a_token(shared: SharedEngine) -> None:
    env = {k: v for k, v in shared.daemon.env.items() if k != "JOBTUI_HOME"}
    env["JOBTUI_SOCKET"] = str(shared.sock)
    env["JOBTUI_HOME"] = str(shared.sock.parent / "nowhere")  # no engine of root's own: the shared one answers
    done = subprocess.run([*JOBTUI, "--json", "me"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["role"] == "admin"


def test_a_job_runs_as_its_submitter_and_cannot_act_as_anyone_else(
    shared: SharedEngine, test_accounts: dict[str, UnixUser]
) -> None:
    alice = test_accounts["alice"]
    state = shared.daemon.state_dir
    probe = (
        "echo uid=$(id -u) gid=$(id -g); echo home=$HOME cwd=$(pwd); "
        f"cat {state}/owner.token; head -c 64 {state}/jobtui.db; ls {state}; env; "
        f"echo unreadable=$(test -r {state}/owner.token || echo yes); exit 0"
    )
    job_id = shared.submit(alice, ["sh", "-c", probe])
    job = shared.wait_ended(alice, job_id)
    assert job["status"] == "completed", job
    out = shared.output(alice, job_id)
    assert f"uid={alice.uid} gid={alice.gid}" in out
    assert f"home={alice.home} cwd={alice.home}" in out
    assert "unreadable=yes" in out
    assert shared.daemon.token not in out
    assert SECRET not in out, "the daemon's environment reached the job"
    assert "SQLite format" not in out
    assert f"USER={alice.name}" in out


def test_each_account_acts_on_its_own_jobs_only(shared: SharedEngine, test_accounts: dict[str, UnixUser]) -> None:
    alice, bob = test_accounts["alice"], test_accounts["bob"]
    job_id = shared.submit(alice, ["sleep", "60"])
    code, body = shared.api(bob, "POST", f"/api/queue/{job_id}/cancel")
    assert code == 403, body
    assert "belongs to jobtui-alice" in body["message"]
    code, body = shared.api(alice, "POST", "/api/tokens", {"user": "jobtui-alice"})
    assert code == 403, body
    code, body = shared.api(alice, "POST", "/api/queue/concurrency", {"max_concurrent": 99})
    assert code == 403, body
    code, body = shared.api(alice, "POST", f"/api/queue/{job_id}/cancel")
    assert code == 200, body
    assert shared.wait_ended(alice, job_id)["status"] == "cancelled"


def test_tokens_in_shared_mode_name_unix_accounts(shared: SharedEngine) -> None:
    response = shared.daemon.post("/api/tokens", json={"user": "nobody-has-this-name"})
    assert response.status_code == 422, response.text
    assert "no Unix account" in response.json()["message"]


def test_the_wrapper_and_run_directory_stay_the_daemons(
    shared: SharedEngine, test_accounts: dict[str, UnixUser]
) -> None:
    alice = test_accounts["alice"]
    job_id = shared.submit(alice, ["echo", "hello"])
    assert shared.wait_ended(alice, job_id)["status"] == "completed"
    runs = list(shared.daemon.state_dir.rglob("stdout"))
    assert runs, "no run directory was written"
    for path in runs:
        assert path.stat().st_uid == os.geteuid()
    assert (shared.daemon.state_dir.stat().st_mode & 0o777) == 0o700


def test_a_job_cannot_leave_its_cgroup_or_raise_its_limit(
    shared: SharedEngine, test_accounts: dict[str, UnixUser]
) -> None:
    memory = Path("/sys/fs/cgroup/memory")
    if cgroups_available() is not None or not (memory / "cgroup.procs").exists():
        pytest.skip(cgroups_available() or "no cgroup v1 memory hierarchy at /sys/fs/cgroup/memory")
    alice = test_accounts["alice"]
    probe = (
        f"p=$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup); d={memory}$p; "
        "case $p in */jobtui-*) echo contained;; esac; "
        'if echo 1073741824 > "$d/memory.limit_in_bytes"; then echo raised; fi; '
        'if echo $$ > "$d/../../cgroup.procs"; then echo escaped; fi; '
        'echo limit=$(cat "$d/memory.limit_in_bytes")'
    )
    code, body = shared.api(
        alice, "POST", "/api/queue/submit", {"jobs": [{"command": ["sh", "-c", probe], "mem_mb": 64}]}
    )
    assert code == 200, body
    job = shared.wait_ended(alice, body["jobs"][0]["id"])
    out = shared.output(alice, job["id"])
    assert "contained" in out and f"limit={64 << 20}" in out, out
    assert "raised" not in out and "escaped" not in out, out
