"""Every CLI verb against a real `jobtui --serve`: output, `--json` field names, exit codes 0/1/2."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.fixtures.engine import ATTEMPT_KEYS, EVENT_KEYS, JOB_KEYS, JOBTUI, ROOT, Daemon
from tests.waiting import wait_for_sync


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("cli")
    config = base / "config.yaml"
    config.write_text(
        "limits: {max_concurrent: 10, user_max_concurrent: 10}\n"
        "progress_patterns:\n  - {name: epochs, marker: epoch, regex: 'epoch (?P<step>\\d+)/(?P<total>\\d+)'}\n"
    )
    daemon = Daemon(base / "state", config).start()
    yield daemon
    daemon.cleanup()


def submit(cli: Daemon, *args: str) -> int:
    return cli.cli_json("submit", *args)["ids"][0]


def wait_ok(cli: Daemon, *ids: int) -> None:
    done = cli.cli("wait", *map(str, ids), "--timeout", "20")
    assert done.returncode == 0, done.stderr


def test_submit_list_show_logs(cli: Daemon) -> None:
    done = cli.cli(
        "submit",
        "--name",
        "greet",
        "--cpus",
        "2",
        "--mem",
        "64M",
        "--env",
        "WHO=world",
        "--",
        "sh",
        "-c",
        "echo hello $WHO; echo oops >&2",
    )
    assert done.returncode == 0 and done.stdout.startswith("submitted job ") and "(greet) [waiting]" in done.stdout
    job_id = int(done.stdout.split()[2])
    wait_ok(cli, job_id)

    jobs = cli.cli_json("list", "-l", "0")
    (job,) = [j for j in jobs if j["id"] == job_id]
    assert set(job) >= JOB_KEYS, JOB_KEYS - set(job)
    assert job["status"] == "completed" and job["resources"]["cpus"] == 2 and job["resources"]["mem_mb"] == 64
    assert job["env"] == {"WHO": "world"} and job["workdir"] == str(ROOT)

    rows = cli.cli_json("list", "-o", "id,name,status,resources.cpus,progress.percent", "-l", "0")
    assert {"id": job_id, "name": "greet", "status": "completed", "resources.cpus": 2, "progress.percent": None} in rows
    assert json.loads(cli.cli("list", "--format", "json", "-o", "id,status").stdout)[0].keys() == {"id", "status"}
    table = cli.cli("list", "-o", "id,name,status").stdout.splitlines()
    assert table[0].split() == ["ID", "NAME", "STATUS"]
    assert any(r.split() == [str(job_id), "greet", "completed"] for r in table)
    assert [j["id"] for j in cli.cli_json("list", "--status", "completed", "-l", "0")] == [
        j["id"] for j in jobs if j["status"] == "completed"
    ]

    detail = cli.cli_json("show", str(job_id))
    assert set(detail) == {"job", "attempts", "events", "dependencies", "position", "estimate"}
    assert set(detail["attempts"][0]) >= ATTEMPT_KEYS and set(detail["events"][0]) >= EVENT_KEYS
    text = cli.cli("show", str(job_id)).stdout
    assert text.startswith(f"Job {job_id}: greet  [completed]") and "history:" in text

    assert cli.cli("logs", str(job_id)).stdout == "hello world\n"
    assert cli.cli("logs", str(job_id), "--stderr").stdout == "oops\n"
    assert cli.cli("logs", str(job_id), "--attempt", "1").stdout == "hello world\n"


def test_progress_from_a_custom_pattern(cli: Daemon) -> None:
    # the job's own pace (four epochs over ~0.6 s), not a wait of the test
    script = "import time\nfor i in range(1, 5): print(f'epoch {i}/4', flush=True); time.sleep(0.15)"
    job_id = submit(cli, "--", "python3", "-c", script)
    wait_ok(cli, job_id)
    (row,) = [
        r
        for r in cli.cli_json("list", "-o", "id,progress.step,progress.total,progress.percent", "-l", "0")
        if r["id"] == job_id
    ]
    assert row == {"id": job_id, "progress.step": 4, "progress.total": 4, "progress.percent": 100.0}


def test_wait_exit_codes_and_json(cli: Daemon) -> None:
    ok = submit(cli, "--", "true")
    bad = submit(cli, "--", "sh", "-c", "exit 5")
    done = cli.cli("--json", "wait", str(ok), str(bad), "--timeout", "20")
    assert done.returncode == 1
    assert json.loads(done.stdout) == {str(ok): "completed", str(bad): "failed"}
    assert cli.cli("wait", str(ok)).returncode == 0
    slow = submit(cli, "--", "sleep", "5")
    started = time.monotonic()
    gave_up = cli.cli("wait", str(slow), "--timeout", "0.5")
    assert gave_up.returncode == 1 and "gave up" in gave_up.stderr and time.monotonic() - started < 4
    assert cli.cli("cancel", str(slow)).returncode == 0
    assert cli.cli("wait", "--all", "--timeout", "20").returncode in (0, 1)  # returns once everything has ended
    assert cli.cli("wait").returncode == 2  # names nothing: bad usage


def test_cancel_approve_reject_requeue_priority(cli: Daemon) -> None:
    a = submit(cli, "--requires-approval", "--", "echo", "approved")
    b = submit(cli, "--requires-approval", "--", "true")
    c = submit(cli, "--requires-approval", "--", "true")
    assert cli.cli_json("show", str(a))["job"]["status"] == "blocked"

    prio = cli.cli_json("priority", str(c), "55")
    assert prio["priority"] == 55 and prio["priority_override"] is True and set(prio) >= JOB_KEYS

    (approved,) = cli.cli_json("approve", str(a))  # the job as it is now: the engine may have started it already
    assert approved["ok"] and approved["status"] in ("waiting", "starting", "running", "completed")
    (rejected,) = cli.cli_json("reject", str(b), "--reason", "not this week")
    assert rejected["ok"] and rejected["status"] == "rejected" and "not this week" in rejected["message"]
    assert cli.cli("reject", str(c)).returncode == 2  # --reason is required
    (cancelled,) = cli.cli_json("cancel", str(c))
    assert cancelled == {"id": c, "ok": True, "status": "cancelled", "message": "cancelled by root"}

    wait_ok(cli, a)
    again = cli.cli("--json", "cancel", str(a), str(c))
    assert again.returncode == 1
    results = json.loads(again.stdout)
    assert [r["ok"] for r in results] == [False, False] and "already ended" in results[0]["error"]
    assert set(results[0]) == {"id", "ok", "error"}

    (requeued,) = cli.cli_json("requeue", str(a))
    assert requeued["ok"] and requeued["status"] in ("waiting", "starting", "running", "completed")
    wait_for_sync(lambda: cli.job(a)["job"]["attempts"] == 2, 10, "the rerun")
    wait_ok(cli, a)
    assert len(cli.cli_json("show", str(a))["attempts"]) == 2
    human = cli.cli("requeue", str(b))
    assert human.returncode == 1 and human.stderr.startswith(f"jobtui: job {b} is rejected"), human.stderr
    assert "submitted again" in human.stderr


def test_stats_me_position_concurrency(cli: Daemon) -> None:
    stats = cli.cli_json("stats")
    assert {
        "queue_depth",
        "running",
        "max_concurrent",
        "user_max_concurrent",
        "team_max_concurrent",
        "fair_share",
        "avg_wait_seconds",
        "by_status",
        "by_user",
    } <= set(stats)
    me = cli.cli_json("me")
    assert {
        "user",
        "role",
        "team",
        "pending_count",
        "running_count",
        "blocked_count",
        "best_position",
        "pending_jobs",
        "running_jobs",
    } <= set(me)
    assert me["user"] == "root" and me["role"] == "admin"

    limits = cli.cli_json("concurrency")
    assert limits == {
        "max_concurrent": 10,
        "user_max_concurrent": 10,
        "team_max_concurrent": 10,
        "fair_share": False,
        "local_gpu_max_concurrent": None,
        "local_job_max_concurrent": None,
    }
    assert cli.cli_json("concurrency", "--max-concurrent", "1", "--fair-share", "on")["max_concurrent"] == 1
    blocker = submit(cli, "--", "sleep", "30")
    queued = submit(cli, "--", "true")
    position = cli.cli_json("position", str(queued))
    assert set(position) == {"id", "position", "waiting"} and position["position"] == 1
    assert position["waiting"]["code"] == "global_limit"  # why it waits: the one slot is taken
    assert "position" in cli.cli("position", str(queued)).stdout
    cli.cli_json("cancel", str(blocker))
    cli.cli_json("concurrency", "--max-concurrent", "10", "--fair-share", "off")
    wait_ok(cli, queued)
    assert cli.cli("concurrency", "--max-concurrent", "0").returncode == 2  # a limit of 0 is refused


def test_submit_file_yaml_and_lines(cli: Daemon, tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("- {name: one, command: echo one, key: a}\n- {name: two, command: [echo, two], after: [a]}\n")
    ids = cli.cli_json("submit", "--file", str(jobs))["ids"]
    assert len(ids) == 2
    assert cli.cli_json("show", str(ids[1]))["job"]["after"] == [ids[0]]
    lines = cli.cli_json("submit", "--file", "-", input="# comment\necho three\n\necho 'four four'\n")["ids"]
    wait_ok(cli, *ids, *lines)
    assert [cli.cli("logs", str(i)).stdout for i in lines] == ["three\n", "four four\n"]


def test_list_limit_0_lists_every_job(cli: Daemon) -> None:
    """`-l 0` means all, as its help says: never the API's default page of 50."""
    lines = "".join(f"true {i}\n" for i in range(60))
    ids = cli.cli_json("submit", "--file", "-", input=lines)["ids"]
    listed = {j["id"] for j in cli.cli_json("list", "-l", "0")}
    assert set(ids) <= listed
    assert len(cli.cli_json("list", "-l", "5")) == 5


