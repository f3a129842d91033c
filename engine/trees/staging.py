"""A tree's run directory on a remote node: copied there once before its jobs are submitted, results back after.

A tree run on an SSH node, or on a cluster reached `via:` one, runs in `<work_root>/trees/<run dir name>/` on that
node (the cluster's `work_root` for a cluster, the SSH node's for an SSH node); `remote_of` says where, from the
config. `push` copies the run directory there with rsync over the node's own SSH settings (its user, port, key,
`ssh_config` and known_hosts, the host key always verified) when rsync exists on both ends, else with the SFTP
`Stager` of `engine.remote.transfer`; rsync's `-e` command is built with `shlex.join`, and `-s` (`--protect-args`) keeps
the remote path from being read by the node's shell. `pull` brings back the files of one directory that match the
tree's result globs and the `qsub.finished.*` markers, with the `Stager` (globs checked to stay inside the
directory; only changed files move; nothing local is ever deleted). A cluster on this machine (no `via`) and a
local node see the run directory where it is: `remote_of` gives None; an SSH node (or a cluster via one) that sees
it at the same path, writable (the same machine, or a shared file system), is found by `sees`.
"""

from __future__ import annotations

import asyncio
import posixpath
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from engine.config import ClusterNode, Config, SshNode
from engine.errors import JobTuiError, ValidationError
from engine.remote.pool import SshHost, known_hosts_file
from engine.remote.transfer import Stager, check_relative

MARKERS = "qsub.finished.*"  # brought back with the results: they say which steps ended normally
TREES = "trees"
PUSH_TIMEOUT = 3600.0


class StagingError(JobTuiError):
    title = "Staging the tree failed"


@dataclass(frozen=True, slots=True)
class Remote:
    """Where a tree's jobs run when the node does not see this machine's files."""

    node: str  # the node the jobs are sent to
    ssh: SshNode  # how its files are reached (the node itself, or the ssh node of its `via`)
    work_root: str  # the root on that host (may start with ~/)

    def directory(self, home: str, run_name: str) -> str:
        """The run directory's absolute path on the host: `<work_root>/trees/<run_name>`."""
        root = self.work_root
        if root == "~" or root.startswith("~/"):
            root = posixpath.join(home, root[2:])
        if not posixpath.isabs(root):
            root = posixpath.join(home, root)
        if not run_name or run_name in (".", "..") or any(c in run_name for c in "/\x00\n"):
            raise ValidationError(f"{run_name!r}: a run directory's name is one file name; rename it.")
        return posixpath.normpath(posixpath.join(root, TREES, run_name))


def remote_of(config: Config, node: str) -> Remote | None:
    """Where node `node` of `config` runs a tree: None when it sees this machine's files (local, or a cluster with
    no `via`); a ValidationError when `config` has no such node."""
    found = next((n for n in config.nodes if n.name == node), None)
    if found is None:
        raise ValidationError(
            f"--node {node!r}: the engine has it but the config this command read does not; give the engine's "
            "--config, so the tree can be copied to the node."
        )
    if isinstance(found, SshNode):
        return Remote(node, found, found.work_root)
    if isinstance(found, ClusterNode) and found.via:
        via = next(n for n in config.nodes if n.name == found.via)
        assert isinstance(via, SshNode)  # checked when the config was loaded
        return Remote(node, via, found.work_root)
    return None


def ssh_argv(cfg: SshNode) -> list[str]:
    """The `ssh` command that reaches `cfg` as the engine's connection does: same user, port, key, ssh config and
    known_hosts; an unknown or changed host key is refused, and nothing asks for a password."""
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
    argv += ["-o", f"UserKnownHostsFile={known_hosts_file(cfg)}", "-o", "GlobalKnownHostsFile=/dev/null"]
    if cfg.ssh_config:
        argv += ["-F", str(cfg.ssh_config.expanduser())]
    if "port" in cfg.model_fields_set or not cfg.ssh_config:
        argv += ["-p", str(cfg.port)]
    if cfg.user:
        argv += ["-l", cfg.user]
    if cfg.key_file:
        argv += ["-i", str(cfg.key_file.expanduser()), "-o", "IdentitiesOnly=yes"]
    return argv


