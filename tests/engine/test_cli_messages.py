"""What the CLI says, against a real `jobtui --serve`: each verb confirms what it did, one line per job;
errors say what and what next, naming the job once; scripts get only ids with -q; closed pipes end quietly;
tables fit the terminal; colour only where wanted; a verb run while the engine starts waits for it."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import shutil
import socket
import subprocess
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from tests.fixtures.engine import JOBTUI, ROOT, Daemon
from tests.waiting import wait_for_sync

EXIT_BROKEN_PIPE = 141


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    base = tmp_path_factory.mktemp("messages")
    config = base / "config.yaml"
    config.write_text("limits: {max_concurrent: 10, user_max_concurrent: 10}\n")
    daemon = Daemon(base / "state", config).start()
    yield daemon
    daemon.cleanup()


def submit(cli: Daemon, *args: str) -> int:
    return int(cli.cli_json("submit", *args)["ids"][0])


def ended(cli: Daemon, job_id: int) -> None:
    done = cli.cli("wait", str(job_id), "--timeout", "20")
    assert done.returncode in (0, 1), done.stderr


# -- the messages of issue 16 -----------------------------------------------------------------------------


def test_rejecting_a_job_twice_says_rejected(cli: Daemon) -> None:
    job_id = submit(cli, "--requires-approval", "--", "true")
    assert cli.cli("reject", str(job_id), "--reason", "no").returncode == 0
    again = cli.cli("reject", str(job_id), "--reason", "no")
    assert again.returncode == 1
    assert "only blocked jobs can be rejected." in again.stderr and "rejectd" not in again.stderr, again.stderr


def test_wait_giving_up_names_the_pending_jobs(cli: Daemon) -> None:
    job_id = submit(cli, "--", "sleep", "30")
    done = cli.cli("wait", str(job_id), "--timeout", "0.5")
    assert done.returncode == 1
    assert f"still pending: #{job_id}" in done.stderr and "[" not in done.stderr, done.stderr  # not a raw list
    assert cli.cli("cancel", str(job_id)).returncode == 0


def test_an_error_about_a_job_names_it_once(cli: Daemon) -> None:
    job_id = submit(cli, "--", "true")
    ended(cli, job_id)
    done = cli.cli("cancel", str(job_id))
    assert done.returncode == 1
    assert done.stderr == f"jobtui: job {job_id} has already ended (completed); nothing to cancel.\n", done.stderr


def test_a_limit_of_zero_is_refused_in_words(cli: Daemon) -> None:
    done = cli.cli("concurrency", "--max-concurrent", "0")
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert "--max-concurrent: 0 would let no job start; give 1 or more." in last, done.stderr
    assert "body." not in done.stderr and "http" not in done.stderr and "Input should" not in done.stderr


def test_an_unknown_status_is_named(cli: Daemon) -> None:
    done = cli.cli("list", "--status", "bogus,running")
    assert done.returncode == 2
    assert "unknown status 'bogus'; use one of: blocked, waiting" in done.stderr, done.stderr
    assert "['bogus']" not in done.stderr


def test_priority_confirms_in_one_line(cli: Daemon) -> None:
    job_id = submit(cli, "--requires-approval", "--name", "later", "--", "true")
    done = cli.cli("priority", str(job_id), "55")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"set the priority of job {job_id} (later) to 55\n"
    cli.cli_json("cancel", str(job_id))


def test_approve_and_requeue_say_what_they_did(cli: Daemon) -> None:
    job_id = submit(cli, "--requires-approval", "--name", "gated", "--", "true")
    approved = cli.cli("approve", str(job_id))
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.startswith(f"approved job {job_id} (gated); now "), approved.stdout
    ended(cli, job_id)
    requeued = cli.cli("requeue", str(job_id))
    assert requeued.returncode == 0, requeued.stderr
    assert requeued.stdout.startswith(f"requeued job {job_id} (gated)"), requeued.stdout
    ended(cli, job_id)
    cancelled_id = submit(cli, "--requires-approval", "--name", "gone", "--", "true")
    assert cli.cli("cancel", str(cancelled_id)).stdout == f"cancelled job {cancelled_id} (gone)\n"


def test_me_shows_jobs_one_line_each(cli: Daemon) -> None:
    job_id = submit(cli, "--requires-approval", "--name", "mine", "--", "true")
    blocker = submit(cli, "--name", "sleeper", "--", "sleep", "30")
    wait_for_sync(lambda: cli.job(blocker)["job"]["status"] == "running", 10, "the job to run")
    done = cli.cli("me")
    assert done.returncode == 0, done.stderr
    assert "{" not in done.stdout and '"id"' not in done.stdout, done.stdout
    lines = done.stdout.splitlines()
    assert any(line.split()[:3] == [str(blocker), "sleeper", "running"] for line in lines if line.strip()), lines
    assert any(line.startswith("may ") and "approve" in line for line in lines)
    cli.cli_json("cancel", str(job_id), str(blocker))


@pytest.mark.parametrize("verb", [["stats"], ["list", "-l", "0"], ["logs", "{job}"], ["me"]])
def test_a_closed_pipe_ends_quietly(cli: Daemon, verb: list[str]) -> None:
    """The reader is gone before the verb writes (`jobtui stats | head -1` once head has its line)."""
    job_id = submit(cli, "--", "seq", "20000")
    ended(cli, job_id)
    argv = cli.argv(*[a.replace("{job}", str(job_id)) for a in verb])
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli.env, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the child has even started: its first write finds no reader
    stderr = proc.stderr.read().decode()
    assert proc.wait(30) == EXIT_BROKEN_PIPE and stderr == "", stderr


# -- scripts and terminals --------------------------------------------------------------------------------


def test_quiet_prints_only_ids(cli: Daemon) -> None:
    done = cli.cli("submit", "-q", "--requires-approval", "--", "true")
    assert done.returncode == 0 and done.stdout.strip().isdigit(), done.stdout
    job_id = int(done.stdout)
    listed = cli.cli("list", "-q", "-s", "blocked").stdout.split()
    assert str(job_id) in listed and all(word.isdigit() for word in listed)
    cli.cli_json("cancel", str(job_id))


def test_run_quiet_prints_the_ids_at_the_end(cli: Daemon, tmp_path: Path) -> None:
    jobs = tmp_path / "two.yaml"
    jobs.write_text("- {name: a, command: 'true'}\n- {name: b, command: 'true'}\n")
    done = cli.cli("run", "-q", str(jobs))
    assert done.returncode == 0, done.stderr
    ids = done.stdout.split()
    assert len(ids) == 2 and all(i.isdigit() for i in ids), done.stdout


def test_a_table_fits_the_terminal_width(cli: Daemon) -> None:
    long = "x" * 300
    job_id = submit(cli, "--requires-approval", "--name", "wide", "--", "echo", long)
    env = {**cli.env, "COLUMNS": "60"}
    argv = cli.argv("list", "-o", "id,name,status,command", "-s", "blocked")
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    lines = done.stdout.splitlines()
    assert lines and all(len(line) <= 60 for line in lines), lines
    (row,) = [line for line in lines if line.startswith(f"{job_id} ")]
    assert row.split()[:3] == [str(job_id), "wide", "blocked"] and row.endswith("\u2026")
    piped = cli.cli("list", "-o", "id,command", "-s", "blocked").stdout  # no COLUMNS, not a terminal: whole
    assert long in piped
    cli.cli_json("cancel", str(job_id))


def _on_a_terminal(cli: Daemon, *args: str, **env: str) -> str:
    """What `jobtui ARGS` writes to a pseudo-terminal, with `env` added to the environment (and no other
    NO_COLOR or COLUMNS)."""
    leader, follower = pty.openpty()
    try:
        environ = {k: v for k, v in cli.env.items() if k not in ("NO_COLOR", "COLUMNS")} | {"TERM": "xterm", **env}
        proc = subprocess.Popen(cli.argv(*args), stdout=follower, stderr=follower, env=environ, cwd=ROOT)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(30)
        return b"".join(chunks).decode()
    finally:
        os.close(leader)


def test_colour_on_a_terminal_unless_no_color(cli: Daemon) -> None:
    job_id = submit(cli, "--requires-approval", "--", "true")
    coloured = _on_a_terminal(cli, "list", "-s", "blocked")
    assert "\x1b[35m" in coloured and "blocked" in coloured, repr(coloured)
    plain = _on_a_terminal(cli, "list", "-s", "blocked", NO_COLOR="1")
    assert "\x1b" not in plain and "blocked" in plain, repr(plain)
    assert "\x1b" not in cli.cli("list", "-s", "blocked").stdout  # not a terminal
    cli.cli_json("cancel", str(job_id))


# -- new verbs --------------------------------------------------------------------------------------------


def test_version() -> None:
    done = subprocess.run([*JOBTUI, "--version"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and done.stdout == f"jobtui {metadata.version('jobtui')}\n"  # as installed


def test_nodes_history_and_events(cli: Daemon) -> None:
    nodes = cli.cli("nodes")
    assert nodes.returncode == 0 and nodes.stdout.splitlines()[0].split()[:3] == ["NAME", "KIND", "STATE"]
    assert any(line.split()[:3] == ["local", "local", "up"] for line in nodes.stdout.splitlines())
    assert cli.cli_json("nodes")[0]["name"] == "local"

    job_id = submit(cli, "--name", "told", "--", "sh", "-c", "exit 3")
    ended(cli, job_id)
    history = cli.cli("history", str(job_id))
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()
    assert lines[0].startswith(f"job {job_id} (told) [failed]")
    assert any("submitted" in line and "- -> waiting" in line for line in lines)
    assert any(line.startswith("attempt 1 on local: ") and "exit 3" in line for line in lines), lines
    assert cli.cli("history", "99999").returncode == 1

    events = cli.cli("events")
    assert f"job {job_id} (told) failed" in events.stdout, events.stdout
    as_lines = [line for line in cli.cli("--json", "events").stdout.splitlines() if line]
    parsed = [json.loads(line) for line in as_lines]
    assert all({"seq", "kind"} <= set(e) for e in parsed)
    seqs = [e["seq"] for e in parsed]
    assert seqs == sorted(seqs)
    since = cli.cli("--json", "events", "--since", str(seqs[-2])).stdout.splitlines()
    after = [json.loads(line)["seq"] for line in since if line]
    assert after[0] == seqs[-1] and after == sorted(after)  # from the one after SEQ on (the engine may have gone on)


def test_events_follow_shows_a_new_job(cli: Daemon, tmp_path: Path) -> None:
    out = tmp_path / "events.txt"
    now = str(cli.get("/api/snapshot", params={"limit": 0}).json()["seq"])  # what follows is shown, whenever it comes
    with open(out, "wb") as sink:
        argv = cli.argv("events", "-f", "--since", now)
        follower = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=cli.env)
    try:
        job_id = submit(cli, "--name", "followed", "--", "true")
        wait_for_sync(lambda: f"job {job_id} (followed) completed" in out.read_text(), 20, "the event")
        assert f"job {job_id} (followed) waiting" in out.read_text()
    finally:
        follower.kill()
        follower.wait(10)


# -- an engine that is starting ---------------------------------------------------------------------------


@pytest.fixture
def starting(tmp_path: Path) -> Iterator[Path]:
    """A state directory whose engine is starting: its lock is held (here), its socket not there yet."""
    state = tmp_path / "starting"
    state.mkdir(mode=0o700)
    fd = os.open(state / "engine.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, f"{os.getpid()}\n".encode())
    try:
        yield state
    finally:
        os.close(fd)


def _env(state: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "JOBTUI_HOME": str(state), **extra}
    env.pop("JOBTUI_CONFIG", None)
    env.pop("JOBTUI_SOCKET", None)
    return env


@pytest.mark.parametrize("stale_socket", [False, True], ids=["no-socket", "stale-socket"])
def test_a_verb_while_the_engine_starts_says_it_is_starting(starting: Path, stale_socket: bool) -> None:
    if stale_socket:  # the socket an engine killed with SIGKILL left: nothing listens on it
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as left:
            left.bind(str(starting / "engine.sock"))
        (starting / "owner.token").write_text("a-token-of-the-engine-before\n")
    argv = Daemon(starting).argv("list")
    done = subprocess.run(argv, capture_output=True, text=True, env=_env(starting, JOBTUI_START_WAIT="0.3"), timeout=60)
    assert done.returncode == 1
    assert f"the engine on {starting} is starting" in done.stderr, done.stderr
    assert "still starting after 0.3 s" in done.stderr and "JOBTUI_START_WAIT" in done.stderr
    assert "no jobtui engine is running" not in done.stderr


def test_a_verb_waits_for_the_starting_engine_then_answers(starting: Path, tmp_path: Path) -> None:
    # the engine that comes up: a real daemon elsewhere, whose socket and token appear where the verb waits
    serving = Daemon(tmp_path / "serving" / "state").start()
    try:
        job_id = int(serving.cli_json("submit", "--requires-approval", "--name", "seen", "--", "true")["ids"][0])
        err = tmp_path / "stderr.txt"
        with open(err, "wb") as sink:
            waiting = subprocess.Popen(
                Daemon(starting).argv("list", "-q", "-s", "blocked"),
                stdout=subprocess.PIPE,
                stderr=sink,
                env=_env(starting, JOBTUI_START_WAIT="60"),
            )
        wait_for_sync(lambda: "is starting" in err.read_text(), 30, "the verb to say it waits")
        assert waiting.poll() is None
        shutil.copy(serving.state_dir / "owner.token", starting / "owner.token")
        (starting / "engine.sock").symlink_to(serving.socket)
        out, _ = waiting.communicate(timeout=60)
        assert waiting.returncode == 0, err.read_text()
        assert out.decode().split() == [str(job_id)]
    finally:
        serving.cleanup()
