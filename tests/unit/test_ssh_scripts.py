"""The executor's remote sh scripts, run here with /bin/sh as real processes (no SSH needed)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

from engine.executors import ssh_scripts as scripts
from engine.ssh import env_script


def _sh(script: str, *args: str, input: bytes = b"") -> str:
    done = subprocess.run(["/bin/sh", "-c", script, "jobtui-test", *args], input=input, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


def _launch(run_dir: Path, *command: str, env: dict[str, str] | None = None) -> tuple[int, int]:
    out = _sh(scripts.LAUNCH, scripts.REMOTE_WRAPPER, str(run_dir), str(run_dir / "work"), *command,
              input=env_script(env or {}))
    pid, start = scripts.parse_launch(out)
    assert pid and start
    return pid, start


def _poll(*triples: tuple[Path, int | None, int | None]):
    args = [str(a) if a is not None else "-" for triple in triples for a in triple]
    return scripts.parse_poll(_sh(scripts.POLL, *args), len(triples))


def _wait_exit(run_dir: Path, pid: int, start: int, timeout: float = 10) -> scripts.AttemptState:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _poll((run_dir, pid, start))[0][0]
        if not state.alive:
            return state
        time.sleep(0.05)
    raise AssertionError("the job did not end")


def test_launch_poll_read_exit_code(tmp_path):
    run = tmp_path / "run 1"  # a space in the path
    pid, start = _launch(run, "sh", "-c", 'sleep 0.3; echo "$JT_X"; echo err >&2; exit 7', env={"JT_X": "a'b $(x)"})
    assert os.getpgid(pid) == pid and os.getsid(pid) == pid  # detached: its own session and group
    state = _wait_exit(run, pid, start)
    assert state.exit_code == 7 and state.pid == pid
    _states, sizes = _poll((run, pid, start))
    assert sizes == {f"{run}/stdout": len("a'b $(x)\n"), f"{run}/stderr": 4}
    assert _sh(scripts.READ, str(run / "stdout"), "3", "4") == "b $("
    assert (run / "env").stat().st_mode & 0o777 == 0o600
    assert (run / "work").is_dir()


def test_poll_many_with_unknown_pid_and_a_recycled_one(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    pid_a, start_a = _launch(a, "sleep", "5")
    pid_b, start_b = _launch(b, "true")
    _wait_exit(b, pid_b, start_b)
    states, _ = _poll((a, None, None), (a, pid_a, start_a + 1), (b, pid_b, start_b), (tmp_path / "none", None, None))
    assert states[0].alive and states[0].pid == pid_a  # pid read from the pid file
    assert not states[1].alive  # same pid, other start time: not our process
    assert states[2] == scripts.AttemptState(False, pid_b, 0)
    assert states[3] == scripts.AttemptState(False, None, None)
    _sh(scripts.CANCEL, str(pid_a), str(start_a), "20")
    assert not _poll((a, pid_a, start_a))[0][0].alive


def test_cancel_kills_the_whole_group_and_spares_a_recycled_pid(tmp_path):
    run = tmp_path / "r"
    pid, start = _launch(run, "sh", "-c", "trap '' TERM; sleep 30 & sleep 30 & wait")
    time.sleep(0.3)
    _sh(scripts.CANCEL, str(pid), str(start + 5), "5")  # wrong start time: left alone
    assert _poll((run, pid, start))[0][0].alive
    began = time.monotonic()
    _sh(scripts.CANCEL, str(pid), str(start), "10")  # TERM is ignored by the job: KILL after 1 s
    assert 0.9 < time.monotonic() - began < 5
    time.sleep(0.2)
    alive = subprocess.run(["pgrep", "-g", str(pid)], capture_output=True, text=True).stdout.split()
    assert alive == [] or all(Path(f"/proc/{p}/stat").read_text().split(") ")[1][0] == "Z" for p in alive)


def test_incomplete_exit_file_is_not_an_exit_code(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "exit").write_text("12")  # cut short by a crash: no newline
    states, _ = _poll((run, None, None))
    assert states[0].exit_code is None


def test_parsers_tolerate_garbage():
    assert scripts.parse_launch("") == (None, None)
    assert scripts.start_time_of("123 (a) b) S") is None
    stat = "4242 (my (odd) job) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1 2"
    assert scripts.start_time_of(stat) == 987654
    states, sizes = scripts.parse_poll("X 0 1 77 \nX 9 0 1 3;\nnonsense\n12 /r/stdout\n", 1)
    assert states == {0: scripts.AttemptState(True, 77, None)} and sizes == {"/r/stdout": 12}


async def test_env_script_round_trips_hostile_values():
    env = {"A": "it's $(touch /tmp/nope) `x` \\ \"q\"\nline2", "B": ""}
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", '. /dev/stdin; printf "%s|%s" "$A" "$B"', stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate(env_script(env))
    assert out.decode() == env["A"] + "|"
