"""The SSH node agent, run here as a real process through the same bootstrap the engine sends (no SSH needed)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
from pathlib import Path

import pytest

from engine.executors import ssh_scripts as scripts
from engine.remote import agent, node_agent
from engine.remote.pool import env_script
from tests.waiting import wait_for_sync

pytestmark = pytest.mark.skipif(subprocess.run(["sh", "-c", "command -v python3"]).returncode != 0, reason="no python3")


class Agent:
    """The agent on pipes: requests in, (kind, id, body) messages out."""

    def __init__(self, argv: list[str] | None = None) -> None:
        argv = argv or ["/bin/sh", "-c", agent._FIND, agent._BOOT]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        code = agent.program(scripts.REMOTE_WRAPPER)
        self._write(b"%d\n" % len(code) + code)
        self.next = 0
        self.notices: list[tuple[bytes, bytes, bytes]] = []  # those that came before an answer

    def _write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def message(self) -> tuple[bytes, bytes, bytes]:
        assert self.proc.stdout is not None
        kind, ident, size = self.proc.stdout.readline().split()
        return kind, ident, self.proc.stdout.read(int(size))

    def ask(self, op: str, payload: object) -> tuple[bytes, bytes]:
        self.next += 1
        body = json.dumps(payload).encode()
        self._write(b"%s %d %d\n" % (op.encode(), self.next, len(body)) + body)
        while (message := self.message())[0] == b"N":
            self.notices.append(message)
        kind, ident, answer = message
        assert ident == str(self.next).encode()
        return kind, answer

    def notice(self) -> tuple[bytes, bytes, bytes]:
        return self.notices.pop(0) if self.notices else self.message()

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(10)


@pytest.fixture
def node():
    started = Agent()
    kind, _, version = started.message()
    assert kind == b"H" and version.count(b".") == 1  # hello, with its Python version
    yield started
    started.stop()


def _job(run_dir: Path, *argv: str, tag: str = "1.1", env: dict[str, str] | None = None) -> dict[str, object]:
    return {
        "tag": tag,
        "run_dir": str(run_dir),
        "workdir": str(run_dir / "work"),
        "argv": list(argv),
        "env": env_script(env or {}).decode(),
    }


def test_the_agent_runs_on_python_3_6():
    ast.parse(Path(node_agent.__file__).read_text(), feature_version=(3, 6))


def test_a_launch_answers_at_once_and_the_end_comes_as_a_notice_with_exit_and_outputs(node, tmp_path):
    run = tmp_path / "run 1"  # a space in the path
    hostile = "a'b $(touch x) `y`"
    job = _job(run, "sh", "-c", 'echo "$JT_X"; echo err >&2; exit 7', tag="4.2", env={"JT_X": hostile})
    kind, body = node.ask("launch", [job])
    assert kind == b"R"
    launched = scripts.parse_report(body, 1)
    pid, start = launched.launched[0]
    assert pid and start and not launched.failed
    kind, tag, notice = node.notice()
    assert (kind, tag) == (b"N", b"4.2")
    report = scripts.parse_report(notice, 1)
    assert report.states[0] == scripts.AttemptState(False, pid, 7)
    assert report.sizes[0] == (len(hostile) + 1, 4)
    assert report.data[(0, "stdout")] == (0, f"{hostile}\n".encode()) and report.data[(0, "stderr")] == (0, b"err\n")
    assert (run / "exit").read_text() == "7\n" and (run / "pid").read_text() == f"{pid}\n"  # the durable record
    assert (run / "env").stat().st_mode & 0o777 == 0o600 and run.stat().st_mode & 0o777 == 0o700
    assert not (run / "work" / "x").exists()


def test_the_wrapper_is_detached_and_outlives_the_agent(node, tmp_path):
    run, gate = tmp_path / "run", tmp_path / "gate"
    held = f"read line; while [ ! -e {gate} ]; do sleep 0.05; done; exit 4"  # `read` ends at once: stdin is /dev/null
    _kind, body = node.ask("launch", [_job(run, "sh", "-c", held)])
    pid, _start = scripts.parse_report(body, 1).launched[0]
    assert os.getsid(pid) == pid and os.getpgid(pid) == pid  # still running: the gate holds it
    gate.touch()
    wait_for_sync(lambda: (run / "exit").exists(), 10, "the held job to end")
    assert (run / "exit").read_text() == "4\n"
    node.ask("launch", [_job(tmp_path / "long", "sh", "-c", "sleep 0.5; echo late; exit 5", tag="2.1")])
    node.stop()  # the engine (or its link) went away
    assert node.proc.returncode == 0
    wait_for_sync(lambda: (tmp_path / "long" / "exit").exists(), 10, "the job to end without its agent")
    assert (tmp_path / "long" / "exit").read_text() == "5\n" and (tmp_path / "long" / "stdout").read_text() == "late\n"


def test_poll_and_read_answer_as_the_sh_scripts_do(node, tmp_path):
    runs = [tmp_path / "a", tmp_path / "b"]
    node.ask("launch", [_job(runs[0], "sh", "-c", "printf 0123456789; exit 3", tag="1.1")])
    node.ask("launch", [_job(runs[1], "sleep", "5", tag="2.1")])
    assert node.notice()[:2] == (b"N", b"1.1")
    pid_file = runs[1] / "pid"
    wait_for_sync(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"), 10, "the second wrapper's pid")
    (runs[0] / "work" / "p.sta").write_text("step 1\n")
    items = [
        scripts.PollItem(str(runs[0]), None, None, 4, 0, (str(runs[0] / "work" / "p.sta"),)),
        scripts.PollItem(str(runs[1]), None, None),
        scripts.PollItem(str(tmp_path / "none"), None, None),
    ]
    request = [
        {"run_dir": i.run_dir, "pid": i.pid, "start": i.start, "out": i.out_offset, "err": i.err_offset,
         "files": list(i.files)}
        for i in items
    ]  # fmt: skip
    kind, body = node.ask("poll", request)
    by_agent = scripts.parse_report(body, len(items))
    text = (scripts.PRELUDE + scripts.poll_script(items) + "\n").encode()
    by_sh = scripts.parse_report(subprocess.run(["/bin/sh", "-s"], input=text, capture_output=True).stdout, 3)
    assert kind == b"R" and by_agent == by_sh
    assert by_agent.states[0].exit_code == 3 and by_agent.data[(0, "stdout")] == (4, b"456789")
    assert by_agent.states[1].alive and by_agent.file_sizes == {str(runs[0] / "work" / "p.sta"): 7}
    assert node.ask("read", {"path": str(runs[0] / "stdout"), "offset": 2, "limit": 3}) == (b"R", b"10\n234")
    assert node.ask("read", {"path": str(tmp_path / "none"), "offset": 0, "limit": 3}) == (b"R", b"0\n")
    pid = by_agent.states[1].pid
    assert pid is not None
    os.killpg(pid, 9)


def test_a_run_directory_it_cannot_make_or_a_bad_item_fails_that_launch_and_a_bad_request_is_an_error(node, tmp_path):
    (tmp_path / "file").write_text("")
    kind, body = node.ask("launch", [_job(tmp_path / "file" / "run", "true"), _job(tmp_path / "ok", "true", tag="9.1")])
    report = scripts.parse_report(body, 2)
    assert report.failed == {0: node_agent.NO_RUN_DIR} and list(report.launched) == [1]
    kind, body = node.ask("launch", [{"run_dir": 1}])
    assert kind == b"R" and scripts.parse_report(body, 1).failed == {0: node_agent.BAD_ITEM}
    kind, body = node.ask("poll", [{"run_dir": 1}])
    assert kind == b"E" and b"Error" in body
    assert node.notice()[:2] == (b"N", b"9.1")  # it served on


def test_the_next_run_directory_is_made_while_idle_and_taken_by_one_rename(node, tmp_path):
    runs = tmp_path / "runs"
    node.ask("launch", [_job(runs / "1.1", "true", tag="1.1")])
    assert node.notice()[:2] == (b"N", b"1.1")

    def spares() -> list[Path]:
        return sorted(runs.glob(".jobtui-next-*"))

    (made,) = wait_for_sync(spares, 10, "a run directory made ahead")
    assert (made / "work").is_dir() and made.stat().st_mode & 0o777 == 0o700
    kind, body = node.ask("launch", [_job(runs / "2.1", "sh", "-c", "echo hi", tag="2.1")])
    assert kind == b"R" and 0 in scripts.parse_report(body, 1).launched
    assert not made.exists() and (runs / "2.1" / "work").is_dir() and (runs / "2.1").stat().st_mode & 0o777 == 0o700
    assert node.notice()[:2] == (b"N", b"2.1") and (runs / "2.1" / "stdout").read_text() == "hi\n"
    wait_for_sync(spares, 10, "the next one")
    node.stop()
    assert not spares()  # an agent that ends leaves none behind
