"""What the CLI writes for people is safe for a terminal; what it writes for programs stays exact.

Job names, tags, messages, reasons, progress text, node names and job output are other people's text, and
may hold terminal controls: ESC sequences that set the window title, write the clipboard (OSC 52), clear
the screen or move the cursor, and bare C0 and C1 controls. Every human-readable write goes through this
module, whether stdout is a terminal or not (piped output reaches one as often: `jobtui logs 3 | tail`):

- `visible(value)`: one field (a table cell, a value of `show`): every control character (C0, DEL, C1),
  newline and tab included, becomes a visible escape (`\\x1b`, `\\n`), so a value stays on its line and a
  table stays a table;
- `say(text)`: a whole message or table: the same, except that newlines and tabs are kept;
- `LogFilter`: job output (`jobtui logs`): ESC sequences (CSI, OSC, DCS, ...) are removed whole, CR LF
  becomes LF and a lone CR starts a new line (so no text can hide the text before it), and any other
  control but LF and TAB becomes a visible escape.

`jobtui logs --raw` writes the output exactly as the engine gives it, and `--json` output is exact
(JSON escapes control characters itself).
"""

from __future__ import annotations

import re
import sys
from typing import Any, TextIO

_ANY_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # keeps \t and \n
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}

# ECMA-48 sequences, as whole units: CSI; OSC, DCS, SOS, PM and APC strings up to BEL or ST; the rest
# (two-character escapes such as ESC c, which resets the terminal, and nF sequences such as ESC ( B).
_SEQUENCE = re.compile(
    "\x1b(?:"
    "\\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"
    "|[\\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\\\|\x9c)"
    "|[\x20-\x2f]+[\x30-\x7e]"
    "|[\x30-\x4f\x51-\x57\x59\x5a\x5c\x60-\x7e]"  # not [ ] P X ^ _: those open the sequences above
    ")"
)
# The start of a sequence cut off by the end of the text so far (the rest comes with the next chunk).
_UNFINISHED = re.compile("\x1b(?:\\[[\x30-\x3f]*[\x20-\x2f]*|[\\]PX^_][^\x07\x1b\x9c]*\x1b?|[\x20-\x2f]*)?\\Z")
_MAX_UNFINISHED = 4096  # longer than this, an unterminated string is not held back: its ESC is shown


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or f"\\x{ord(char):02x}"


def visible(value: Any) -> str:
    """`value` as text for one field: every control character as a visible escape."""
    return _ANY_CONTROL.sub(_escape, str(value))


def printable(text: str) -> str:
    """`text` with its lines and tabs kept and every other control character as a visible escape."""
    return _CONTROL_BUT_LINES.sub(_escape, text)


def say(text: str = "", *, err: bool = False) -> None:
    """Print human-readable `text` (to stderr with `err`), terminal controls made visible."""
    file: TextIO = sys.stderr if err else sys.stdout
    print(printable(text), file=file, flush=err)


def clean_output(text: str) -> str:
    """Job output, whole: see `LogFilter`."""
    log = LogFilter()
    return log.feed(text) + log.flush()


class LogFilter:
    """Job output made safe chunk by chunk; a sequence or CR LF cut between two chunks is seen whole."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, text: str) -> str:
        text, self._held = self._held + text, ""
        unfinished = _UNFINISHED.search(text)
        if unfinished and len(text) - unfinished.start() <= _MAX_UNFINISHED:
            text, self._held = text[: unfinished.start()], text[unfinished.start() :]
        elif text.endswith("\r"):
            text, self._held = text[:-1], "\r"
        return self._clean(text)

    def flush(self) -> str:
        """The end of the output: a held CR ends a line, a sequence never finished is dropped."""
        held, self._held = self._held, ""
        return "\n" if held == "\r" else ""

    @staticmethod
    def _clean(text: str) -> str:
        text = _SEQUENCE.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
        return _CONTROL_BUT_LINES.sub(_escape, text)
