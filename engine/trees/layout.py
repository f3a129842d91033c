"""A job tree on disk: its directories, each `qsub.{id}` script and the files its `qsub.dependency.{id}` lists.

The layout (the jobauto seed): the tree's root holds one level of material directories (and may hold scripts
itself, as the directory `.`); each directory holds scripts `qsub.{id}` and, for each, `qsub.dependency.{id}`:
one file name a line, every one of which must exist before `qsub.{id}` starts (empty: ready at once). A script
writes `qsub.finished.{id}` when it ends normally. A listed `qsub.finished.{k}` of the same directory is an
edge to job k of that directory; any other listed file (a path below the directory: no `..`, not absolute) is
waited for on the node (the job's `wait_for_files`).

`scan` reads and checks the whole tree before anything is copied or submitted: every problem is an
`engine.errors.ValidationError` naming the file (and line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import ValidationError

ROOT = "."  # the name of the tree's root when it holds scripts itself
SCRIPT = "qsub."
DEPENDENCY = "qsub.dependency."
FINISHED = "qsub.finished."
ID = re.compile(r"[A-Za-z0-9_.-]+")
_DIRECTORY = re.compile(r"[A-Za-z0-9_.,+@%=:~-]+")
_RESERVED = (DEPENDENCY, FINISHED)


@dataclass(frozen=True, slots=True)
class TreeJob:
    """One `qsub.{id}` of a directory, with the ids of the jobs of that directory it waits for and the other files
    it waits for (relative to the directory)."""

    directory: str
    id: str
    after: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    @property
    def script(self) -> str:
        return f"{SCRIPT}{self.id}"

    @property
    def marker(self) -> str:
        return f"{FINISHED}{self.id}"

    @property
    def key(self) -> str:
        return f"{self.directory}/{self.id}"

    @property
    def name(self) -> str:
        return f"{self.directory}/{self.script}"


@dataclass(slots=True)
class Tree:
    root: Path
    jobs: list[TreeJob] = field(default_factory=list)  # in tree order: directory, then id
    warnings: list[str] = field(default_factory=list)

    @property
    def directories(self) -> list[str]:
        return list(dict.fromkeys(job.directory for job in self.jobs))

    def path(self, job: TreeJob) -> Path:
        return self.root if job.directory == ROOT else self.root / job.directory


def id_order(job_id: str) -> tuple[int, int, str]:
    """Numeric ids numerically, before names (which sort as text)."""
    return (0, int(job_id), "") if job_id.isascii() and job_id.isdigit() else (1, 0, job_id)


def check_id(job_id: str, where: str) -> str:
    if not ID.fullmatch(job_id) or job_id in (".", ".."):
        raise ValidationError(
            f"{where}: {job_id!r} is not a job id; a qsub.{{id}} id is a number or a name of letters, digits, "
            "'_', '.' and '-'. Rename the file."
        )
    return job_id


def scan(root: Path) -> Tree:
    """The tree at `root`, checked: every script, its dependencies, in tree order; or the first problem."""
    if not root.is_dir():
        raise ValidationError(f"{root}: not a directory; give the tree's top directory (the seed's init/).")
    tree = Tree(root)
    places = [(ROOT, root)] if _scripts(root) else []
    for sub in sorted(root.iterdir(), key=lambda p: p.name):
        if sub.is_dir() and not sub.name.startswith(".") and _scripts(sub):
            if not _DIRECTORY.fullmatch(sub.name):
                raise ValidationError(
                    f"{sub}: a material directory's name may hold letters, digits and _ . , + @ % = : ~ - only; "
                    "rename it."
                )
            places.append((sub.name, sub))
    if not places:
        raise ValidationError(f"{root}: no qsub.{{id}} scripts here or in its directories; nothing to run.")
    for name, path in places:
        tree.jobs += _directory(tree, name, path)
    return tree


def _scripts(path: Path) -> list[str]:
    return [p.name for p in path.iterdir() if p.name.startswith(SCRIPT) and not p.name.startswith(_RESERVED)]


def _directory(tree: Tree, name: str, path: Path) -> list[TreeJob]:
    ids = sorted((check_id(s[len(SCRIPT) :], str(path / s)) for s in _scripts(path)), key=id_order)
    for script in ids:
        if not (path / f"{SCRIPT}{script}").is_file():
            raise ValidationError(f"{path / (SCRIPT + script)}: not a regular file; a qsub.{{id}} is a script.")
    known = set(ids)
    for stray in sorted(p.name for p in path.iterdir() if p.name.startswith(DEPENDENCY)):
        if stray[len(DEPENDENCY) :] not in known:
            tree.warnings.append(f"{path / stray}: no {SCRIPT}{stray[len(DEPENDENCY) :]} beside it; ignored.")
    jobs = [TreeJob(name, job_id, *read_dependencies(path / f"{DEPENDENCY}{job_id}", job_id, known)) for job_id in ids]
    _check_acyclic(path, jobs)
    return jobs


def read_dependencies(file: Path, job_id: str, known: set[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What `file` (a `qsub.dependency.{id}`) makes job `job_id` wait for: (the ids of jobs of its directory, the
    other files, relative to the directory)."""
    try:
        data = file.read_bytes()
    except FileNotFoundError as e:
        raise ValidationError(
            f"{file}: missing; every qsub.{job_id} needs its dependency file (empty when it may start at once)."
        ) from e
    except OSError as e:
        raise ValidationError(f"{file}: cannot read it ({e.strerror or e}).") from e
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValidationError(f"{file}: not UTF-8 text; write one file name a line.") from e
    after: list[str] = []
    files: list[str] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        parent = dependency(line, f"{file}:{number}")
        if not parent.startswith(FINISHED):
            if parent not in files:
                files.append(parent)
            continue
        parent = parent[len(FINISHED) :]
        if parent == job_id:
            raise ValidationError(f"{file}:{number}: qsub.{job_id} waits for its own marker {line}; remove the line.")
        if parent not in known:
            raise ValidationError(
                f"{file}:{number}: {line} is the marker of qsub.{parent}, which this directory does not have."
            )
        if parent not in after:
            after.append(parent)
    return tuple(after), tuple(files)


