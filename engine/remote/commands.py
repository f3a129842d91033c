"""`run_command`: the single choke point for external commands, local or on a remote host.

Commands are argv lists. A runner for a remote host turns the argv into one command line with
`shlex.join` (never by pasting strings); the local runner executes it without a shell.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Protocol

from engine.errors import JobTuiError


@dataclass(slots=True, frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class CommandError(JobTuiError):
    title = "Command failed"

    def __init__(self, result: CommandResult, where: str) -> None:
        detail = result.stderr.strip() or result.stdout.strip() or "no output"
        super().__init__(f"{where}: `{' '.join(result.argv)}` exited with {result.returncode}: {detail[:500]}")
        self.result = result


class CommandRunner(Protocol):
    """Runs argv on one host. `where` names the host in errors."""

    where: str

    async def run(
        self,
        argv: list[str],
        *,
        input: bytes | None = None,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
    ) -> CommandResult: ...


class LocalRunner:
    where = "this machine"

    async def run(
        self,
        argv: list[str],
        *,
        input: bytes | None = None,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
    ) -> CommandResult:
        full_env = {**os.environ, **env} if env else None
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=full_env,
            )
        except FileNotFoundError as e:
            raise JobTuiError(
                f"{self.where}: {argv[0]!r} is not installed or not on PATH; install it or fix PATH."
            ) from e
        try:
            out, err = await asyncio.wait_for(proc.communicate(input), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise JobTuiError(
                f"{self.where}: `{argv[0]}` did not answer within {timeout:g} s; it was stopped."
            ) from None
        returncode = await proc.wait()  # communicate() has waited already: this only reads the status
        return CommandResult(tuple(argv), returncode, out.decode(errors="replace"), err.decode(errors="replace"))


async def run_command(
    argv: list[str],
    runner: CommandRunner | None = None,
    *,
    input: bytes | None = None,
    timeout: float | None = 60.0,
    check: bool = False,
    env: dict[str, str] | None = None,
) -> CommandResult:
    """Run `argv` through `runner` (this machine by default); with `check`, raise on a non-zero exit."""
    if not argv or not all(isinstance(a, str) for a in argv):
        raise TypeError("run_command takes a non-empty list of strings")
    runner = runner or LocalRunner()
    result = await runner.run(argv, input=input, timeout=timeout, env=env)
    if check and not result.ok:
        raise CommandError(result, runner.where)
    return result
