"""Pure progress parsers: job output lines -> `Progress`.

Each pattern has a literal marker checked before its regex runs (digit-led regexes are slow on every
line). Output is split on both `\\n` and `\\r`, since tqdm redraws its bar with carriage returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.models import Progress

# Counts are at most 18 digits (they fit a 64-bit integer and JSON): a longer number is not progress.
_TQDM = re.compile(rb"(\d{1,3})%\|[^|]*\|\s*(\d{1,18})/(\d{1,18})(?!\d)")
_STEP = re.compile(rb"\b(Step|Increment)\s+(\d{1,18})\s+of\s+(\d{1,18})(?!\d)", re.IGNORECASE)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
MAX_COUNT_DIGITS = 18
_PERCENT = re.compile(rb"(\d{1,3}(?:\.\d+)?)\s*%")


@dataclass(frozen=True, slots=True)
class Pattern:
    """A user-defined pattern: groups `percent`, or `step` and `total`."""

    marker: bytes
    regex: re.Pattern[bytes]


def parse_line(line: bytes, custom: tuple[Pattern, ...] = ()) -> Progress | None:
    """The progress a single output line reports, or None."""
    for pattern in custom:
        if pattern.marker in line and (m := pattern.regex.search(line)) and (found := _from_groups(m, line)):
            return found
    if b"%|" in line and (m := _TQDM.search(line)):
        step, total = int(m[2]), int(m[3])
        return Progress(percent=float(m[1]), step=step, total=total, text=_text(line))
    if b"of" in line and _names_a_step(line) and (m := _STEP.search(line)):
        step, total = int(m[2]), int(m[3])
        percent = 100.0 * step / total if total else None
        return Progress(percent=percent, step=step, total=total, text=f"{m[1].decode().title()} {step} of {total}")
    if b"%" in line and (m := _PERCENT.search(line)):
        value = float(m[1])
        if value <= 100:
            return Progress(percent=value, text=_text(line))
    return None


_STEP_WORDS = (b"tep", b"ncrement", b"TEP", b"NCREMENT")


def _names_a_step(line: bytes) -> bool:
    """Cheap pre-check for `Step/Increment i of n` (in lower, title or upper case): prose has `of` everywhere."""
    return any(word in line for word in _STEP_WORDS)


def _from_groups(m: re.Match[bytes], line: bytes) -> Progress | None:
    groups = m.groupdict()
    try:
        percent = float(groups["percent"]) if groups.get("percent") else None
    except ValueError:
        return None
    step, total = _count(groups.get("step")), _count(groups.get("total"))
    if percent is not None and not 0.0 <= percent <= 100.0:  # also NaN and infinities
        return None
    if percent is None and step is not None and total:
        percent = 100.0 * step / total
    return Progress(percent=percent, step=step, total=total, text=_text(line))


def _count(digits: bytes | None) -> int | None:
    """A step or total a pattern captured; None when absent or not a count that fits (never an error)."""
    if not digits or len(digits) > MAX_COUNT_DIGITS or not digits.isdigit():
        return None
    return int(digits)


def _text(line: bytes) -> str:
    """The line as progress text: at most 120 characters, control characters (ESC included) dropped."""
    return _CONTROL.sub("", line.strip().decode("utf-8", "replace"))[:120]


def with_eta(progress: Progress, started_at: float | None, now: float) -> Progress:
    """Fill in the ETA by linear extrapolation from the start of the attempt."""
    if started_at is not None and progress.percent and 0 < progress.percent < 100:
        elapsed = max(0.0, now - started_at)
        progress.eta_seconds = elapsed * (100.0 - progress.percent) / progress.percent
    elif progress.percent == 100:
        progress.eta_seconds = 0.0
    progress.updated_at = now
    return progress


class LineSplitter:
    """Turns output chunks into complete lines, split on `\\n` or `\\r`; keeps the partial tail."""

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        data = self._tail + chunk
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = data.split(b"\n")
        self._tail = lines.pop()
        if len(self._tail) > 65536:  # a line with no end: parse what there is
            lines.append(self._tail)
            self._tail = b""
        return lines


DENSE = 32  # lines with a marker but no progress, looked at one by one before the rest of a chunk is split
WINDOW = 1 << 16  # bytes of a chunk searched for markers at a time, from its end


class LastProgress:
    """The latest progress in an output stream, chunk by chunk: what `LineSplitter` + `last_progress` find, but
    without splitting the chunk. Only lines holding a parser's marker (`%`, `step`, a pattern's own) are parsed,
    latest first, found with `rfind` from the end; so plain output costs a few C scans of the chunk, and a chunk
    whose last lines report progress costs a few lines' work however long it is. Keeps the partial tail."""

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes, custom: tuple[Pattern, ...] = ()) -> Progress | None:
        data = self._tail + chunk if self._tail else chunk
        end = max(data.rfind(b"\n"), data.rfind(b"\r"))  # the separator after the last complete line
        self._tail = data[end + 1 :]
        if len(self._tail) > 65536:  # a line with no end: parse what there is
            found = parse_line(self._tail, custom)
            self._tail = b""
            if found is not None:
                return found
        if end < 0:
            return None
        markers = [b"%", *_STEP_WORDS, *(p.marker for p in custom)]  # a line `parse_line` may match holds one
        if b"" in markers:  # a pattern that matches any line: every line is a candidate
            return last_progress(data[:end].replace(b"\r", b"\n").split(b"\n"), custom)
        longest = max(len(m) for m in markers)
        lo = max(0, end - WINDOW)  # markers are looked for window by window from the end: a hit costs little
        last = [data.rfind(m, lo, end) for m in markers]  # each marker's latest place in the window, moving back
        cr = last_cr = data.rfind(b"\r", 0, end)
        limit = end  # the separator ending the line the latest candidate is in
        for _ in range(DENSE):
            hit = max(last)
            while hit < 0:  # none left in this window: the one before it (overlapping by a marker's length)
                if lo == 0:
                    return None
                hi = min(limit, lo + longest - 1)
                lo = max(0, lo - WINDOW)
                last = [data.rfind(m, lo, hi) for m in markers]
                hit = max(last)
            if cr >= hit:
                cr = data.rfind(b"\r", 0, hit)
            start = max(data.rfind(b"\n", 0, hit), cr) + 1
            stop = data.find(b"\n", hit, limit)
            stop = limit if stop < 0 else stop
            if last_cr > hit and (r := data.find(b"\r", hit, stop)) >= 0:
                stop = r
            found = parse_line(data[start:stop], custom)
            if found is not None:
                return found
            limit = start - 1
            if limit < 0:  # that was the chunk's first line
                return None
            last = [
                data.rfind(m, lo, max(lo, limit)) if at >= start else at for m, at in zip(markers, last, strict=True)
            ]
        # Markers on most lines (`of` in prose): splitting the rest at once is cheaper than looking line by line.
        return last_progress(data[: max(0, limit)].replace(b"\r", b"\n").split(b"\n"), custom) if limit > 0 else None


def last_progress(chunk_lines: list[bytes], custom: tuple[Pattern, ...] = ()) -> Progress | None:
    """The latest progress among lines; scans from the end so a flood of output costs little."""
    for line in reversed(chunk_lines):
        if (found := parse_line(line, custom)) is not None:
            return found
    return None


def compile_patterns(specs: list[tuple[str, str]]) -> tuple[Pattern, ...]:
    """(marker, regex) pairs from the config -> patterns."""
    return tuple(Pattern(marker.encode(), re.compile(regex.encode())) for marker, regex in specs)
