"""The executor's remote sh scripts, run here with /bin/sh as real processes (no SSH needed)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest

from engine.executors import ssh_scripts as scripts
from engine.remote.pool import env_script
from tests.fixtures.engine import pid_alive
from tests.waiting import wait_for_sync

END = b"\nE test-end\n"


def _sh(script: str, *args: str, input: bytes = b"") -> str:
    done = subprocess.run(["/bin/sh", "-c", script, "jobtui-test", *args], input=input, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


def _script(body: str) -> bytes:
    """Run a request as `SshHost.script` does when it has no long-lived shell: prelude and body on stdin."""
    text = (scripts.PRELUDE + body + "\necho; echo 'E test-end'\n").encode()
    done = subprocess.run(["/bin/sh", "-s"], input=text, capture_output=True, timeout=30)
    assert done.returncode == 0 and done.stdout.endswith(END), (done.stdout[-200:], done.stderr)
    return done.stdout[: -len(END)]


def _item(run_dir: Path, *command: str, env: dict[str, str] | None = None) -> scripts.LaunchItem:
    return scripts.LaunchItem(str(run_dir), str(run_dir / "work"), list(command), env_script(env or {}).decode())


def _launch_many(items: list[scripts.LaunchItem], linger: float = 0.0) -> scripts.Report:
    return scripts.parse_report(_script(scripts.launch_script(items, linger)), len(items))


def _launch(run_dir: Path, *command: str, env: dict[str, str] | None = None) -> tuple[int, int]:
    report = _launch_many([_item(run_dir, *command, env=env)])
    pid, start = report.launched[0]
    assert pid and start
    return pid, start


def _poll_report(*items: scripts.PollItem) -> scripts.Report:
    return scripts.parse_report(_script(scripts.poll_script(items)), len(items))


def _poll(*triples: tuple[Path, int | None, int | None]):
    report = _poll_report(*(scripts.PollItem(str(d), pid, start) for d, pid, start in triples))
    sizes = {}
    for index, (out, err) in report.sizes.items():
        sizes[f"{triples[index][0]}/stdout"], sizes[f"{triples[index][0]}/stderr"] = out, err
    return report.states, sizes


def _wait_exit(run_dir: Path, pid: int, start: int, timeout: float = 10) -> scripts.AttemptState:
    def ended() -> scripts.AttemptState | None:
        state = _poll((run_dir, pid, start))[0][0]
        return None if state.alive else state

    return wait_for_sync(ended, timeout, f"the job in {run_dir} to end")


def _group(pgid: int) -> list[str]:
    """Pids of the live (not zombie) members of process group `pgid`."""
    listed = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout.split()
    return [p for p in listed if _running(p)]


def _running(pid: str) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False  # gone between pgrep and here


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
    assert (run / "work").is_dir() and run.stat().st_mode & 0o777 == 0o700


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


def test_one_launch_script_starts_a_batch_and_reports_short_jobs_with_their_output(tmp_path):
    marker = tmp_path / "pwned"
    hostile = [f"; touch {marker}a", f"$(touch {marker}b)", f"`touch {marker}c`", "a'b\"c", "$HOME", "*", "x\ny", ""]
    items = [_item(tmp_path / f"r {i}", "sh", "-c", "echo job $0; echo e >&2", str(i)) for i in range(4)]
    items.append(_item(tmp_path / "slow", "sh", "-c", "sleep 0.5; echo late; exit 3"))
    items.append(_item(tmp_path / "hostile", "printf", "%s|", *hostile, env={"JT": f"$(touch {marker}d)"}))
    began = time.monotonic()
    report = _launch_many(items, linger=0.3)
    assert time.monotonic() - began < 2
    assert sorted(report.launched) == list(range(6)) and not report.failed
    for i in range(4):
        assert report.states[i].exit_code == 0 and not report.states[i].alive
        assert report.data[(i, "stdout")] == (0, f"job {i}\n".encode()) and report.data[(i, "stderr")] == (0, b"e\n")
        assert report.sizes[i] == (len(f"job {i}\n"), 2)
    assert report.states[4].alive and (4, "stdout") not in report.data  # still running: polled later
    assert report.data[(5, "stdout")] == (0, "".join(f"{h}|" for h in hostile).encode())
    assert not any(Path(f"{marker}{s}").exists() for s in "abcd")
    pid, start = report.launched[4]
    assert os.getsid(pid) == pid
    _wait_exit(tmp_path / "slow", pid, start)
    later = _poll_report(scripts.PollItem(str(tmp_path / "slow"), pid, start))
    assert later.states[0].exit_code == 3 and later.data[(0, "stdout")] == (0, b"late\n")


def test_poll_sends_only_small_remainders_from_the_given_offsets(tmp_path):
    big, small = tmp_path / "big", tmp_path / "small"
    _launch_many(
        [
            _item(big, "head", "-c", str(scripts.DATA_CAP + 1), "/dev/zero"),
            _item(small, "sh", "-c", "printf 0123456789"),
        ],
        linger=1.0,
    )
    report = _poll_report(scripts.PollItem(str(big), None, None), scripts.PollItem(str(small), None, None, 4, 0))
    assert report.sizes[0] == (scripts.DATA_CAP + 1, 0) and (0, "stdout") not in report.data
    assert report.data[(1, "stdout")] == (4, b"456789")
    report = _poll_report(scripts.PollItem(str(big), None, None, 10, 0))
    assert report.data[(0, "stdout")] == (10, bytes(scripts.DATA_CAP - 9))


def test_poll_reports_the_sizes_of_progress_files_in_the_same_answer(tmp_path):
    """An attempt's progress files (`progress_files`) are stat'ed by the poll that checks it: one answer, and an
    absent file, or one whose name holds spaces, still reads back right."""
    run = tmp_path / "run"
    _launch_many([_item(run, "sh", "-c", "printf 'x' > 'job 1.sta'; printf abc > job.msg")], linger=1.0)
    files = tuple(str(run / "work" / name) for name in ("job 1.sta", "job.msg", "job.inp"))
    report = _poll_report(scripts.PollItem(str(run), None, None, files=files))
    assert report.states[0].exit_code == 0
    assert report.file_sizes == {files[0]: 1, files[1]: 3}  # the absent .inp has no line


def test_a_run_dir_that_cannot_be_made_fails_only_its_own_launch(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    report = _launch_many([_item(blocker / "run", "true"), _item(tmp_path / "ok", "true")], linger=0.5)
    assert report.failed == {0: 90} and 1 in report.launched and report.states[1].exit_code == 0


def test_words_no_shell_can_carry_are_refused(tmp_path):
    with pytest.raises(ValueError):
        scripts.launch_script([_item(tmp_path / "a\nb", "true")])
    with pytest.raises(ValueError):
        scripts.launch_script([_item(tmp_path / "a", "echo", "nul\0byte")])


def test_cancel_kills_the_whole_group_and_spares_a_recycled_pid(tmp_path):
    run = tmp_path / "r"
    pid, start = _launch(run, "sh", "-c", "trap '' TERM; sleep 30 & sleep 30 & wait")
    # the wrapper, the job's shell and its two sleeps, forked after the trap: by then TERM is ignored
    wait_for_sync(lambda: len(_group(pid)) >= 4, 5, "the job's shell to ignore TERM and start its sleeps")
    _sh(scripts.CANCEL, str(pid), str(start + 5), "5")  # wrong start time: left alone
    assert _poll((run, pid, start))[0][0].alive
    began = time.monotonic()
    _sh(scripts.CANCEL, str(pid), str(start), "10")  # TERM is ignored by the job: KILL after 1 s
    assert 0.9 < time.monotonic() - began < 5
    wait_for_sync(lambda: not _group(pid), 5, "every process of the job's group to be gone")


def test_cancel_finds_setsid_descendants_by_the_attempts_marker(tmp_path):
    mark = f"t{os.getpid()}{time.monotonic_ns()}"
    pid_file = tmp_path / "grandchild"
    job = f'setsid sleep 300 & echo $! > "{pid_file}"; exit 0'  # the job ends; its setsid grandchild lives on
    run = tmp_path / "r"
    pid, start = _launch(run, "sh", "-c", job, env={"JOBTUI_ATTEMPT_MARK": mark})
    left = wait_for_sync(lambda: pid_file.exists() and int(pid_file.read_text()), 5, "the grandchild's pid")
    _sh(scripts.CANCEL, str(pid), str(start), "5")  # no marker given: the wrapper is gone, nothing to do
    assert pid_alive(left)
    _sh(scripts.CANCEL, str(pid), str(start), "5", mark)
    wait_for_sync(lambda: not pid_alive(left), 5, "the marked grandchild to die")


def test_incomplete_exit_file_is_not_an_exit_code(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "exit").write_text("12")  # cut short by a crash: no newline
    states, _ = _poll((run, None, None))
    assert states[0].exit_code is None


def test_parsers_tolerate_garbage():
    assert scripts.start_time_of("123 (a) b) S") is None
    stat = "4242 (my (odd) job) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1 2"
    assert scripts.start_time_of(stat) == 987654
    report = scripts.parse_report(b"X 0 1 77 \nX 9 0 1 3;\nnonsense\nS 0 12 0\nL 0 5\n", 1)
    assert report.states == {0: scripts.AttemptState(True, 77, None)} and report.sizes == {0: (12, 0)}
    assert report.launched == {0: (5, None)}
    cut = scripts.parse_report(b"S 0 9 0\nD 0 stdout 0 9\nabc\nX 0 0 1 0;\n", 1)
    assert cut.data == {} and cut.states == {}  # a block cut short ends the answer
    grown = scripts.parse_report(b"G 0 stdout 0 2\nB 2\nabc\n", 1)
    assert grown.data == {}  # the file grew after its size was taken: not trusted
    whole = scripts.parse_report(b"G 0 stdout 0 2\nG 0 stderr 0 1\nB 3\nabc\n", 1)
    assert whole.data == {(0, "stdout"): (0, b"ab"), (0, "stderr"): (0, b"c")}


async def test_env_script_round_trips_hostile_values():
    env = {"A": 'it\'s $(touch /tmp/nope) `x` \\ "q"\nline2', "B": ""}
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        '. /dev/stdin; printf "%s|%s" "$A" "$B"',
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate(env_script(env))
    assert out.decode() == env["A"] + "|"
