"""End to end: the real `jobtui` command inside tmux (send-keys, capture-pane) against a real
`jobtui --serve` daemon running real jobs. Skipped where tmux is missing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.api.discovery import engine_running

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
BIN = Path(sys.executable).parent
JOBTUI = str(BIN / "jobtui")


class Tmux:
    def __init__(self, sock: Path) -> None:
        self.sock = str(sock)

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.sock, *args], capture_output=True, text=True, timeout=10).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "jt")

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; screen:\n{self.screen()}")


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run([JOBTUI, *args], env=env, capture_output=True, text=True, timeout=30, check=True).stdout


@pytest.fixture
def daemon(tmp_path):
    env = {**os.environ, "JOBTUI_HOME": str(tmp_path / "home"), "TERM": "xterm-256color"}
    proc = subprocess.Popen(
        [JOBTUI, "--serve"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    state = tmp_path / "home"
    deadline = time.monotonic() + 20
    while not (engine_running(state) and (state / "engine.sock").exists()):
        assert proc.poll() is None and time.monotonic() < deadline, "jobtui --serve did not start"
        time.sleep(0.05)
    yield env
    subprocess.run([JOBTUI, "cancel", "1", "2", "3"], env=env, capture_output=True, timeout=30)
    proc.send_signal(signal.SIGTERM)
    proc.wait(20)


def test_tui_in_tmux_against_daemon(daemon, tmp_path):
    env = daemon
    cli(
        env,
        "submit",
        "--name",
        "counter",
        "--",
        "sh",
        "-c",
        'for i in $(seq 1 600); do echo "tick $i"; sleep 0.1; done',
    )
    cli(env, "submit", "--name", "gated", "--requires-approval", "--", "sh", "-c", "echo approved-and-ran")
    tmux = Tmux(tmp_path / "tmux.sock")
    command = f"env JOBTUI_HOME={env['JOBTUI_HOME']} TERM=xterm-256color {JOBTUI}"
    tmux("new-session", "-d", "-s", "jt", "-x", "100", "-y", "30", command)
    try:
        screen = tmux.wait_for("counter")
        assert "gated" in screen and "blocked" in screen and "running" in screen
        tmux("send-keys", "-t", "jt", "j", "a")  # approve the gated job
        tmux.wait_for("completed")
        tmux("send-keys", "-t", "jt", "g", "l")  # logs of the running counter
        tmux.wait_for("tick ")
        tmux("send-keys", "-t", "jt", "Escape")  # back to the table (a lone Escape: wait before the next key)
        time.sleep(0.5)
        tmux("send-keys", "-t", "jt", "c")
        tmux.wait_for("Cancel jobs?")
        tmux("send-keys", "-t", "jt", "n")
        time.sleep(0.3)
        tmux("send-keys", "-t", "jt", "q")  # quit: the daemon and its running job go on
        deadline = time.monotonic() + 10
        while "jt" in tmux("list-sessions") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "jt" not in tmux("list-sessions")
    finally:
        tmux("kill-server")
        Path(tmux.sock).unlink(missing_ok=True)
    listing = cli(env, "list")
    assert "running" in listing.splitlines()[1] and "completed" in listing


def test_hosted_quit_hands_queued_jobs_to_a_daemon(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "JOBTUI_HOME": str(home), "TERM": "xterm-256color"}
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("- {command: [sh, -c, 'echo later'], name: held, requires_approval: true}\n")
    tmux = Tmux(tmp_path / "tmux.sock")
    tmux(
        "new-session",
        "-d",
        "-s",
        "jt",
        "-x",
        "100",
        "-y",
        "30",
        f"env JOBTUI_HOME={home} TERM=xterm-256color {JOBTUI} --submit {jobs}; sleep 30",
    )
    try:
        tmux.wait_for("held")
        tmux("send-keys", "-t", "jt", "q")
        tmux.wait_for("still queued")
        tmux("send-keys", "-t", "jt", "s")
        tmux.wait_for("started `jobtui --serve`")
        assert engine_running(home)
        assert "held" in cli(env, "list")
    finally:
        tmux("kill-server")
        Path(tmux.sock).unlink(missing_ok=True)
        lock = home / "engine.lock"
        if engine_running(home):
            os.kill(int(lock.read_text().split()[0]), signal.SIGTERM)
