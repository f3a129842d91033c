"""Rules of the SSH connection pool that need no server: rate limit, back-off, options, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import SshNode
from engine.errors import JobTuiError
from engine.remote.pool import ConnectLimiter, SshHost, SshRefused, backoff, connect_options, env_script, host_key_error
from tests.waiting import wait_for

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def _node(tmp_path: Path, **fields) -> SshNode:
    known = tmp_path / "known_hosts"
    if not known.exists():
        known.write_text("")
    values = {"name": "n1", "kind": "ssh", "host": "127.0.0.1", "port": 2222, "known_hosts": known}
    values.update(fields)
    return SshNode(**values)


def test_connect_limiter_allows_n_per_minute():
    now = [0.0]
    limiter = ConnectLimiter(3, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.delay() == 0
        limiter.record()
        now[0] += 1
    assert limiter.delay() == pytest.approx(57.0)
    now[0] = 60.0
    assert limiter.delay() == 0


def test_backoff_is_exponential_and_capped():
    assert [backoff(i, 5.0) for i in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_env_names_are_checked():
    with pytest.raises(JobTuiError):
        env_script({"A;touch x": "1"})
    assert env_script({"A_1": "x y"}).endswith(b"export A_1='x y'\n")


def test_host_keys_are_always_checked(tmp_path):
    options = connect_options(_node(tmp_path))
    assert options["known_hosts"] == str(tmp_path / "known_hosts")
    assert options["port"] == 2222 and options["keepalive_interval"] > 0
    with pytest.raises(SshRefused, match=r"ssh-keyscan -p 2222 127\.0\.0\.1 >>"):
        connect_options(_node(tmp_path, known_hosts=tmp_path / "absent"))


def test_ssh_config_alias_keeps_its_own_port_unless_one_is_given(tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text("Host gpu1\n  HostName 127.0.0.1\n  Port 2200\n")
    assert "port" not in connect_options(
        SshNode(name="g", kind="ssh", host="gpu1", ssh_config=config, known_hosts=_node(tmp_path).known_hosts)
    )
    assert connect_options(_node(tmp_path, ssh_config=config, port=2201))["port"] == 2201
    assert connect_options(_node(tmp_path, ssh_config=config))["config"] == [str(config)]


def test_aes_gcm_is_preferred_unless_the_node_has_its_own_ssh_config(tmp_path):
    algs = connect_options(_node(tmp_path))["encryption_algs"]
    assert algs[0] == "aes128-gcm@openssh.com" and "chacha20-poly1305@openssh.com" in algs  # still offered
    config = tmp_path / "ssh_config"
    config.write_text("Host *\n  Ciphers chacha20-poly1305@openssh.com\n")
    assert "encryption_algs" not in connect_options(_node(tmp_path, ssh_config=config))


def test_host_key_error_tells_unknown_from_changed(tmp_path):
    node = _node(tmp_path)
    unknown = host_key_error(node, Exception("x"))
    assert "not in" in str(unknown) and f"ssh-keyscan -p 2222 127.0.0.1 >> {tmp_path}/known_hosts" in str(unknown)
    node.known_hosts.write_text(f"[127.0.0.1]:2222 {KEY}\n")
    changed = host_key_error(node, Exception("x"))
    assert "CHANGED" in str(changed) and "ssh-keygen -R '[127.0.0.1]:2222'" in str(changed)


class _Listener:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def node_changed(self, node: str, reachable: bool, sample: dict | None = None, reason: str = "") -> None:
        self.calls.append((node, reachable))


async def test_a_host_down_longer_than_unreachable_after_is_reported(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on: connections are refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    host = SshHost(_node(tmp_path, port=port, unreachable_after=1.0))
    listener = _Listener()
    host.add_listener("n1", listener)
    try:
        with pytest.raises(JobTuiError):
            await host.connection(timeout=0.3)
        assert listener.calls == []
        await wait_for(lambda: listener.calls, 3, "the host to be reported unreachable")
    finally:
        await host.close()
    assert listener.calls == [("n1", False)]
    assert host.connects == 0
