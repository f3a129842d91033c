"""The shared connection: many jobs over one connection, cancelling remote trees, host key checks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from engine.config import SshNode
from engine.executors.ssh import SshExecutor
from engine.models import JobStatus, Reason
from engine.remote.pool import SshHost, SshRefused
from engine.service.jobspec import JobSpec
from tests.waiting import wait_for

pytestmark = pytest.mark.sshd


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is `pgid`, read from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


async def test_twenty_concurrent_jobs_share_one_connection(sshd_server, ssh_engine):
    engine, service = await ssh_engine(sshd_server.node("n1", max_channels=8))
    started = time.monotonic()
    jobs = await service.submit(service.actor("root"), [JobSpec(command=["sleep", "1"]) for _ in range(20)])
    await wait_for(lambda: all(j.is_terminal for j in jobs), 30, "20 jobs to end")
    elapsed = time.monotonic() - started
    failed = {j.id: (j.status.value, j.reason, j.exit_code, j.message) for j in jobs if j.status != JobStatus.COMPLETED}
    assert not failed
    executor = engine.executors["n1"]
    assert isinstance(executor, SshExecutor)
    assert executor.host.connects == 1
    assert elapsed < 10, f"20 parallel 1-second jobs took {elapsed:.1f} s"


async def test_cancel_kills_the_remote_process_tree(sshd_server, ssh_engine):
    engine, service = await ssh_engine(sshd_server.node("n1"))
    actor = service.actor("root")
    (job,) = await service.submit(actor, [JobSpec(command=["sh", "-c", "sleep 300 & sleep 300 & echo up; wait"])])
    await wait_for(
        lambda: job.status == JobStatus.RUNNING and engine.current_attempt(job.id) is not None, 10, "the job to run"
    )
    attempt = engine.current_attempt(job.id)
    await wait_for(lambda: len(_group_members(attempt.pid)) >= 3, 10, "the job's sleeps to start")
    await service.cancel(actor, job.id)
    await wait_for(lambda: job.is_terminal, 15, "the job to be cancelled")
    assert job.status == JobStatus.CANCELLED
    await wait_for(lambda: not _group_members(attempt.pid), 5, "the remote process group to be gone")


async def test_cancel_kills_a_setsid_descendant_on_the_node(sshd_server, ssh_engine):
    engine, service = await ssh_engine(sshd_server.node("n1"))
    actor = service.actor("root")
    (job,) = await service.submit(actor, [JobSpec(command=["sh", "-c", "setsid sleep 300 & echo gc=$!; sleep 300"])])
    await wait_for(
        lambda: job.status == JobStatus.RUNNING and engine.current_attempt(job.id) is not None, 10, "the job to run"
    )
    attempt = engine.current_attempt(job.id)
    executor = engine.executors["n1"]

    async def grandchild() -> int | None:
        out = await executor.read(attempt, "stdout", 0, 100)
        return int(out.split(b"=")[1]) if out.endswith(b"\n") else None

    pid = await wait_for(grandchild, 10, "the setsid grandchild's pid in the job's output")
    assert _alive(pid) and pid not in _group_members(attempt.pid)  # it left the job's process group
    await service.cancel(actor, job.id)
    await wait_for(lambda: job.is_terminal, 15, "the job to be cancelled")
    await wait_for(lambda: not _alive(pid), 5, "the setsid grandchild on the node to die")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def test_changed_host_key_is_refused_before_any_command(sshd_server, ssh_engine, tmp_path):
    wrong = tmp_path / "known_hosts"
    other_key = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    wrong.write_text(f"[127.0.0.1]:{sshd_server.port} ssh-ed25519 {other_key}\n")
    marker = f"/tmp/jobtui-hostkey-{os.getpid()}"
    engine, service = await ssh_engine(sshd_server.node("n1", known_hosts=wrong))
    (job,) = await service.submit(service.actor("root"), [JobSpec(command=["touch", marker])])
    await wait_for(lambda: job.is_terminal, 20, "the job to fail")
    assert job.status == JobStatus.FAILED and job.reason == Reason.LAUNCH_ERROR
    assert "CHANGED" in job.message and "ssh-keygen -R" in job.message and "ssh-keyscan -p" in job.message
    assert not os.path.exists(marker)
    assert engine.executors["n1"].host.connects == 0


async def test_unknown_host_key_says_how_to_trust_it(sshd_server, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    host = SshHost(sshd_server.node("n1", known_hosts=empty))
    try:
        with pytest.raises(SshRefused) as info:
            await host.connection(timeout=5)
    finally:
        await host.close()
    assert f"ssh-keyscan -p {sshd_server.port} 127.0.0.1 >> {empty}" in str(info.value)
    assert host.connects == 0


async def test_ssh_config_alias_is_honoured(sshd_server, ssh_engine, tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host jt-alias\n  HostName 127.0.0.1\n  Port {sshd_server.port}\n  User jobtui-test\n"
        f"  IdentityFile {sshd_server.key_file}\n"
    )
    fields = sshd_server.node("n1").model_dump(exclude={"port", "user", "key_file"})
    node = SshNode(**{**fields, "host": "jt-alias", "ssh_config": config})
    assert "port" not in node.model_fields_set
    _engine, service = await ssh_engine(node)
    (job,) = await service.submit(service.actor("root"), [JobSpec(command=["whoami"])])
    await wait_for(lambda: job.is_terminal, 15, "the job to end")
    assert job.status == JobStatus.COMPLETED, job.message
