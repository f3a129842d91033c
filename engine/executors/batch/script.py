"""Renders the batch script a cluster job is submitted as.

The script is the attempt wrapper of DESIGN §5 with the scheduler's directives on top: it writes the
job's output to `stdout`/`stderr` in the attempt's run directory and, at the end, its exit code to
`exit` in one write of a newline-terminated number (`engine.wrapper.parse_exit_file` reads it), followed, for a
job with a success file, by whether the file was there once the command ended (`wrapper.SUCCESS_CHECK`). The
job's argv and environment are quoted as data with `shlex.quote`, never pasted into the shell.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass, field

from engine.executors.wrapper import EXIT_LINE, PID, STDERR, STDOUT, SUCCESS_CHECK

_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_NAME = 64


@dataclass(slots=True, frozen=True)
class ScriptSpec:
    """Everything the script needs, taken from the job, its attempt and the cluster's config."""

    tag: str
    name: str
    run_dir: str
    workdir: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cpus: int = 1
    mem_mb: int = 0
    gpus: int = 0
    time_limit: float | None = None  # seconds
    default_time_limit: str | None = None  # the config's text, passed as the scheduler reads it
    partition: str | None = None
    account: str | None = None
    directives: tuple[str, ...] = ()

    @property
    def job_name(self) -> str:
        """The scheduler job name: the tag first (how a lost submission is found), then the job's name."""
        readable = _NAME_CHARS.sub("_", self.name).strip("_")
        return f"{self.tag}_{readable}"[:MAX_NAME] if readable else self.tag


def sh_path(path: str) -> str:
    """A path quoted for sh; a leading `~/` becomes `"$HOME"/` so it expands on the node."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def minutes(seconds: float) -> int:
    """A time limit in whole minutes, rounded up (Slurm counts minutes)."""
    return max(1, math.ceil(seconds / 60))


def hms(seconds: float) -> str:
    """A time limit as H:MM:SS, rounded up to a whole second (SGE's h_rt)."""
    total = max(1, math.ceil(seconds))
    return f"{total // 3600}:{total // 60 % 60:02d}:{total % 60:02d}"


def check_directive(line: str) -> str:
    """A configured directive must stay one line: a newline would inject shell code."""
    if "\n" in line or "\r" in line:
        raise ValueError(f"cluster directive {line!r} spans lines; write one option per entry")
    return line.strip()


def render_script(spec: ScriptSpec, directive_prefix: str, directives: list[str]) -> str:
    """The whole batch script: shebang, `<prefix> <option>` lines, then the wrapper."""
    lines = ["#!/bin/sh"]
    lines += [f"{directive_prefix} {check_directive(d)}" for d in directives]
    lines.append("# jobtui attempt wrapper: output and exit code go to the run directory")
    lines.append(f"d={sh_path(spec.run_dir)}")
    lines.append(f"w={sh_path(spec.workdir)}")
    lines.append('mkdir -p "$d"')
    lines.append(f'echo "$$" >"$d/{PID}"')
    for key, value in sorted(spec.env.items()):
        if not _ENV_NAME.match(key):
            raise ValueError(f"environment variable name {key!r} is not valid in a shell")
        lines.append(f"{key}={shlex.quote(value)}; export {key}")
    lines.append(f'exec </dev/null >>"$d/{STDOUT}" 2>>"$d/{STDERR}"')
    lines.append(f'if cd "$w"; then w=$PWD; {shlex.join(spec.command)}; rc=$?; else rc=126; fi')
    lines.append((SUCCESS_CHECK + EXIT_LINE).rstrip("\n"))  # with JOBTUI_SUCCESS_FILE: is the file there?
    lines.append('exit "$rc"')
    return "\n".join(lines) + "\n"
