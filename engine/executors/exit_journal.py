"""The exit journal: where local wrappers record their jobs' exit codes, one line each, in shared files.

A wrapper appends `NAME CODE` (NAME its run directory's name, `JOB.NUMBER`) to the journal file it was given, in
one `write` to a file opened for appending, then exits with the code: the engine learns the code from the exit
status (the spawner reaps the wrapper) and reads the journal only where it could not: after a restart, or when
the spawner died. The journal is what lets a job end while no engine runs and its code still be known, as a
per-attempt exit file did, without making a file (an inode) for every job.

Lines are read whole: one cut short by a crash reads as absent, and its attempt as lost, never as a wrong code.

Files are `exits/GENERATION` in the runs directory, each made before its first launch (so a restarted engine finds
it, and the number taken, while its wrappers have written nothing yet). Launches go to the current generation until
it has had `ROTATE` of them, then to the next. A generation's file is removed once every attempt launched into it is
*settled*: its end committed to the store (the engine says so, `settled`). Files that were there when this
engine started belong to attempts it re-attached: they are removed once every one of those settled. The engine
re-attaches (`adopt`) every active attempt before it launches any, so by the first launch the set is complete.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

DIRECTORY = "exits"  # in the runs directory
ROTATE = 1024  # launches a generation's file takes before the next one starts
READ_LIMIT = 16 << 20  # a journal file holds ROTATE short lines; anything far larger is not ours to read whole


def record_name(run_dir: str) -> str:
    """The name an attempt's line carries: its run directory's (the wrapper's `${d##*/}`)."""
    return os.path.basename(run_dir)


class ExitJournal:
    """The exit journal of one runs directory: which file a launch is given, lookups, and removal of files no
    unsettled attempt needs."""

    def __init__(self, runs: Path) -> None:
        self.directory = runs / DIRECTORY
        found = sorted(_generations(self.directory))
        self._inherited = {self._path(g) for g in found}  # written by wrappers an earlier engine started
        self._adopted: set[str] = set()  # re-attached attempts not yet settled
        self._launched_any = False
        self._current = (found[-1] + 1) if found else 1
        self._taken = 0  # launches given the current generation
        self._writers: dict[int, set[str]] = {}  # generation: the names of its unsettled attempts
        self._generation_of: dict[str, int] = {}
        self._codes: dict[str, int] = {}  # lines read so far, by name
        self._read_to: dict[str, int] = {}  # how far each file has been read (whole lines only)
        self._names_in: dict[str, list[str]] = {}  # the names of the lines read from each file

    def _path(self, generation: int) -> str:
        return str(self.directory / str(generation))

    def enter(self, run_dir: str) -> str:
        """The journal file for an attempt about to launch (its wrapper's `$4`)."""
        if not self._launched_any:
            self._launched_any = True
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._drop_inherited()
            self._start(self._current)
        if self._taken >= ROTATE:
            done = self._current
            self._current += 1
            self._taken = 0
            self._start(self._current)
            if not self._writers.get(done):
                self._remove(done)
        self._taken += 1
        name = record_name(run_dir)
        self._writers.setdefault(self._current, set()).add(name)
        self._generation_of[name] = self._current
        return self._path(self._current)

    def _start(self, generation: int) -> None:
        """Make the generation's file before any wrapper is given it: an engine that starts while those wrappers
        run finds it, reads their lines there and never hands its number out again."""
        os.close(os.open(self._path(generation), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))

    def adopt(self, run_dir: str) -> None:
        """A re-attached attempt: it may write to (or have written to) a file an earlier engine gave it."""
        self._adopted.add(record_name(run_dir))

    def settled(self, run_dir: str) -> None:
        """The attempt's end is committed: its line is needed no more; remove the files nobody needs now."""
        name = record_name(run_dir)
        self._codes.pop(name, None)
        if self._adopted:
            self._adopted.discard(name)
            self._drop_inherited()
        generation = self._generation_of.pop(name, None)
        if generation is None:
            return
        writers = self._writers.get(generation)
        if writers is not None:
            writers.discard(name)
            if not writers and generation != self._current:
                self._remove(generation)

    def code(self, run_dir: str) -> int | None:
        """The exit code recorded for the attempt, or None if there is no whole line for it (yet)."""
        name = record_name(run_dir)
        if name not in self._codes:
            for path in self._files():
                self._read_new(path)
        return self._codes.get(name)

    def _files(self) -> list[str]:
        return [*self._inherited, *(self._path(g) for g in self._writers)]

    def _read_new(self, path: str) -> None:
        """Read the file's new whole lines (their codes are kept until the file is removed)."""
        start = self._read_to.get(path, 0)
        try:
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read(READ_LIMIT)
        except FileNotFoundError:
            return
        whole = data.rfind(b"\n") + 1
        self._read_to[path] = start + whole
        names = self._names_in.setdefault(path, [])
        for line in data[:whole].splitlines():
            name, _, code = line.rpartition(b" ")
            try:
                self._codes[name.decode()] = int(code)
            except (ValueError, UnicodeDecodeError):
                continue  # a line torn by a crash (the next one appended to it): its attempt reads as lost
            names.append(name.decode())

    def _drop_inherited(self) -> None:
        if self._adopted or not self._launched_any:
            return
        for path in self._inherited:
            self._unlink(path)
        self._inherited.clear()

    def _remove(self, generation: int) -> None:
        self._writers.pop(generation, None)
        self._unlink(self._path(generation))

    def _unlink(self, path: str) -> None:
        self._read_to.pop(path, None)
        for name in self._names_in.pop(path, ()):
            self._codes.pop(name, None)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass  # no attempt of it ended with a line (all cancelled or lost)
        except OSError as e:
            log.warning("%s: could not remove this exit journal (%s); it is left in place", path, e.strerror)


def _generations(directory: Path) -> list[int]:
    try:
        return [int(p.name) for p in directory.iterdir() if p.name.isdigit()]
    except FileNotFoundError:
        return []
