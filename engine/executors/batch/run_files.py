"""Access to an attempt's run directory on a cluster's shared file system: here, or through a runner.

A cluster reached directly shares this machine's file system (its login node is this machine); one
reached `via` an ssh node is read with small commands through that node's `CommandRunner`.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shlex
from typing import Protocol

from engine.errors import JobTuiError
from engine.executors.base import Output, read_file
from engine.executors.batch.script import sh_path
from engine.executors.wrapper import EXIT, PID, STDERR, STDOUT
from engine.remote.commands import CommandRunner, run_command

_STALE = (STDOUT, STDERR, EXIT, PID)


class RunFiles(Protocol):
    async def prepare(self, run_dir: str) -> None:
        """Create the run directory and remove what an earlier submission left there."""
        ...

    async def read(self, path: str, offset: int, limit: int) -> bytes:
        """Up to `limit` bytes of `path` from `offset`; empty when it does not exist (yet)."""
        ...

    async def read_sized(self, path: str, offset: int, limit: int) -> Output:
        """`read`, with the file's size as of the read (0 when it does not exist), in the same operation."""
        ...


class LocalFiles:
    async def prepare(self, run_dir: str) -> None:
        os.makedirs(run_dir, exist_ok=True)
        for name in _STALE:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(run_dir, name))

    async def read(self, path: str, offset: int, limit: int) -> bytes:
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                return f.read(limit)
        except FileNotFoundError:
            return b""

    async def read_sized(self, path: str, offset: int, limit: int) -> Output:
        return read_file(path, offset, limit)


class RemoteFiles:
    """The same operations as `LocalFiles`, each one command through `runner`."""

    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner

    async def prepare(self, run_dir: str) -> None:
        d = sh_path(run_dir)
        stale = " ".join(f"{d}/{name}" for name in _STALE)
        await run_command(["sh", "-c", f"mkdir -p {d} && rm -f {stale}"], self.runner, check=True)

    async def read(self, path: str, offset: int, limit: int) -> bytes:
        # base64: the runner hands back text, and byte offsets must survive any encoding
        f = sh_path(path)
        script = f"[ -f {f} ] || exit 0; tail -c +{int(offset) + 1} {f} | head -c {int(limit)} | base64"
        result = await run_command(["sh", "-c", script], self.runner)
        if not result.ok:
            raise JobTuiError(f"{self.runner.where}: cannot read {shlex.quote(path)}: {result.stderr.strip()[:200]}")
        return base64.b64decode(result.stdout)

    async def read_sized(self, path: str, offset: int, limit: int) -> Output:
        # one command: the size on a first line, then the bytes in base64
        f = sh_path(path)
        script = (
            f"[ -f {f} ] || {{ echo 0; exit 0; }}; stat -c %s {f} && "
            f"tail -c +{int(offset) + 1} {f} | head -c {int(limit)} | base64"
        )
        result = await run_command(["sh", "-c", script], self.runner)
        if not result.ok:
            raise JobTuiError(f"{self.runner.where}: cannot read {shlex.quote(path)}: {result.stderr.strip()[:200]}")
        first, _, encoded = result.stdout.partition("\n")
        data = base64.b64decode(encoded)
        size = int(first.strip() or 0)
        return Output(data, max(size, offset + len(data)) if data else size)
