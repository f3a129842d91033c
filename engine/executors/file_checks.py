"""Which of a set of files exist on a node, asked in one go: the check behind a job's `wait_for_files`.

On this machine each path is one `stat`. On a remote node the paths go on the standard input of one small shell
loop (never on its command line, so any number of them fits, and none is read by a shell as code), which prints
back those that are missing, one a line: an SSH node runs it alone, a cluster appends it to its queue listing
(`batch.executor`), so no poll interval costs more than the one query it already made. A path is absolute or
starts with `~/` (the node's home); waited-for paths never hold a line break (`service.jobspec`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

# Reads paths, one a line, from stdin; prints each that does not exist (as it was given).
MISSING_SCRIPT = (
    'while IFS= read -r p; do f=$p; case $f in "~/"*) f="$HOME/${f#"~/"}";; esac; '
    '[ -e "$f" ] || printf "%s\\n" "$p"; done'
)
SEPARATOR = "--jobtui-missing-files--"  # between a queue listing's output and the missing files' lines


def paths_input(paths: Iterable[str]) -> bytes:
    """The standard input of MISSING_SCRIPT for `paths`."""
    return "".join(f"{path}\n" for path in paths).encode()


def parse_missing(text: str, paths: Iterable[str]) -> set[str]:
    """The lines MISSING_SCRIPT printed, as the subset of `paths` they name."""
    asked = set(paths)
    return {line for line in text.split("\n") if line in asked}


def missing_here(paths: Iterable[str]) -> set[str]:
    """Those of `paths` that do not exist on this machine (`~/` is this user's home)."""
    return {path for path in paths if not os.path.exists(os.path.expanduser(path))}
