"""`jobtui doctor` with a real `jobtui --serve` on the state directory: the engine's API and who you are."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from engine import __version__
from tests.fixtures.engine import ROOT, Daemon


def checks_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return {c["name"]: c for c in json.loads(done.stdout)["checks"]}


def test_doctor_reports_the_running_engine_and_the_callers_identity(daemon: Daemon, tmp_path: Path) -> None:
    done = daemon.cli("doctor", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    checks = checks_of(done)
    assert checks["engine"]["status"] == "ok"
    assert f"runs at {daemon.socket} (pid {daemon.pid}), API {__version__}" in checks["engine"]["detail"]
    assert checks["identity"]["status"] == "ok"
    assert checks["identity"]["detail"].startswith(f"you are {getpass.getuser()} (admin), by the owner's token")
    assert checks["state dir"]["status"] == "ok" and "mode 0700" in checks["state dir"]["detail"]

    ann = tmp_path / "ann.token"
    ann.write_text(daemon.issue_token("ann") + "\n")
    checks = checks_of(daemon.cli("--token", str(ann), "doctor", "--json"))
    assert checks["identity"] == {
        "name": "identity",
        "status": "ok",
        "detail": f"you are ann (researcher), by the token of --token {ann}",
    }
    env = {**daemon.env, "JOBTUI_TOKEN": ann.read_text().strip()}
    by_env = subprocess.run(
        daemon.argv("doctor", "--json"), capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )
    assert checks_of(by_env)["identity"]["detail"] == "you are ann (researcher), by the token in $JOBTUI_TOKEN"

    table = daemon.cli("--token", str(ann), "doctor").stdout  # the same, for people
    assert any(
        line.split()[:3] == ["identity", "ok", "you"] and "ann (researcher)" in line for line in table.splitlines()
    )


def test_doctor_fails_a_token_the_engine_does_not_know(daemon: Daemon, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-a-token-it-issued\n")
    done = daemon.cli("--token", str(wrong), "doctor", "--json")
    assert done.returncode == 1 and done.stderr == ""
    identity = checks_of(done)["identity"]
    assert identity["status"] == "fail" and "unknown API token" in identity["detail"]
    assert f"--token {wrong} is not one it knows" in identity["detail"] and "jobtui token USER" in identity["detail"]
    assert checks_of(done)["engine"]["status"] == "ok"

    unreadable = daemon.cli("--token", str(tmp_path / "absent"), "doctor", "--json")
    assert unreadable.returncode == 1 and "cannot read the token file" in checks_of(unreadable)["identity"]["detail"]


def test_doctor_flags_a_state_dir_opened_up_after_start(daemon: Daemon) -> None:
    os.chmod(daemon.state_dir, 0o755)
    try:
        check = checks_of(daemon.cli("doctor", "--json"))["state dir"]
    finally:
        os.chmod(daemon.state_dir, 0o700)
    assert check["status"] == "warn" and f"chmod 700 {daemon.state_dir}" in check["detail"]