def rsync_argv(cfg: SshNode, local_dir: Path, remote_dir: str, update: bool) -> list[str]:
    """rsync `local_dir`'s contents into `remote_dir` on `cfg`'s host; `update`: never replace a newer remote file."""
    host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
    argv = ["rsync", "-a", "-s", "-e", shlex.join(ssh_argv(cfg))]
    if update:
        argv.append("--update")
    return [*argv, "--", f"{local_dir}/", f"{host}:{remote_dir}/"]


class Staging:
    """One SSH connection to a tree's host, for `push` and `pull`; `close()` it when done."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote
        self.host = SshHost(remote.ssh)
        self.stager = Stager(self.host)
        self._home: str | None = None

    async def close(self) -> None:
        await self.host.close()

    async def _sh(self, script: str, *args: str, timeout: float = 60.0) -> tuple[int, str, str]:
        status, out, err = await self.host.run(["/bin/sh", "-c", script, "jobtui-tree", *args], timeout=timeout)
        return status, out.decode(errors="replace"), err.decode(errors="replace")

    async def directory(self, run_name: str) -> str:
        """The run directory's absolute path on the host."""
        return self.remote.directory(await self.home(), run_name)

    async def home(self) -> str:
        """The home directory on the host (asked once)."""
        if self._home is None:
            status, out, err = await self._sh('printf %s "$HOME"')
            if status != 0 or not out.startswith("/"):
                raise StagingError(f"{self.host.where}: cannot find the home directory: {err.strip()[:200]}")
            self._home = out
        return self._home

    async def absolute(self, path: str) -> str:
        """`path` on the host as an absolute path (`~/x` and relative paths are below its home)."""
        if path.startswith("/"):
            return posixpath.normpath(path)
        rest = path[2:] if path.startswith("~/") else "" if path == "~" else path
        return posixpath.normpath(posixpath.join(await self.home(), rest))

    async def sees(self, run_dir: Path, state_file: str) -> bool:
        """Does the host see `run_dir` at the same path, writable (this machine, or a shared file system)? Told by
        its `state_file` there being the same bytes as here; then nothing needs staging."""
        script = '[ -d "$1" ] && [ -w "$1" ] && cat -- "$1/$2"'
        status, out, _ = await self._sh(script, str(run_dir), state_file)
        try:
            here = (run_dir / state_file).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
        return status == 0 and out == here

    async def has_rsync(self) -> bool:
        if shutil.which("rsync") is None or shutil.which("ssh") is None:
            return False
        status, _, _ = await self._sh("command -v rsync >/dev/null")
        return status == 0

    async def push(self, run_dir: Path, update: bool = False) -> tuple[str, str]:
        """Copy `run_dir` to the host; (its path there, "rsync" or "sftp"). `update` (a resume): files newer on the
        host than here are kept."""
        remote_dir = await self.directory(run_dir.name)
        status, _, err = await self._sh('mkdir -p -- "$1"', remote_dir)
        if status != 0:
            raise StagingError(f"{self.host.where}: cannot create {remote_dir}: {err.strip()[:200]}")
        if await self.has_rsync():
            argv = rsync_argv(self.remote.ssh, run_dir, remote_dir, update)
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
            try:
                _, error = await asyncio.wait_for(proc.communicate(), PUSH_TIMEOUT)
            except TimeoutError:
                proc.kill()
                await proc.wait()
                raise StagingError(f"rsync to {self.host.where} did not end within {PUSH_TIMEOUT:g} s") from None
            if proc.returncode != 0:
                why = error.decode(errors="replace").strip()[-400:]
                raise StagingError(f"rsync to {self.host.where} failed (exit {proc.returncode}): {why}")
            return remote_dir, "rsync"
        # the existing transfer: `run_dir` lands as <parent>/<its name>, only files whose size or time differ move
        await self.stager.stage_in([str(run_dir)], posixpath.dirname(remote_dir))
        return remote_dir, "sftp"

    async def pull(self, remote_dir: str, directory: str, local_dir: Path, patterns: list[str]) -> list[str]:
        """Bring back from `directory` of the tree on the host the files matching `patterns` and the markers into
        `local_dir`; the files that moved (relative to the directory)."""
        where = remote_dir if directory == "." else posixpath.join(remote_dir, check_relative(directory))
        result = await self.stager.collect(where, [*patterns, MARKERS], local_dir)
        return result.fetched
