"""cgroup v2's "no internal processes" rule, for an engine in a delegated cgroup (a systemd service with
`Delegate=yes`, a user's delegated slice): its own cgroup holds it, so it cannot hand the memory, pids and cpu
controllers down to its jobs' cgroups until it has moved itself into a leaf of that cgroup (never out of it)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace

from engine.containment.mode import ENGINE_LEAF, Mode


def hand_down(mode: Mode) -> Mode:
    """Move this process into `<own cgroup>/jobtui-engine` and enable `mode.controllers` for the own cgroup's
    children; the mode to use: as detected, or without limits (and why) when the kernel refuses."""
    if mode.kind != "cgroup_v2" or not mode.hand_down:
        return mode
    (own,) = mode.parents
    leaf = os.path.join(own, ENGINE_LEAF)
    wanted = " ".join(f"+{c}" for c in sorted(mode.controllers))
    try:
        os.makedirs(leaf, exist_ok=True)
        with open(os.path.join(leaf, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))  # the whole process, its threads too
        with open(os.path.join(own, "cgroup.subtree_control"), "w") as f:
            f.write(wanted)
    except OSError as e:
        with contextlib.suppress(OSError), open(os.path.join(own, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))  # back where it was: the move bought nothing
        why = e.strerror or str(e)
        others = "other processes share the engine's cgroup; " if e.errno == 16 else ""  # EBUSY
        detail = (
            f"cgroup v2 below {own} without controllers: enabling {wanted} for its children failed ({others}{why}): "
            "jobs are contained and killed whole, but no limit is enforced; run the engine in a cgroup of its own "
            "(systemd: a service with Delegate=yes)"
        )
        return replace(mode, controllers=frozenset(), detail=detail, hand_down=False)
    return replace(mode, hand_down=False)
