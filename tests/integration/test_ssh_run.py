"""A remote job through the real Engine over a real sshd: run, follow, exit codes, hostile input."""

from __future__ import annotations

import hashlib
import os

import pytest

from engine.models import JobStatus, Reason
from engine.service.jobspec import JobSpec
from tests.waiting import wait_for

pytestmark = pytest.mark.sshd


async def _all_output(engine, job_id: int, stream: str = "stdout") -> bytes:
    attempt = await engine.attempt_of(job_id, None)
    executor = engine.executors[attempt.node]
    return await executor.read(attempt, stream, 0, 1 << 24)


async def test_remote_job_runs_and_is_followed(sshd_server, ssh_engine):
    engine, service = await ssh_engine(sshd_server.node("n1"))
    script = "for i in 1 2 3; do echo Step $i of 3; sleep 0.2; done; echo oops >&2; hostname >/dev/null; exit 3"
    ok, bad = await service.submit(
        service.actor("root"),
        [JobSpec(command=["sh", "-c", "echo hello from $(whoami)"]), JobSpec(command=["sh", "-c", script])],
    )
    await wait_for(lambda: ok.is_terminal and bad.is_terminal, 20, "both jobs to end")
    assert ok.status == JobStatus.COMPLETED, ok.message
    assert await _all_output(engine, ok.id) == b"hello from jobtui-test\n"
    assert bad.status == JobStatus.FAILED and bad.exit_code == 3 and bad.reason == Reason.EXIT_CODE
    assert bad.progress.step == 3 and bad.progress.total == 3
    assert await _all_output(engine, bad.id, "stderr") == b"oops\n"
    attempts, _ = await engine.history(bad.id)
    expected = b"".join(b"Step %d of 3\n" % i for i in (1, 2, 3))
    assert attempts[-1].stdout_offset == len(expected)
    assert hashlib.sha256(await _all_output(engine, bad.id)).digest() == hashlib.sha256(expected).digest()


async def test_hostile_arguments_are_data(sshd_server, ssh_engine, tmp_path):
    marker = f"/tmp/jobtui-pwned-{os.getpid()}"
    hostile = [f"; touch {marker}a", f"$(touch {marker}b)", f"`touch {marker}c`", "../../etc/passwd", "a'b\"c", "$HOME"]
    engine, service = await ssh_engine(sshd_server.node("n1"))
    env = {"JT_VALUE": f"$(touch {marker}d); touch {marker}e"}
    specs = [
        JobSpec(command=["printf", "%s\\n", *hostile], env=env),
        JobSpec(command=["sh", "-c", 'printf %s "$JT_VALUE"'], env=env),
    ]
    job, job2 = await service.submit(service.actor("root"), specs)
    await wait_for(lambda: job.is_terminal and job2.is_terminal, 20, "jobs to end")
    assert job.status == JobStatus.COMPLETED, job.message
    assert await _all_output(engine, job.id) == "".join(f"{h}\n" for h in hostile).encode()
    assert await _all_output(engine, job2.id) == env["JT_VALUE"].encode()
    for suffix in "abcde":
        assert not os.path.exists(marker + suffix), f"a hostile argument ran: {marker + suffix} exists"


async def test_personal_mode_a_researchers_job_cannot_reach_the_owners_secrets(sshd_server, ssh_engine, tmp_path):
    """Personal mode: another user's job runs on an SSH node, as its remote user, and cannot read the owner's
    token or store, even on a node that is this very machine."""
    from engine.api.tokens import ensure_owner_token

    state = tmp_path / "state"
    engine, service = await ssh_engine(sshd_server.node("n1"), state_dir=state)
    token = ensure_owner_token(state)
    probe = f"id -un; cat {state}/owner.token; head -c 16 {state}/jobtui.db; ls {state}; exit 0"
    (job,) = await service.submit(service.actor("researcher-r"), [JobSpec(command=["sh", "-c", probe])])
    await wait_for(lambda: job.is_terminal, 20, "the probe to end")
    assert job.status == JobStatus.COMPLETED, job.message
    out = await _all_output(engine, job.id)
    err = await _all_output(engine, job.id, "stderr")
    assert out.startswith(b"jobtui-test\n")
    assert token.encode() not in out + err
    assert b"SQLite format" not in out
    assert b"Permission denied" in err


async def test_a_workflow_runs_on_an_ssh_node_with_its_conditions(sshd_server, ssh_engine):
    """A workflow's jobs go to an SSH node like any others: edges, a failure condition and the record hold."""
    from engine.service.jobspec import WorkflowInfo, parse_specs

    engine, service = await ssh_engine(sshd_server.node("n1"))
    specs = parse_specs(
        [
            {"key": "mesh", "command": ["sh", "-c", "echo meshed from $(whoami)"]},
            {"key": "solve", "command": ["sh", "-c", "exit 4"], "after": ["mesh"]},
            {"key": "report", "command": ["echo", "report"], "after": ["solve"]},
            {"key": "clean", "command": ["echo", "clean"], "after": ["solve"], "after_when": {"solve": "failure"}},
        ]
    )
    mesh, solve, report, clean = await service.submit(
        service.actor("root"), specs, workflow=WorkflowInfo(name="remote study")
    )
    await wait_for(lambda: all(j.is_terminal for j in (mesh, solve, report, clean)), 30, "the workflow to end")
    assert [j.status for j in (mesh, solve, report, clean)] == [
        JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.SKIPPED, JobStatus.COMPLETED,
    ]  # fmt: skip
    assert {j.node for j in (mesh, solve, clean)} == {"n1"}
    assert await _all_output(engine, mesh.id) == b"meshed from jobtui-test\n"
    assert await _all_output(engine, clean.id) == b"clean\n"
    assert mesh.workflow_id == clean.workflow_id and engine.workflow(mesh.workflow_id).name == "remote study"
