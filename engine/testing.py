"""Fakes shipped for tests of code built on the engine: a clock, a command runner and an executor.

They stand in for our own seams only; the tests that prove the real thing (processes, sshd, Slurm)
use the real parts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from engine.executors.base import LaunchSpec, Liveness, Outcome, Output
from engine.models import Attempt
from engine.remote.commands import CommandResult


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 0.0

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._mono += seconds


class FakeRunner:
    """A CommandRunner answering from a function of argv; records every call."""

    where = "fake host"

    def __init__(self, answer: Callable[[list[str]], CommandResult | tuple[int, str, str]]) -> None:
        self.answer = answer
        self.calls: list[list[str]] = []
        self.inputs: list[bytes | None] = []  # what each call got on stdin (a batch script, for qsub)

    async def run(self, argv, *, input=None, timeout=None, env=None) -> CommandResult:
        self.calls.append(list(argv))
        self.inputs.append(input)
        result = self.answer(list(argv))
        if isinstance(result, tuple):
            code, out, err = result
            result = CommandResult(tuple(argv), code, out, err)
        return result


class FakeExecutor:
    """Runs nothing: each launched attempt ends when the test calls `finish(job_id, outcome)`."""

    queues_jobs = False

    def __init__(self, node: str = "local") -> None:
        self.node = node
        self.launched: list[int] = []
        self.cancelled: list[int] = []
        self.output: dict[int, bytes] = {}
        self._ends: dict[int, asyncio.Future[Outcome]] = {}

    def run_dir(self, job_id: int, number: int) -> str:
        return f"/fake/{job_id}/{number}"

    def settled(self, attempt: Attempt) -> None:
        return None  # nothing is kept for an attempt outside its own files

    def attach(self, listener: object) -> None:
        return None

    async def launch(self, spec: LaunchSpec) -> None:
        spec.attempt.pid = 100_000 + spec.job.id
        self.launched.append(spec.job.id)
        self._ends[spec.job.id] = asyncio.get_running_loop().create_future()

    def finish(self, job_id: int, outcome: Outcome) -> None:
        self._ends[job_id].set_result(outcome)

    async def wait(self, attempt: Attempt) -> Outcome:
        return await self._ends[attempt.job_id]

    async def probe(self, attempt: Attempt) -> Liveness:
        end = self._ends.get(attempt.job_id)
        if end is None:
            return Liveness.LOST
        return Liveness.EXITED if end.done() else Liveness.RUNNING

    async def read(self, attempt: Attempt, stream: str, offset: int, limit: int) -> bytes:
        data = self.output.get(attempt.job_id, b"") if stream == "stdout" else b""
        return data[offset : offset + limit]

    async def read_sized(self, attempt: Attempt, stream: str, offset: int, limit: int) -> Output:
        data = self.output.get(attempt.job_id, b"") if stream == "stdout" else b""
        return Output(data[offset : offset + limit], len(data))

    async def cancel(self, attempt: Attempt, grace: float) -> None:
        self.cancelled.append(attempt.job_id)
        end = self._ends.get(attempt.job_id)
        if end is not None and not end.done():
            end.set_result(Outcome(None))

    async def close(self) -> None:
        return None
