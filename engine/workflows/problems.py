"""The problems found while reading a workflow file, each with its file, line and field, reported all at once.

Refused, with nothing queued, every problem at once in line order (`FILE:LINE: job 'ID': field 'F': what`):
a cycle (its path, `a -> b -> c -> a`), a dependency on an unknown id, an id given twice, a condition naming
a job that is not a parent, an unknown job type, an http job whose URL is not http(s), a missing script
file, a file that mixes this shape with a job list (entries without `id`), and any field that is not valid
for `JobSpec`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import yaml

from engine.errors import ValidationError
from engine.workflows import yamlnodes


class WorkflowError(ValidationError):
    title = "Bad workflow file"


Loc = list[str | int]


class Problems:
    """The reader's state (the document, where it came from, the submitter's environment and branch) and the
    problems it found; `JobReader` and `Reader` build on it."""

    def __init__(
        self,
        root: yaml.Node,
        source: str,
        base_dir: str,
        env: Mapping[str, str],
        branch: str | Callable[[], str | None] | None,
    ) -> None:
        self.root = root
        self.source = source
        self.base_dir = base_dir
        self.env = env
        self._branch = branch
        self._branch_known = not callable(branch)
        self.problems: list[tuple[int, str]] = []  # (line, text)
        self.ids: list[str | None] = []

    # -- reporting

    def problem(self, path: Loc, message: str) -> None:
        line = yamlnodes.line_at(self.root, path)
        where = f"{self.source}:{line}" if line else self.source
        if len(path) >= 2 and path[0] == "jobs" and isinstance(path[1], int):
            known = self.ids[path[1]] if path[1] < len(self.ids) else None
            label = repr(known) if known else f"#{path[1] + 1}"
            rest = ".".join(str(p) for p in path[2:])
            head = f"job {label}" + (f": field {rest!r}" if rest else "")
        else:
            head = f"field {'.'.join(str(p) for p in path)!r}" if path else "workflow"
        self.problems.append((line or 0, f"{where}: {head}: {message}"))

    def fail(self) -> None:
        if self.problems:
            lines = [text for _, text in sorted(self.problems, key=lambda problem: problem[0])]
            raise WorkflowError("\n".join(lines) + "\nNothing was queued; fix these and try again.")