def test_submit_with_a_key_submits_once(cli: Daemon) -> None:
    first = cli.cli_json("submit", "--key", "cli-key-1", "--requires-approval", "--", "true")["ids"]
    assert cli.cli_json("submit", "--key", "cli-key-1", "--requires-approval", "--", "true")["ids"] == first
    other = cli.cli("submit", "--key", "cli-key-1", "--", "echo", "other")
    assert other.returncode == 1 and "was already used by" in other.stderr and "Use a new key" in other.stderr
    assert cli.cli("submit", "--key", "caf\u00e9", "--", "true").returncode == 2  # not printable ASCII
    unkeyed = [cli.cli_json("submit", "--requires-approval", "--", "true")["ids"] for _ in range(2)]
    assert unkeyed[0] != unkeyed[1]  # without --key, each invocation is its own submission
    cli.cli_json("cancel", *map(str, first + unkeyed[0] + unkeyed[1]))


def test_run_attaches_and_follows_to_the_end(cli: Daemon, tmp_path: Path) -> None:
    jobs = tmp_path / "run.yaml"
    jobs.write_text(
        "- {name: s1, command: 'sh -c \"echo Step 1 of 2; sleep 0.2; echo Step 2 of 2\"'}\n"
        "- {name: bad, command: 'sh -c \"exit 2\"'}\n"
    )
    done = cli.cli("--json", "run", str(jobs))
    assert done.returncode == 1  # one did not complete
    final = json.loads(done.stdout)
    assert [(j["name"], j["status"]) for j in final] == [("s1", "completed"), ("bad", "failed")]
    assert final[0]["progress"]["percent"] == 100.0
    text = cli.cli("run", str(jobs))
    assert "s1" in text.stdout and "completed" in text.stdout and "failed" in text.stdout


