"""Hooks: a real HTTP receiver on 127.0.0.1 gets a small workflow's events, signed; a command hook gets the
event as JSON on stdin with JOBTUI_* variables; a failing hook never fails the job and is in its history;
the config says clearly what is wrong with a hook; `jobtui notify test` sends a sample event."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from engine.config import LocalNode, SshNode, parse_config
from engine.config_hooks import Hook
from engine.errors import ConfigError
from engine.models import JobStatus
from engine.service.jobspec import WorkflowInfo, parse_specs
from tests.fixtures.engine import JOBTUI, OWNER, Rig, make_config
from tests.waiting import wait_for


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps every POST (headers, body) and answers `status`."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


async def _workflow(rig: Rig) -> list[Any]:
    specs = parse_specs(
        [
            {"command": ["true"], "key": "build", "name": "build", "tags": ["ci"]},
            {"command": ["sh", "-c", "exit 3"], "key": "test", "name": "test", "after": ["build"], "tags": ["ci"]},
            {"command": ["true"], "name": "deploy", "after": ["test"], "tags": ["ci"]},
        ]
    )
    return await rig.service.submit(rig.actor(), specs, workflow=WorkflowInfo(name="release"))


async def test_a_webhook_receives_a_workflows_events_signed_with_hmac(
    engine_factory: Any, receiver: Receiver, tmp_path: Path
) -> None:
    secret = tmp_path / "hook.secret"
    secret.write_text("s3cret-key\n")
    events = ["job_started", "job_completed", "job_failed", "job_skipped", "workflow_finished"]
    hook = Hook(name="ci", events=events, url=receiver.url, secret_file=secret, filter={"workflow": "rel*"})
    rig = await engine_factory(make_config(hooks=[hook]))
    _, test, deploy = await _workflow(rig)
    await rig.wait_terminal(deploy.id)
    await wait_for(lambda: len(receiver.received) >= 6, 10, lambda: f"6 deliveries, got {receiver.events()}")
    await rig.engine.hooks.drain()
    for headers, body in receiver.received:
        expected = "sha256=" + hmac.new(b"s3cret-key", body, hashlib.sha256).hexdigest()
        assert headers["x-jobtui-signature"] == expected
        assert headers["content-type"] == "application/json"
    got = sorted((e["event"], (e.get("job") or {}).get("name")) for e in receiver.events())
    assert got == sorted(
        [
            ("job_started", "build"),
            ("job_completed", "build"),
            ("job_started", "test"),
            ("job_failed", "test"),
            ("job_skipped", "deploy"),
            ("workflow_finished", None),
        ]
    )
    (finished,) = [e for e in receiver.events() if e["event"] == "workflow_finished"]
    assert finished["workflow"]["name"] == "release"
    assert finished["workflow"]["counts"] == {"completed": 1, "failed": 1, "skipped": 1}
    failed = next(e for e in receiver.events() if e["event"] == "job_failed")
    assert failed["job"]["exit_code"] == 3 and failed["job"]["workflow"] == "release" and failed["hook"] == "ci"
    assert "command" not in failed["job"] and "env" not in failed["job"]  # a hook learns no command line or env
    _, history = await rig.history(test.id)
    delivered = [e.message for e in history if e.kind == "hook_delivered"]
    assert "hook ci: job_failed delivered (HTTP 200)" in delivered
    assert "s3cret" not in json.dumps([e.to_dict() for e in history])


async def test_a_command_hook_gets_the_event_on_stdin_and_jobtui_variables(engine_factory: Any, tmp_path: Path) -> None:
    out = tmp_path / "seen.jsonl"
    script = (
        "import json, os, sys; event = json.load(sys.stdin); "
        "env = {k: v for k, v in os.environ.items() if k.startswith('JOBTUI_')}; "
        "open(sys.argv[1], 'a').write(json.dumps({'event': event, 'env': env}) + '\\n')"
    )
    hook = Hook(name="log", events=["job_completed"], command=[sys.executable, "-c", script, str(out)],
                filter={"user": OWNER, "tags": ["solver"]})  # fmt: skip
    rig = await engine_factory(make_config(hooks=[hook]))
    mine, other = await rig.submit(
        {"command": ["true"], "name": "$(touch pwned)", "tags": ["solver"]}, {"command": ["true"], "tags": ["x"]}
    )
    await rig.wait_terminal(mine.id)
    await rig.wait_terminal(other.id)
    await rig.engine.hooks.drain()
    (line,) = out.read_text().splitlines()  # the job without the tag was filtered out
    seen = json.loads(line)
    assert seen["event"]["event"] == "job_completed" and seen["event"]["job"]["id"] == mine.id
    assert seen["event"]["job"]["name"] == "$(touch pwned)" and not (tmp_path / "pwned").exists()
    assert seen["env"]["JOBTUI_EVENT"] == "job_completed" and seen["env"]["JOBTUI_HOOK"] == "log"
    assert seen["env"]["JOBTUI_JOB_ID"] == str(mine.id) and seen["env"]["JOBTUI_JOB_STATUS"] == "completed"


async def test_a_failing_hook_does_not_fail_the_job_and_is_in_its_history(engine_factory: Any) -> None:
    broken = Hook(name="broken", events=["job_completed"], command=["sh", "-c", "echo boom >&2; exit 2"])
    nowhere = Hook(name="nowhere", events=["job_completed"], url="http://127.0.0.1:9/", retries=1, timeout=2)
    rig = await engine_factory(make_config(hooks=[broken, nowhere]))
    job = await rig.submit_one(["true"])
    await rig.wait_terminal(job.id)
    await rig.engine.hooks.drain()
    assert job.status == JobStatus.COMPLETED
    _, history = await rig.history(job.id)
    failures = sorted(e.message for e in history if e.kind == "hook_failed")
    assert failures[0] == "hook broken: job_completed not delivered: command 'sh' exited with code 2: boom"
    assert failures[1].startswith("hook nowhere: job_completed not delivered after 2 tries: POST http://127.0.0.1:9/")
    assert rig.engine.hooks.counts.failed == 2 and rig.engine.hooks.counts.delivered == 0


async def test_a_full_hook_queue_drops_and_counts_without_blocking(engine_factory: Any, tmp_path: Path) -> None:
    slow = Hook(name="slow", events=["job_started", "job_completed"], command=["sleep", "0.5"])
    rig = await engine_factory(make_config(hooks=[slow], hook_delivery={"workers": 1, "queue": 1}))
    jobs = await rig.submit(*[["true"] for _ in range(5)])
    for job in jobs:
        await rig.wait_terminal(job.id)  # the jobs end while the hook is still busy
    assert all(j.status == JobStatus.COMPLETED for j in jobs)
    assert rig.engine.hooks.counts.dropped >= 5


def test_the_config_says_what_is_wrong_with_a_hook() -> None:
    with pytest.raises(ConfigError) as both:
        parse_config("hooks:\n  - name: h\n    events: [job_failed]\n    command: [notify-send]\n    url: http://x/\n")
    assert "needs exactly one of command: [argv...] or url:" in both.value.message
    assert "<config>:2" in both.value.message
    with pytest.raises(ConfigError) as unknown:
        parse_config("hooks:\n  - name: h\n    events: [job_exploded]\n    command: [notify-send]\n")
    assert "hooks.0.events.0" in unknown.value.message and "job_completed" in unknown.value.message
    with pytest.raises(ConfigError, match="hook names must be unique; repeated: h"):
        parse_config(
            "hooks:\n  - {name: h, events: [job_failed], command: [a]}\n"
            "  - {name: h, events: [job_failed], command: [b]}\n"
        )


def test_notify_test_sends_a_sample_event(receiver: Receiver, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"hooks:\n  - name: desk\n    events: [job_failed]\n    url: {receiver.url}\n")
    env = {"PATH": "/usr/bin:/bin", "JOBTUI_HOME": str(tmp_path / "state")}
    argv = [*JOBTUI, "--config", str(config), "notify", "test", "desk"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert "hook desk: sample job_failed delivered (HTTP 200" in result.stdout
    (event,) = receiver.events()
    assert event["event"] == "job_failed" and event["test"] is True
    missing = subprocess.run([*JOBTUI, "--config", str(config), "notify", "test", "nope"], capture_output=True,
                             text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert missing.returncode != 0 and "no hook named 'nope' in the config (hooks: desk)" in missing.stderr


async def test_a_hook_receives_progress_milestones_announced_by_the_engine(
    engine_factory: Any, receiver: Receiver
) -> None:
    hook = Hook(name="milestones", events=["progress_milestone"], url=receiver.url)
    rig = await engine_factory(make_config(hooks=[hook]))
    # each line is read on its own poll: the pauses are the job's own pace, not a wait of the test
    job = await rig.submit_one(["sh", "-c", "echo 10%; sleep 0.3; echo 55%; sleep 0.3; echo 100%; sleep 0.3"])
    await rig.wait_terminal(job.id)
    await rig.engine.hooks.drain()
    events = [e for e in receiver.events() if e["event"] == "progress_milestone"]
    assert events and all(e["job"]["id"] == job.id and "detail" in e for e in events)
    assert sorted(e["detail"]["milestone"] for e in events) == [25, 50, 75, 100]
    first = next(e for e in events if e["detail"]["milestone"] == 25)  # deliveries may arrive in any order
    assert "job_id" not in first["detail"] and first["message"] == "progress reached 25 %"


async def test_a_node_lost_reaches_its_hook_and_the_node_record_says_why(
    engine_factory: Any, receiver: Receiver, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    gone = SshNode(name="gone", kind="ssh", host="127.0.0.1", port=9, known_hosts=known_hosts, unreachable_after=0.2)
    hook = Hook(name="ops", events=["node_unreachable"], url=receiver.url, filter={"user": "ann"})
    rig = await engine_factory(make_config(nodes=[LocalNode(name="local", cores=2), gone], hooks=[hook]))
    await wait_for(lambda: receiver.received, 30, "the node_unreachable delivery")
    (event,) = receiver.events()
    assert event["event"] == "node_unreachable" and event["node"] == "gone"  # a node event passes job filters
    record = next(n for n in rig.service.nodes() if n["name"] == "gone")
    assert record["reachable"] is False
    assert record["measured"]["unreachable_since"] is not None
    reason = record["measured"]["unreachable_reason"]
    assert reason.startswith("node gone (127.0.0.1:9): ") and "Connect call failed" in reason
