"""What the terminal the CLI writes to allows: its width, and whether colour is wanted.

Tables are fitted to the width only where a person reads them: stdout is a terminal, or `$COLUMNS` says
how wide (piped output stays whole, for grep and awk). Colour only on a terminal, never with `NO_COLOR`
set to anything (https://no-color.org) or `TERM=dumb`.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import TextIO

STATUS_COLOURS = {
    "completed": "32",  # green
    "running": "36",  # cyan
    "starting": "36",
    "waiting": "33",  # yellow
    "blocked": "35",  # magenta
    "failed": "31",  # red
    "missing": "31",
    "rejected": "31",
    "cancelled": "2",  # dim
    "skipped": "2",
    "ok": "32",
    "warn": "33",
    "fail": "31",
    "skip": "2",
}


def table_width(stream: TextIO | None = None) -> int | None:
    """The width to fit a table to, or None to leave it whole (output to a pipe or a file)."""
    stream = stream or sys.stdout
    if os.environ.get("COLUMNS", "").isdigit():
        return max(20, int(os.environ["COLUMNS"]))
    if not _is_terminal(stream):
        return None
    return max(20, shutil.get_terminal_size().columns)


def colour_wanted(stream: TextIO | None = None) -> bool:
    """Colour on `stream` (stdout by default): a terminal, no `NO_COLOR`, and a terminal that shows colour."""
    if "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb":
        return False
    return _is_terminal(stream or sys.stdout)


def paint(text: str, word: str, on: bool) -> str:
    """`text` in the colour of `word` (a status, a check's result) when `on`; as it is otherwise."""
    code = STATUS_COLOURS.get(word)
    return f"\x1b[{code}m{text}\x1b[0m" if on and code else text


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or not a real file
        return False
