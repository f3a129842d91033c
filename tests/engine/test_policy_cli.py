"""The policy verbs through the real CLI and a real daemon: a submission carries the shell's environment (and its
PATH for the program check), `--clean-env` does not; `list` has a REASON column, `show` says why and when;
`wait --all` reports a job held for approval instead of waiting for it; `approvals` and `fairshare` answer."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.fixtures.engine import ROOT, Daemon

CONFIG = """
nodes: [{name: local, kind: local, cores: 4, gpus: 0}]
limits: {max_concurrent: 4, user_max_concurrent: 1}
approval:
  rules:
    - {name: four-cores, when: {cpus_at_least: 4}, action: require_approval}
fairshare: {enabled: true}
"""


def _cli(daemon: Daemon, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        daemon.argv(*args), capture_output=True, text=True, env={**daemon.env, **(env or {})}, cwd=ROOT, timeout=60
    )


def test_the_cli_sends_the_environment_and_explains_waiting(daemon_factory, tmp_path: Path) -> None:
    daemon = daemon_factory(CONFIG).start()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "myprog").write_text('#!/bin/sh\necho "setting=$MY_SETTING token=${MY_TOKEN:-none}"\n')
    (bin_dir / "myprog").chmod(0o755)
    shell = {"PATH": f"{bin_dir}:{daemon.env['PATH']}", "MY_SETTING": "blue", "MY_TOKEN": "t-999"}
    done = _cli(daemon, "--json", "submit", "--", "myprog", env=shell)
    assert done.returncode == 0, done.stderr
    [job_id] = json.loads(done.stdout)["ids"]
    assert _cli(daemon, "wait", str(job_id)).returncode == 0
    out = _cli(daemon, "logs", str(job_id)).stdout
    assert "setting=blue token=none" in out  # the shell's variable; the deny-listed token stayed behind
    refused = _cli(daemon, "submit", "--clean-env", "--", "myprog", env=shell)
    assert refused.returncode != 0 and "not found on PATH" in refused.stderr

    gate = tmp_path / "go"
    blocker = ["sh", "-c", f'while [ ! -e "{gate}" ]; do sleep 0.02; done']
    first = json.loads(_cli(daemon, "--json", "submit", "--timeout", "10m", "--", *blocker).stdout)["ids"][0]
    second = json.loads(_cli(daemon, "--json", "submit", "--", "true").stdout)["ids"][0]
    held = json.loads(_cli(daemon, "--json", "submit", "--cpus", "4", "--", "true").stdout)["ids"][0]
    listing = _cli(daemon, "list").stdout.splitlines()
    assert "REASON" in listing[0].split()
    assert any(line.split()[0] == str(second) and "user_limit" in line for line in listing[1:])
    shown = _cli(daemon, "show", str(second)).stdout
    assert "user_limit" in shown and "may start" in shown
    position = _cli(daemon, "position", str(second)).stdout
    assert "user_limit" in position
    approvals = _cli(daemon, "approvals").stdout
    assert str(held) in approvals and "four-cores" in approvals
    gate.touch()
    waited = _cli(daemon, "wait", "--all", "--timeout", "30")
    assert waited.returncode == 1  # the held job did not complete ...
    assert f"job(s) {held} await approval" in waited.stderr  # ... and was reported, not waited for
    assert _cli(daemon, "--json", "show", str(first)).returncode == 0
    fair = json.loads(_cli(daemon, "--json", "fairshare").stdout)
    assert fair["enabled"] and any(u["usage"] > 0 for u in fair["users"])
