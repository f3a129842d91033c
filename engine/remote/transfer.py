"""File staging for SSH nodes: inputs up before the run, declared outputs back after it.

Transfers to or from one node run one at a time (a lock per node); execution stays parallel. Only
files whose size or modification time differ move. Every remote path is checked to stay inside the
attempt's directory: no absolute paths, no `..`, and no symlink that resolves outside it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import posixpath
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import asyncssh

from engine.errors import JobTuiError
from engine.models import Reason
from engine.remote.pool import SshHost, SshRefused, SshUnreachable

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRIES = 4
RETRY_START = 0.5
RETRY_CAP = 5.0


class TransferError(JobTuiError):
    title = "File transfer failed"
    reason = Reason.TRANSFER_ERROR


class PathEscape(TransferError):
    title = "Path outside the work directory"
    reason = Reason.LAUNCH_ERROR  # the job's own request is at fault, not the link


def check_relative(path: str) -> str:
    """`path` (a file name or glob) normalised, if it stays below its root; raises PathEscape otherwise."""
    if not path or "\x00" in path or "\n" in path:
        raise PathEscape(f"{path!r} is not a usable path: it is empty or holds a NUL or newline.")
    if path.startswith(("/", "~")):
        raise PathEscape(f"{path!r} is absolute; give a path relative to the job's directory.")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise PathEscape(f"{path!r} leaves the job's directory ('..'); give a path below it.")
    return "/".join(parts)


def within(root: str, path: str) -> bool:
    """Whether POSIX `path` is `root` itself or lies below it (both absolute, compared normalised)."""
    root = posixpath.normpath(root)
    path = posixpath.normpath(path)
    return path == root or path.startswith(root.rstrip("/") + "/")


def input_name(local_path: str) -> str:
    """The name a local input gets in the job's directory (its last component), checked."""
    return check_relative(os.path.basename(os.path.normpath(local_path)))


def unchanged(local: os.stat_result, remote: asyncssh.SFTPAttrs) -> bool:
    """Same size and same whole-second modification time."""
    return remote.size == local.st_size and remote.mtime is not None and int(remote.mtime) == int(local.st_mtime)


@dataclass(slots=True)
class CollectResult:
    fetched: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def absent_text(self) -> str:
        parts = [f"no file matched {p!r}" for p in self.missing]
        parts += [f"{p!r} points outside the job's directory" for p in self.refused]
        return "; ".join(parts)


async def with_retries(what: str, op: Callable[[], Awaitable[T]]) -> T:
    """Run `op`, retrying transient failures with capped back-off; link loss is re-raised as is."""
    for attempt in range(RETRIES):
        try:
            return await op()
        except (TransferError, SshRefused):
            raise
        except SshUnreachable:
            if attempt == RETRIES - 1:
                raise
        except (asyncssh.Error, OSError) as e:
            if attempt == RETRIES - 1:
                raise TransferError(f"{what} failed after {RETRIES} tries: {e}") from e
            log.warning("%s failed (%s), retrying", what, e)
        await asyncio.sleep(min(RETRY_CAP, RETRY_START * 2**attempt))
    raise AssertionError("unreachable")


class Stager:
    """Moves files between this machine and one SSH node, one transfer at a time."""

    def __init__(self, host: SshHost) -> None:
        self.host = host
        self.lock = asyncio.Lock()

    async def stage_in(self, inputs: list[str], remote_dir: str) -> int:
        """Upload each local input (file or directory) into `remote_dir`; returns the files that moved."""
        pairs = [(Path(p).expanduser(), input_name(p)) for p in inputs]
        for local, _ in pairs:
            if not local.exists():
                raise TransferError(f"input {str(local)!r} does not exist on this machine; fix the job's inputs.")
        async with self.lock:
            what = f"uploading inputs to {self.host.where}"
            return await with_retries(what, lambda: self._put_all(pairs, remote_dir))

    async def collect(self, remote_dir: str, patterns: list[str], local_dir: Path) -> CollectResult:
        """Download what the output globs match below `remote_dir` into `local_dir`."""
        checked = [check_relative(p) for p in patterns]
        async with self.lock:
            return await with_retries(
                f"collecting results from {self.host.where}", lambda: self._get_all(remote_dir, checked, local_dir)
            )

    async def _put_all(self, pairs: list[tuple[Path, str]], remote_dir: str) -> int:
        moved = 0
        async with self.host.channel() as conn, conn.start_sftp_client() as sftp:
            await sftp.makedirs(remote_dir, exist_ok=True)
            for local, name in pairs:
                for path, rel in _local_files(local, name):
                    moved += await _put_one(sftp, path, posixpath.join(remote_dir, rel))
        return moved

    async def _get_all(self, remote_dir: str, patterns: list[str], local_dir: Path) -> CollectResult:
        result = CollectResult()
        async with self.host.channel() as conn, conn.start_sftp_client() as sftp:
            root = await sftp.realpath(remote_dir)
            for pattern in patterns:
                matches = await _glob(sftp, posixpath.join(root, pattern))
                if not matches:
                    result.missing.append(pattern)
                for match in matches:
                    await _get_tree(sftp, root, match, local_dir, result)
        return result


def _local_files(local: Path, name: str) -> list[tuple[Path, str]]:
    """(local file, relative remote path) for a file, or for every file below a directory."""
    if not local.is_dir():
        return [(local, name)]
    files = []
    for dirpath, _dirs, names in os.walk(local):
        for fname in names:
            path = Path(dirpath) / fname
            files.append((path, posixpath.join(name, path.relative_to(local).as_posix())))
    return files


async def _put_one(sftp: asyncssh.SFTPClient, local: Path, remote: str) -> int:
    st = local.stat()
    try:
        if unchanged(st, await sftp.stat(remote)):
            return 0
    except asyncssh.SFTPNoSuchFile:
        pass
    await sftp.makedirs(posixpath.dirname(remote), exist_ok=True)
    await sftp.put(str(local), remote, preserve=True)
    return 1


async def _glob(sftp: asyncssh.SFTPClient, pattern: str) -> list[str]:
    try:
        return sorted(str(m) for m in await sftp.glob(pattern))
    except asyncssh.SFTPNoSuchFile:
        return []


async def _get_tree(sftp: asyncssh.SFTPClient, root: str, path: str, local_dir: Path, result: CollectResult) -> None:
    """Fetch `path` (a file, or every file below a directory) if it resolves inside `root`."""
    rel = posixpath.relpath(path, root)
    try:
        real = await sftp.realpath(path)
        attrs = await sftp.stat(path)
    except asyncssh.SFTPNoSuchFile:  # a dangling symlink
        result.missing.append(rel)
        return
    if not within(root, real) or not within(root, path):
        result.refused.append(rel)
        return
    if stat.S_ISDIR(attrs.permissions or 0):
        for entry in sorted(await sftp.listdir(path)):
            if entry not in (".", ".."):
                await _get_tree(sftp, root, posixpath.join(path, entry), local_dir, result)
        return
    target = local_dir / check_relative(rel)
    try:
        st = target.lstat()
        if not stat.S_ISLNK(st.st_mode) and unchanged(st, attrs):
            result.unchanged.append(rel)
            return
    except FileNotFoundError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    await sftp.get(path, str(target), preserve=True)
    result.fetched.append(rel)
