"""Which containment this engine may use here: cgroup v2, the v1 hierarchies, or the /proc marker fallback.

The engine may create cgroups where it can write its own cgroup's directory and `cgroup.procs` (root, or a
cgroup delegated to its user, e.g. a systemd user service with `Delegate=yes`); it creates them only below that
cgroup, so it never moves a process out of the tree it was started in. Detection only reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from engine.containment.hierarchy import Hierarchy, hierarchies

Kind = Literal["cgroup_v2", "cgroup_v1", "proc"]
Preference = Literal["auto", "cgroup_v2", "cgroup_v1", "proc"]

V1_CONTROLLERS = ("memory", "pids", "freezer", "cpu", "cpuacct")  # the v1 hierarchies an attempt may join
# v1: the hierarchies every attempt joins (CPU time: cpuacct; peak memory and OOM: memory); those of cpu and pids
# only when its job has that limit, and the freezer's only when it is killed (`AttemptGroup.kill`): a v1 cgroup made,
# joined and removed costs ≈ 0.15 ms of a launch here.
V1_ALWAYS = frozenset({"memory", "cpuacct"})
V2_CONTROLLERS = ("memory", "pids", "cpu")
_UNSAFE = set("\n")  # the wrapper reads the cgroup paths it joins one a line


@dataclass(frozen=True, slots=True)
class Mode:
    """The containment in use and, for cgroups, the engine's own cgroup directories they are made below."""

    kind: Kind
    parents: tuple[str, ...] = ()  # one per hierarchy (v2: one)
    controllers: frozenset[str] = frozenset()  # those whose limits an attempt's cgroup gets
    detail: str = ""
    hand_down: bool = False  # v2: the engine moves itself into a leaf of its cgroup to hand `controllers` down
    bound: tuple[frozenset[str], ...] = ()  # v1: the controllers of each of `parents`

    @property
    def uses_cgroups(self) -> bool:
        return self.kind != "proc"

    def freezer_parent(self) -> str | None:
        """v1: the engine's own cgroup in the freezer hierarchy (a killed attempt's freezer is made below it)."""
        if self.kind != "cgroup_v1":
            return None
        return next((p for p, bound in zip(self.parents, self.bound, strict=False) if "freezer" in bound), None)

    def parents_for(self, limits: frozenset[str]) -> tuple[str, ...]:
        """The hierarchies an attempt whose job limits `limits` (controllers) joins: v2 its one; v1 those of
        V1_ALWAYS and of its limits (all of them where that would leave none)."""
        if self.kind != "cgroup_v1" or len(self.bound) != len(self.parents):
            return self.parents
        wanted = V1_ALWAYS | limits
        chosen = tuple(p for p, bound in zip(self.parents, self.bound, strict=True) if bound & wanted)
        return chosen or self.parents


def detect(prefer: Preference = "auto", found: list[Hierarchy] | None = None) -> Mode:
    """The best containment available (or the one preferred, when it is available), with why in `detail`."""
    found = hierarchies() if found is None else found
    found = [_above_leaf(h) for h in found]
    v2 = next((h for h in found if h.version == 2 and _delegated(h.own)), None)
    v1 = [h for h in found if h.version == 1 and h.controllers & set(V1_CONTROLLERS) and _delegated(h.own)]
    v2_mode = _v2(v2) if v2 is not None else None
    v1_mode = _v1(v1) if v1 else None
    why_not = _why_not(found)
    if prefer == "proc":
        return _proc("chosen in the config (containment.mode: proc)")
    if prefer == "cgroup_v2":
        return v2_mode or _proc(f"cgroup v2 was asked for but {why_not}")
    if prefer == "cgroup_v1":
        return v1_mode or _proc(f"cgroup v1 was asked for but {why_not}")
    if v2_mode is not None and "memory" in v2_mode.controllers:
        return v2_mode
    if v1_mode is not None and "memory" in v1_mode.controllers:
        return v1_mode
    return v2_mode or v1_mode or _proc(why_not)


def _above_leaf(h: Hierarchy) -> Hierarchy:
    """An engine that moved into its leaf (`hand_down`) makes its jobs' cgroups beside it, in the cgroup above."""
    if h.version == 2 and os.path.basename(h.own) == ENGINE_LEAF:
        return Hierarchy(h.version, h.mount, h.controllers, os.path.dirname(h.own))
    return h


def _delegated(path: str) -> bool:
    """May this process create cgroups below `path` and move its children into them?"""
    if _UNSAFE & set(path):
        return False
    return os.access(path, os.W_OK | os.X_OK) and os.access(os.path.join(path, "cgroup.procs"), os.W_OK)


ENGINE_LEAF = "jobtui-engine"  # v2: the leaf of its own cgroup an engine moves into (see `engine_leaf`)


def _v2(h: Hierarchy) -> Mode:
    enabled = set(_words(os.path.join(h.own, "cgroup.subtree_control")))
    delegated = set(_words(os.path.join(h.own, "cgroup.controllers")))
    hand_down = False
    if h.own == h.mount:  # the root cgroup may hand its controllers down though it holds processes
        enabled |= delegated
    elif not set(V2_CONTROLLERS) & enabled and set(V2_CONTROLLERS) & delegated:
        # A cgroup that holds processes cannot hand controllers down (v2's "no internal processes"): the engine
        # moves itself into a leaf of its own cgroup first, as a service with Delegate=yes is meant to.
        enabled, hand_down = delegated, True
    usable = frozenset(c for c in V2_CONTROLLERS if c in enabled)
    detail = f"cgroup v2 below {h.own}"
    if hand_down:
        detail += f" (the engine moves itself into {ENGINE_LEAF}, a leaf of its own cgroup, to hand them down)"
    if usable:
        detail += f", limits: {', '.join(sorted(usable))}"
    else:
        detail += (
            " without controllers (none of memory, pids, cpu is enabled for its children): jobs are contained and "
            "killed whole, but no limit is enforced; delegate them to jobtui's service (systemd: Delegate=yes)"
        )
    return Mode("cgroup_v2", (h.own,), usable, detail, hand_down)


def _v1(found: list[Hierarchy]) -> Mode:
    controllers = frozenset(c for h in found for c in h.controllers if c in V1_CONTROLLERS)
    parents = tuple(h.own for h in found)
    places = ", ".join(h.own for h in found)
    detail = f"cgroup v1 ({', '.join(sorted(controllers))}) below the engine's own cgroups ({places})"
    return Mode("cgroup_v1", parents, controllers, detail, bound=tuple(h.controllers for h in found))


def _proc(why: str) -> Mode:
    return Mode(
        "proc",
        detail=f"no cgroups ({why}): each job's processes carry a marker in their environment and are found in "
        "/proc to be killed on cancel and timeout; memory is not enforced unless containment.memory_rlimit is set",
    )


def _why_not(found: list[Hierarchy]) -> str:
    if not found:
        return "no cgroup hierarchy is mounted or visible"
    if all(_UNSAFE & set(h.own) for h in found):
        return "the engine's cgroup paths hold newlines"
    return f"the engine may not create cgroups below its own ({found[0].own}; root or a delegated cgroup may)"


def _words(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().split()
    except OSError:
        return []
