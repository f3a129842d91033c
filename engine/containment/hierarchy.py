"""Where the cgroup hierarchies are mounted and where this process sits in each (`/proc/self/mountinfo`,
`/proc/self/cgroup`)."""

from __future__ import annotations

import os
from dataclasses import dataclass

MOUNTINFO = "/proc/self/mountinfo"
OWN_CGROUPS = "/proc/self/cgroup"


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """One mounted cgroup hierarchy: v1 (with its controllers) or v2, and this process's cgroup directory in it."""

    version: int
    mount: str
    controllers: frozenset[str]  # v1: the controllers bound to it; v2: empty (see cgroup.controllers)
    own: str  # the directory of the cgroup this process runs in


def hierarchies(mountinfo: str = MOUNTINFO, own_cgroups: str = OWN_CGROUPS) -> list[Hierarchy]:
    """Every cgroup hierarchy mounted here that this process's cgroup is visible in."""
    try:
        with open(own_cgroups) as f:
            memberships = [line.rstrip("\n").split(":", 2) for line in f if line.count(":") >= 2]
        with open(mountinfo) as f:
            mounts = f.read().splitlines()
    except OSError:
        return []
    v1_paths: dict[frozenset[str], str] = {}
    v2_path: str | None = None
    for _id, names, path in memberships:
        if names:
            v1_paths[frozenset(names.split(","))] = path
        else:
            v2_path = path
    found: list[Hierarchy] = []
    seen: set[str] = set()
    for line in mounts:
        fields = line.split()
        try:
            dash = fields.index("-")
        except ValueError:
            continue
        fstype, options = fields[dash + 1], fields[dash + 3].split(",")
        root, mount = _unescape(fields[3]), _unescape(fields[4])
        if fstype == "cgroup2" and v2_path is not None:
            own = _below(mount, root, v2_path)
            version, controllers = 2, frozenset[str]()
        elif fstype == "cgroup":
            controllers = frozenset(o for o in options if o not in ("rw", "ro") and "=" not in o)
            named = next((p for names, p in v1_paths.items() if names & controllers), None)
            if named is None:
                continue
            own, version = _below(mount, root, named), 1
        else:
            continue
        if own is None or own in seen:
            continue
        seen.add(own)
        found.append(Hierarchy(version, mount, controllers, own))
    return found


def _below(mount: str, root: str, path: str) -> str | None:
    """The directory of cgroup `path` in a hierarchy whose `root` is mounted at `mount`; None where not visible."""
    if root != "/" and not (path == root or path.startswith(root.rstrip("/") + "/")):
        return None
    rel = path[len(root) :] if root != "/" else path
    own = os.path.normpath(mount + "/" + rel.lstrip("/"))
    return own if os.path.isdir(own) else None


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field
