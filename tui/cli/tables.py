"""Tables for people on stdout: fitted to the terminal's width and coloured where the terminal wants it.

Every cell went through `sanitize.visible` (`output.table`), so the only controls written are the colours
added here, and only on a terminal without `NO_COLOR` (`tui.cli.terminal`).
"""

from __future__ import annotations

import sys
from typing import Any

from tui.cli.output import table
from tui.cli.terminal import colour_wanted, table_width


def print_table(records: list[dict[str, Any]], fields: list[str]) -> None:
    """`records` as a table of `fields` (dot paths, as `list -o` takes them) on stdout."""
    print(table(records, fields, table_width(sys.stdout), colour_wanted(sys.stdout)))


def print_ids(records: list[dict[str, Any]]) -> None:
    """`--quiet`: the ids of `records`, one a line, for scripts (`jobtui list -q -s failed | xargs ...`)."""
    for record in records:
        print(record["id"])
