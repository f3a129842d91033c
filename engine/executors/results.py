"""A job's declared `inputs` and `outputs`, checked the same way on every node kind.

Inputs must exist when the attempt launches (an SSH node's are staged up then: `remote.transfer`); outputs are
globs below the working directory that must match something once the job exited 0, or it ends `missing`
(reason `results_missing`) with the list. An SSH node collects its outputs back (`executors.ssh`); on local and
cluster nodes the runner looks for them where the job ran (`Declared`), which needs no record on the node: a
restarted engine's runner has the job. Every node kind words it with `results_missing`.
"""

from __future__ import annotations

import asyncio
import glob
import os
from dataclasses import dataclass
from typing import Protocol

from engine.errors import JobTuiError
from engine.executors.base import Outcome
from engine.executors.file_checks import MISSING_SCRIPT, parse_missing, paths_input
from engine.models import Reason
from engine.remote.commands import CommandRunner, run_command
from engine.remote.transfer import CollectResult, PathEscape, check_relative, within


class InputMissing(JobTuiError):
    title = "Input missing"
    reason = Reason.LAUNCH_ERROR


class ResultFiles(Protocol):
    """Looks at a node's files for the checks below (this machine's, or a cluster's through its runner)."""

    where: str

    async def missing(self, paths: list[str]) -> list[str]:
        """Those of `paths` (absolute) that do not exist."""
        ...

    async def unmatched(self, workdir: str, patterns: tuple[str, ...]) -> CollectResult:
        """Which globs match nothing below `workdir` (or only what leads outside it)."""
        ...


@dataclass(slots=True, frozen=True)
class Declared:
    """An attempt's declared inputs and outputs, where it runs, and how to look there."""

    files: ResultFiles
    workdir: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    async def launch_problem(self) -> JobTuiError | None:
        """Why the attempt may not launch (an input missing, an output glob leaving the working directory)."""
        try:
            check_outputs(list(self.outputs))
        except PathEscape as e:
            return e
        paths = [input_path(p, self.workdir) for p in self.inputs]
        missing = await self.files.missing(paths) if paths else []
        if missing:
            shown = [p for p, full in zip(self.inputs, paths, strict=True) if full in missing]
            return inputs_missing_error(shown, f"on {self.files.where} (looked for in {self.workdir})")
        return None

    async def outcome(self, outcome: Outcome) -> Outcome:
        """An exit 0 whose outputs are not all there ends `missing` with the list; any other outcome stays."""
        if outcome.reason is not None or outcome.exit_code != 0 or not self.outputs:
            return outcome
        result = await self.files.unmatched(self.workdir, check_outputs(list(self.outputs)))
        found = f"; found {len(result.unchanged)} file(s) in {self.workdir}"
        return results_missing(0, result, found) or outcome


class HereFiles:
    """This machine's file system (local nodes, and clusters that share it); each look off the event loop."""

    where = "this machine"

    async def missing(self, paths: list[str]) -> list[str]:
        return await asyncio.to_thread(lambda: [p for p in paths if not os.path.exists(p)])

    async def unmatched(self, workdir: str, patterns: tuple[str, ...]) -> CollectResult:
        return await asyncio.to_thread(unmatched_here, workdir, patterns)


def input_path(path: str, workdir: str) -> str:
    """Where an input is looked for: as given when absolute (or `~`), else below the working directory."""
    expanded = os.path.expanduser(path)
    return expanded if os.path.isabs(expanded) else os.path.join(workdir, expanded)


def inputs_missing_error(missing: list[str], where: str) -> InputMissing:
    listed = ", ".join(repr(p) for p in missing)
    return InputMissing(f"input {listed} does not exist {where}; create it or fix the job's inputs, then requeue it.")


def check_outputs(outputs: list[str]) -> tuple[str, ...]:
    """The output globs, each checked to stay below the working directory (PathEscape otherwise)."""
    return tuple(check_relative(p) for p in outputs)


def unmatched_here(workdir: str, patterns: tuple[str, ...]) -> CollectResult:
    """Which output globs match nothing below `workdir` on this machine (or only what leads outside it)."""
    result = CollectResult()
    root = os.path.realpath(workdir)
    for pattern in patterns:
        matches = glob.glob(os.path.join(root, pattern))
        inside = [m for m in matches if within(root, os.path.realpath(m))]
        if not matches:
            result.missing.append(pattern)
        elif not inside:
            result.refused.append(pattern)
        else:
            result.unchanged += [os.path.relpath(m, root) for m in inside]
    return result


def results_missing(code: int, result: CollectResult, kept: str = "") -> Outcome | None:
    """The outcome of an exit-0 attempt whose outputs are not all there; None when they are (or it failed)."""
    absent = result.absent_text()
    if code != 0 or not absent:
        return None
    return Outcome(code, Reason.RESULTS_MISSING, f"results missing: {absent}{kept}")


# $1 the working directory, then the globs: prints each glob that matches nothing there (IFS empty: a glob is
# expanded, never split). A working directory that is not there matches nothing.
UNMATCHED_SCRIPT = (
    'cd -- "$1" 2>/dev/null || { shift; for p do printf "%s\\n" "$p"; done; exit 0; }; shift; IFS=; '
    'for p do n=; for f in $p; do [ -e "$f" ] && { n=1; break; }; done; [ -n "$n" ] || printf "%s\\n" "$p"; done'
)


class RunnerFiles:
    """A cluster's file system seen through its login node's `CommandRunner`: one command per look."""

    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner
        self.where = runner.where

    async def missing(self, paths: list[str]) -> list[str]:
        result = await run_command(["/bin/sh", "-c", MISSING_SCRIPT], self.runner, input=paths_input(paths))
        if not result.ok:
            raise JobTuiError(f"{self.where}: cannot look for the job's inputs: {result.stderr.strip()[:200]}")
        found = parse_missing(result.stdout, paths)
        return [p for p in paths if p in found]

    async def unmatched(self, workdir: str, patterns: tuple[str, ...]) -> CollectResult:
        argv = ["/bin/sh", "-c", UNMATCHED_SCRIPT, "jobtui-outputs", workdir, *patterns]
        result = await run_command(argv, self.runner)
        if not result.ok:
            raise JobTuiError(f"{self.where}: cannot look for the job's outputs: {result.stderr.strip()[:200]}")
        unmatched = set(result.stdout.split("\n"))
        return CollectResult(missing=[p for p in patterns if p in unmatched])
