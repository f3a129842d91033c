"""The CLI against a real `jobtui --serve`, with hostile input: terminal controls in user text and job
output, broken job and config files, a closed pipe, and a user other than the owner with their own token.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.engine import ROOT, Daemon

ESC = "\x1b"
TITLE = "\x1b]0;owned\x07x"  # OSC 0: sets the terminal's window title
CLEAR = "\x1b[2J"  # CSI 2J: clears the screen
CLIPBOARD = "\x1b]52;c;b3duZWQ=\x07"  # OSC 52: writes the clipboard


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory):
    daemon = Daemon(tmp_path_factory.mktemp("cli-safety") / "state").start()
    yield daemon
    daemon.cleanup()


def terminal_safe(text: str) -> bool:
    """No ESC, no C0 control but newline and tab, no DEL, no C1 control."""
    return not any((ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F for c in text)


def one_clear_line(stderr: str) -> bool:
    return "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1 and stderr.startswith("jobtui: ")


def wait_ok(cli: Daemon, *ids: int) -> None:
    done = cli.cli("wait", *map(str, ids), "--timeout", "20")
    assert done.returncode == 0, done.stderr


# -- 1. terminal controls in user text and job output ----------------------------------------------------


def test_user_text_and_job_output_reach_the_terminal_escaped(cli: Daemon, tmp_path: Path) -> None:
    printer = f"printf 'a{CLEAR}b{CLIPBOARD}c\\r\\nline 2\\tend\\n\\302\\233ok\\n'"
    done = cli.cli("submit", "--name", TITLE, "--tag", CLEAR + "red", "--", "sh", "-c", printer)
    assert done.returncode == 0, done.stderr
    assert terminal_safe(done.stdout) and "\\x1b]0;owned\\x07x" in done.stdout
    job_id = int(done.stdout.split()[2])
    wait_ok(cli, job_id)

    for args in (["list", "-l", "0"], ["list", "-o", "id,name,tags"], ["show", str(job_id)], ["me"]):
        out = cli.cli(*args)
        assert out.returncode == 0, out.stderr
        assert terminal_safe(out.stdout), (args, out.stdout)
        assert "\\x1b]0;owned\\x07x" in out.stdout or args == ["me"], (args, out.stdout)
    assert "\\x1b[2Jred" in cli.cli("list", "-o", "id,name,tags").stdout

    logs = cli.cli("logs", str(job_id))
    assert logs.returncode == 0 and terminal_safe(logs.stdout)
    assert logs.stdout == "abc\nline 2\tend\n\\x9bok\n"  # sequences removed, CR LF as LF, a C1 control shown
    raw = subprocess.run(cli.argv("logs", "--raw", str(job_id)), capture_output=True, env=cli.env, cwd=ROOT)
    assert raw.stdout == f"a{CLEAR}b{CLIPBOARD}c\r\nline 2\tend\n\u009bok\n".encode()

    # --json stays exact: JSON escapes control characters itself
    listed = cli.cli("--json", "list", "-l", "0")
    assert terminal_safe(listed.stdout)
    (job,) = [j for j in json.loads(listed.stdout) if j["id"] == job_id]
    assert job["name"] == TITLE and job["tags"] == [CLEAR + "red"]
    assert json.loads(cli.cli("--json", "show", str(job_id)).stdout)["job"]["name"] == TITLE
    assert CLIPBOARD in json.loads(cli.cli("--json", "logs", str(job_id)).stdout)["data"]


def test_reasons_and_errors_reach_the_terminal_escaped(cli: Daemon) -> None:
    job_id = cli.cli_json("submit", "--requires-approval", "--", "true")["ids"][0]
    rejected = cli.cli("reject", str(job_id), "--reason", f"no{TITLE}")
    assert rejected.returncode == 0 and terminal_safe(rejected.stdout) and "\\x1b]0;owned" in rejected.stdout
    shown = cli.cli("show", str(job_id))
    assert terminal_safe(shown.stdout) and "\\x1b]0;owned" in shown.stdout
    again = cli.cli("reject", str(job_id), "--reason", CLEAR)  # refused: the error names the job, escaped
    assert again.returncode == 1 and terminal_safe(again.stderr)


def test_run_prints_progress_and_the_final_table_escaped(cli: Daemon, tmp_path: Path) -> None:
    jobs = tmp_path / "run.yaml"
    jobs.write_text(json.dumps([{"name": TITLE, "command": ["sh", "-c", f"printf '{CLEAR}'; exit 3"]}]))
    done = cli.cli("run", str(jobs))
    assert done.returncode == 1 and terminal_safe(done.stdout) and "\\x1b]0;owned" in done.stdout
    assert json.loads(cli.cli("--json", "run", str(jobs)).stdout)[0]["name"] == TITLE


# -- 2. job files --------------------------------------------------------------------------------------

BAD_JOB_FILES = {
    "syntax.yaml": ("- name: a\n  command: echo a\n- name: b\n  command: [echo, b\n", "syntax.yaml:5"),
    "latin1.yaml": (b"- {command: 'echo caf\xe9'}\n", "not UTF-8"),
    "workdir.yaml": ("- {command: echo hi, workdir: 5}\n", "workdir"),
    "inf.yaml": ("- command: echo hi\n  timeout: .inf\n", "inf.yaml:2"),
    "nan.yaml": ("- command: echo hi\n  priority: .nan\n", "nan.yaml:2"),
    "deep.yaml": ("- " + "[" * 5000 + "]" * 5000 + "\n", "deep.yaml"),
    "escape.yaml": ('- {command: "echo \\U0011FFFF"}\n', "escape.yaml:1"),
    "badescape.yaml": ('- {command: "echo \\Uzzzzzzzz"}\n', "badescape.yaml:1"),
}


@pytest.mark.parametrize("name", sorted(BAD_JOB_FILES))
def test_bad_job_files_are_one_clear_line_and_exit_2(cli: Daemon, tmp_path: Path, name: str) -> None:
    content, expected = BAD_JOB_FILES[name]
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = len(cli.cli_json("list", "-l", "0"))
    for verb in (["submit", "--file", str(path)], ["run", str(path)]):
        done = cli.cli(*verb)
        assert done.returncode == 2, (verb, done.stdout, done.stderr)
        assert one_clear_line(done.stderr) and expected in done.stderr, done.stderr
    assert len(cli.cli_json("list", "-l", "0")) == before  # nothing was submitted line by line


# -- 3. no tracebacks ----------------------------------------------------------------------------------


def test_logs_into_a_closed_pipe_exits_quietly(cli: Daemon) -> None:
    job_id = cli.cli_json("submit", "--", "seq", "300000")["ids"][0]
    wait_ok(cli, job_id)
    command = f"{shlex.join(cli.argv('logs', str(job_id)))} | head -1"
    done = subprocess.run(command, shell=True, capture_output=True, text=True, env=cli.env, cwd=ROOT, timeout=60)
    assert done.stdout == "1\n" and done.stderr == ""


@pytest.mark.parametrize(
    "content",
    [b"limits: {max_concurrent: 'caf\xe9'}\n", b"limits: " + b"[" * 5000 + b"]" * 5000 + b"\n", b'x: "\\U0011FFFF"\n'],
    ids=["latin1", "deep", "escape"],
)
def test_a_bad_config_file_is_one_clear_line(cli: Daemon, tmp_path: Path, content: bytes) -> None:
    config = tmp_path / "config.yaml"
    config.write_bytes(content)
    done = cli.cli("--config", str(config), "list")
    assert done.returncode == 2 and one_clear_line(done.stderr) and str(config) in done.stderr, done.stderr


# -- 4. identity: --token FILE and $JOBTUI_TOKEN ---------------------------------------------------------


def test_another_user_works_with_their_own_token(cli: Daemon, tmp_path: Path) -> None:
    issued = cli.cli("token", "ann")  # the owner issues it
    assert issued.returncode == 0, issued.stderr
    token_file = tmp_path / "ann.token"
    token_file.write_text(issued.stdout)
    token_file.chmod(0o600)
    ann = ["--token", str(token_file)]

    # personal mode: the engine runs as its owner, so ann's job may not run on this machine (as the owner)
    done = cli.cli(*ann, "submit", "--name", "anns-job", "--", "cat", str(cli.state_dir / "owner.token"))
    assert done.returncode == 1 and one_clear_line(done.stderr) and "personal mode" in done.stderr, done.stderr
    assert [j for j in cli.cli_json(*ann, "list", "-l", "0") if j["user"] == "ann"] == []  # nothing was queued
    assert cli.cli_json("list", "--token", str(token_file), "-l", "0")  # after the verb too
    assert cli.cli_json(*ann, "me")["user"] == "ann"

    refused = cli.cli(*ann, "token", "bob")  # an admin verb
    assert refused.returncode == 1 and one_clear_line(refused.stderr)
    assert "ann" in refused.stderr and "admin only" in refused.stderr
    limits = cli.cli(*ann, "concurrency", "--max-concurrent", "3")
    assert limits.returncode == 1 and "ann" in limits.stderr and one_clear_line(limits.stderr)

    # $JOBTUI_TOKEN carries the token itself; --token FILE wins over it
    env = {**cli.env, "JOBTUI_TOKEN": issued.stdout.strip()}
    me = subprocess.run(cli.argv("--json", "me"), capture_output=True, text=True, env=env, cwd=ROOT)
    assert me.returncode == 0 and json.loads(me.stdout)["user"] == "ann", me.stderr
    owner_token = tmp_path / "owner.token"
    owner_token.write_text(cli.token)
    mixed = subprocess.run(
        cli.argv("--json", "--token", str(owner_token), "me"), capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert mixed.returncode == 0 and json.loads(mixed.stdout)["user"] != "ann"
    # `run` attaches with the token too (and never hosts an engine of its own for it): refused the same way
    jobs = tmp_path / "ann.yaml"
    jobs.write_text("- {name: anns-run, command: [echo, run]}\n")
    refused_run = cli.cli(*ann, "run", str(jobs))
    assert refused_run.returncode == 1 and "personal mode" in refused_run.stderr, refused_run.stderr


def test_bad_tokens_are_refused_clearly(cli: Daemon, tmp_path: Path) -> None:
    missing = cli.cli("--token", str(tmp_path / "nope"), "list")
    assert missing.returncode == 2 and one_clear_line(missing.stderr) and "nope" in missing.stderr
    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-a-token\n")
    refused = cli.cli("--token", str(wrong), "list")
    assert refused.returncode == 1 and one_clear_line(refused.stderr) and "token" in refused.stderr
    env = {**cli.env, "JOBTUI_TOKEN": "not-a-token"}
    done = subprocess.run(cli.argv("list"), capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 1 and one_clear_line(done.stderr)
    # no token as a value on the command line: --token takes a file
    assert "FILE" in cli.cli("list", "--help").stdout


def test_a_token_works_without_the_owners_token_file(cli: Daemon, tmp_path: Path) -> None:
    """What another Unix user has: the socket, but not the owner's token file."""
    token = cli.cli("token", "cy").stdout.strip()
    token_file = tmp_path / "cy.token"
    token_file.write_text(token)
    owner = cli.state_dir / "owner.token"
    saved = owner.read_bytes()
    os.rename(owner, tmp_path / "owner.saved")
    try:
        done = cli.cli("--json", "--token", str(token_file), "me")
        assert done.returncode == 0 and json.loads(done.stdout)["user"] == "cy", done.stderr
    finally:
        os.rename(tmp_path / "owner.saved", owner)
    assert owner.read_bytes() == saved and cli.cli("me").returncode == 0
