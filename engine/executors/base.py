"""The executor protocol every node kind implements (local, ssh, slurm, sge/pbs)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from engine.accounts import Account
from engine.models import Attempt, Job, Reason


class Liveness(StrEnum):
    RUNNING = "running"
    EXITED = "exited"
    LOST = "lost"
    UNREACHABLE = "unreachable"


@dataclass(slots=True, frozen=True)
class Outcome:
    """How an attempt ended, as far as the executor can tell."""

    exit_code: int | None
    reason: Reason | None = None
    message: str = ""


def no_finished_marker(path: str) -> Outcome:
    """An attempt that exited 0 without leaving its success file, looked for at `path` on its node: failed."""
    where, name = os.path.split(os.path.normpath(path))
    return Outcome(0, Reason.NO_FINISHED_MARKER, f"exited 0 but {name} was not written in {where or '/'}")


@dataclass(slots=True, frozen=True)
class Output:
    """Bytes of an attempt's output stream, and the stream's size in bytes as of that read."""

    data: bytes
    size: int


def read_file(path: str, offset: int, limit: int) -> Output:
    """Up to `limit` bytes of a file on this machine from `offset`, and its size (one fstat); empty if absent."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(offset)
            data = f.read(limit)
    except FileNotFoundError:
        return Output(b"", 0)
    return Output(data, max(size, offset + len(data)) if data else size)  # it may have grown since the fstat


@dataclass(slots=True, frozen=True)
class LaunchSpec:
    job: Job
    attempt: Attempt
    env: dict[str, str]
    workdir: str
    run_as: Account | None = None  # shared mode: the submitter's account, for a job on this machine


class NodeListener(Protocol):
    """What an executor tells the engine about its node (reachability, sampled resources)."""

    def node_changed(self, node: str, reachable: bool, sample: dict | None = None, reason: str = "") -> None:
        """`reason`: why an unreachable node is (the last connection error), where the executor knows."""
        ...

    def attempt_changed(self, attempt: Attempt) -> None:
        """The scheduler's id or state of an attempt changed (cluster executors)."""
        ...


class FileChecker(Protocol):
    """What an executor that can look for files on its node adds (local, ssh and cluster ones do): the check behind
    a job's `wait_for_files` (`core.file_waits`)."""

    file_check_interval: float  # seconds between two looks (0: `missing_files` itself waits for the node's next query)

    async def missing_files(self, paths: Callable[[], Sequence[str]]) -> tuple[Sequence[str], set[str]]:
        """(the paths `paths()` gave when the node's query started, those of them that do not exist there), in one
        batched query; raises when the node cannot tell now."""
        ...


class Executor(Protocol):
    node: str
    queues_jobs: bool  # True where a scheduler may hold the job queued after launch (it sets running_since)

    def run_dir(self, job_id: int, number: int) -> str:
        """Where an attempt's wrapper files live on the node."""
        ...

    async def launch(self, spec: LaunchSpec) -> None:
        """Start the attempt detached; fill in `attempt.pid`/`proc_start` or `external_id`."""
        ...

    async def wait(self, attempt: Attempt) -> Outcome:
        """Return when the attempt has ended (or vanished), with its outcome."""
        ...

    async def probe(self, attempt: Attempt) -> Liveness:
        """After a restart: is the attempt still running, finished, or gone without a trace?"""
        ...

    async def read(self, attempt: Attempt, stream: str, offset: int, limit: int) -> bytes:
        """Up to `limit` bytes of an output stream from `offset`."""
        ...

    async def read_sized(self, attempt: Attempt, stream: str, offset: int, limit: int) -> Output:
        """`read`, with the stream's size as of the read, told in the same operation: a local file's fstat,
        the same round trip on a remote node, or the size its last poll reported for an attempt it watches.
        A reader finds the end of a long log from it (the API's `logs()` answers carry it as `size`)."""
        ...

    async def cancel(self, attempt: Attempt, grace: float) -> None:
        """Stop the attempt's whole process tree: TERM, `grace` seconds, then KILL."""
        ...

    def attach(self, listener: NodeListener) -> None:
        """Remember whom to tell when the node goes down, comes back or is sampled."""
        ...

    def settled(self, attempt: Attempt) -> None:
        """The attempt's end is committed to the store: what the node kept only to tell it may go."""
        ...

    async def close(self) -> None:
        """Release connections; running attempts keep running."""
        ...