def test_logs_follow_a_running_job(cli: Daemon) -> None:
    job_id = submit(cli, "--", "sh", "-c", "for i in 1 2 3 4 5; do echo tick $i; sleep 0.2; done")
    wait_for_sync(lambda: cli.job(job_id)["job"]["status"] == "running", 10, "it to run")
    follow = cli.cli("logs", "-f", str(job_id), timeout=20)
    assert follow.returncode == 0
    assert follow.stdout == "".join(f"tick {i}\n" for i in range(1, 6))
    assert cli.cli_json("show", str(job_id))["job"]["status"] == "completed"


def test_token_verb(cli: Daemon) -> None:
    issued = cli.cli_json("token", "ann")
    assert set(issued) == {"user", "token", "digest"} and issued["user"] == "ann"
    assert cli.get("/api/queue/me", token=issued["token"]).json()["user"] == "ann"
    plain = cli.cli("token", "bob")
    assert plain.returncode == 0 and len(plain.stdout.strip()) > 20


def test_exit_codes_for_bad_usage_and_failures(cli: Daemon) -> None:
    assert cli.cli("list").returncode == 0
    assert cli.cli("no-such-verb").returncode == 2
    assert cli.cli("submit").returncode == 2  # no command
    missing = cli.cli("submit", "--", "no-such-program-xyz")
    assert missing.returncode == 2 and "'no-such-program-xyz' was not found on PATH" in missing.stderr
    dep = cli.cli("submit", "--after", "99999", "--", "true")
    assert dep.returncode == 2 and "does not exist" in dep.stderr
    env = cli.cli("submit", "--env", "NOEQUALS", "--", "true")
    assert env.returncode == 2 and "NAME=VALUE" in env.stderr
    show = cli.cli("show", "99999")
    assert show.returncode == 1 and "job 99999 does not exist" in show.stderr
    bad_file = cli.cli("submit", "--file", "/no/such/file.yaml")
    assert bad_file.returncode == 2 and "cannot read the job file" in bad_file.stderr
    assert cli.cli("cleanup", "--days", "-1").returncode == 2


def test_cleanup_deletes_old_ended_jobs(cli: Daemon) -> None:
    job_id = submit(cli, "--", "true")
    wait_ok(cli, job_id)
    assert cli.state_dir.joinpath("runs", f"{job_id}.1").exists()
    deleted = cli.cli_json("cleanup", "--days", "0")
    assert set(deleted) == {"deleted"} and deleted["deleted"] >= 1
    assert cli.cli("show", str(job_id)).returncode == 1
    assert not cli.state_dir.joinpath("runs", f"{job_id}.1").exists()


def test_help_needs_no_engine() -> None:
    done = subprocess.run([*JOBTUI, "--help"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "submit" in done.stdout and "--serve" in done.stdout