def dependency(line: str, where: str) -> str:
    """A dependency line, checked: `qsub.finished.{k}` (its id checked), or another file's path below the
    directory, normalised (`./a//b` -> `a/b`); a path outside the directory or a control character is refused with
    `where` (file:line)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in line):
        raise ValidationError(f"{where}: {line!r} holds a control character (NUL, CR, tab...); write one file name.")
    if line.startswith(("/", "~")):
        raise ValidationError(f"{where}: {line!r} is an absolute path; name a file of this directory.")
    parts = [part for part in line.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ValidationError(f"{where}: {line!r} leaves this directory ('..'); name a file of this directory.")
    if not parts:
        raise ValidationError(f"{where}: {line!r} names no file; name a file of this directory.")
    path = "/".join(parts)
    if len(parts) == 1 and path.startswith(FINISHED):
        return FINISHED + check_id(path[len(FINISHED) :], where)
    return path


def _check_acyclic(path: Path, jobs: list[TreeJob]) -> None:
    after = {job.id: job.after for job in jobs}
    done: set[str] = set()

    def visit(job_id: str, trail: list[str]) -> None:
        if job_id in done:
            return
        if job_id in trail:
            cycle = " -> ".join(f"qsub.{j}" for j in [*trail[trail.index(job_id) :], job_id])
            raise ValidationError(f"{path}: dependency cycle {cycle}; remove one of these lines.")
        for parent in after[job_id]:
            visit(parent, [*trail, job_id])
        done.add(job_id)

    for job in jobs:
        visit(job.id, [])
