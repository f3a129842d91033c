"""The fallback without cgroups: every process of an attempt inherits a marker in its environment
(`JOBTUI_ATTEMPT_MARK=<its launch token>`), so its descendants are found in `/proc` whatever session or
process group they moved to. A process that rewrites its own environment and execs escapes it; cgroups do not
have that gap. Only the processes this engine's user may read are seen (all, as root)."""

from __future__ import annotations

import contextlib
import os

MARK_ENV = "JOBTUI_ATTEMPT_MARK"


def marked(mark: str, proc: str = "/proc") -> set[int]:
    """The processes whose environment carries the marker `mark` (zombies have no environment left)."""
    needle = f"{MARK_ENV}={mark}\0".encode()
    me = os.getpid()
    found: set[int] = set()
    for name in os.listdir(proc):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"{proc}/{name}/environ", "rb") as f:
                env = b"\0" + f.read()
        except OSError:
            continue
        if b"\0" + needle in env:
            found.add(int(name))
    return found


def signal_marked(mark: str, sig: int) -> set[int]:
    """Send `sig` to every process carrying `mark`; the pids it was sent to."""
    pids = marked(mark)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    return pids
