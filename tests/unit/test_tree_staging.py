"""Staging a tree to a remote node, the pure parts: where it goes for each kind of node, and the rsync command
(the node's own SSH settings, quoted with shlex, the host key checked)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from engine.config import Config, parse_config
from engine.errors import ValidationError
from engine.trees.staging import Remote, remote_of, rsync_argv, ssh_argv

CONFIG = """
nodes:
  - {name: local, kind: local}
  - {name: login, kind: ssh, host: login.example, user: "me x", port: 2222, key_file: "/keys/it's key",
     known_hosts: /keys/known, work_root: ~/work}
  - {name: hpc, kind: sge, via: login, work_root: /scratch/me}
  - {name: here, kind: slurm}
"""


def config() -> Config:
    return parse_config(CONFIG)


def test_where_a_tree_goes_for_each_kind_of_node() -> None:
    cfg = config()
    assert remote_of(cfg, "local") is None and remote_of(cfg, "here") is None  # they see this machine's files
    login = remote_of(cfg, "login")
    assert login is not None and login.ssh.host == "login.example" and login.work_root == "~/work"
    hpc = remote_of(cfg, "hpc")
    assert hpc is not None and hpc.ssh.name == "login" and hpc.work_root == "/scratch/me"  # the cluster's root
    assert login.directory("/home/me", "camp-1") == "/home/me/work/trees/camp-1"
    assert hpc.directory("/home/me", "camp-1") == "/scratch/me/trees/camp-1"
    with pytest.raises(ValidationError, match="give the engine's --config"):
        remote_of(cfg, "elsewhere")


@pytest.mark.parametrize("name", ["..", "a/../../x", "/abs", ""])
def test_a_run_name_never_leaves_the_trees_folder(name: str) -> None:
    remote = remote_of(config(), "login")
    assert isinstance(remote, Remote)
    with pytest.raises(ValidationError):
        remote.directory("/home/me", name)


def test_rsync_uses_the_nodes_ssh_settings_quoted_as_data() -> None:
    remote = remote_of(config(), "login")
    assert remote is not None
    argv = rsync_argv(remote.ssh, Path("/data/camp-1"), "/home/me x/work/trees/camp-1", update=True)
    assert argv[:3] == ["rsync", "-a", "-s"] and "--update" in argv
    assert argv[-3:] == ["--", "/data/camp-1/", "login.example:/home/me x/work/trees/camp-1/"]
    ssh = shlex.split(argv[argv.index("-e") + 1])  # rsync splits -e the same way: quotes kept, no shell
    assert ssh == ssh_argv(remote.ssh)
    assert ssh[ssh.index("-l") + 1] == "me x" and ssh[ssh.index("-p") + 1] == "2222"
    assert ssh[ssh.index("-i") + 1] == "/keys/it's key"
    assert "StrictHostKeyChecking=yes" in ssh and "UserKnownHostsFile=/keys/known" in ssh and "BatchMode=yes" in ssh
