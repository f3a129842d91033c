"""Which containment the engine picks, from a machine's mount table and its own cgroups (files under tmp_path
standing in for /proc/self/mountinfo, /proc/self/cgroup and the hierarchies), and what `doctor` says of it."""

from __future__ import annotations

import os
from pathlib import Path

from engine.containment.delegation import hand_down
from engine.containment.hierarchy import Hierarchy, hierarchies
from engine.containment.mode import Mode, detect


def machine(tmp_path: Path, v2_controllers: str = "", own_v2: str = "/sub/c") -> list:
    """A hybrid machine: v1 memory and a named systemd hierarchy, v2 mounted with its root at /sub."""
    root = tmp_path / "cg"
    (root / "memory/a/b").mkdir(parents=True)
    (root / "memory/a/b/cgroup.procs").write_text("")
    v2_own = root / "unified" / own_v2.removeprefix("/sub/")
    v2_own.mkdir(parents=True)
    (v2_own / "cgroup.procs").write_text("")
    (v2_own / "cgroup.subtree_control").write_text(v2_controllers)
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        f"35 31 0:32 / {root}/memory rw,relatime shared:1 - cgroup cgroup rw,memory\n"
        f"40 31 0:37 / {root}/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
        f"41 31 0:38 /sub {root}/unified rw,relatime - cgroup2 cgroup2 rw\n"
        "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
    )
    own = tmp_path / "cgroup"
    own.write_text(f"9:name=systemd:/\n4:memory:/a/b\n0::{own_v2}\n")
    return hierarchies(str(mountinfo), str(own))


def test_hybrid_machine_prefers_v2_with_memory_else_v1(tmp_path) -> None:
    found = machine(tmp_path)
    assert {(h.version, h.own) for h in found} == {
        (1, str(tmp_path / "cg/memory/a/b")),
        (2, str(tmp_path / "cg/unified/c")),
    }
    assert detect("auto", found).kind == "cgroup_v1"  # v2 without its memory controller loses to v1's
    v2 = detect("cgroup_v2", found)
    assert v2.kind == "cgroup_v2" and not v2.controllers and "no limit is enforced" in v2.detail
    assert detect("proc", found).kind == "proc"

    with_memory = machine(tmp_path / "m", v2_controllers="cpu memory pids")
    chosen = detect("auto", with_memory)
    assert chosen.kind == "cgroup_v2" and chosen.controllers == {"cpu", "memory", "pids"}


def test_no_hierarchy_falls_back_to_the_proc_marker_and_odd_paths_are_fine(tmp_path) -> None:
    assert detect("auto", []).kind == "proc" and "no cgroup hierarchy" in detect("auto", []).detail
    odd = machine(tmp_path, own_v2="/sub/with space $(x) *")
    chosen = detect("cgroup_v2", odd)
    assert chosen.kind == "cgroup_v2" and chosen.parents[0].endswith("with space $(x) *")  # read one a line


def test_an_engine_in_a_delegated_v2_cgroup_moves_into_a_leaf_to_hand_controllers_down(tmp_path) -> None:
    found = machine(tmp_path, own_v2="/sub/service")
    own = tmp_path / "cg/unified/service"
    (own / "cgroup.controllers").write_text("cpu io memory pids\n")
    mode = detect("auto", found)
    assert mode.kind == "cgroup_v2" and mode.hand_down and mode.controllers == {"cpu", "memory", "pids"}
    assert "moves itself into jobtui-engine" in mode.detail

    settled = hand_down(mode)  # on stand-in files: what it writes where, not the kernel's answer
    assert not settled.hand_down and settled.controllers == mode.controllers
    assert (own / "jobtui-engine/cgroup.procs").read_text() == str(os.getpid())
    assert (own / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    moved = [h if h.version == 1 else Hierarchy(2, h.mount, h.controllers, str(own / "jobtui-engine")) for h in found]
    assert detect("auto", moved).parents == (str(own),)  # jobs' cgroups beside the leaf, not in it


def test_a_refused_hand_down_leaves_containment_without_limits(tmp_path) -> None:
    found = machine(tmp_path, own_v2="/sub/service")
    own = tmp_path / "cg/unified/service"
    (own / "cgroup.controllers").write_text("memory pids\n")
    (own / "cgroup.subtree_control").unlink()
    (own / "cgroup.subtree_control").mkdir()  # cannot be written: as the kernel's EBUSY would refuse it
    settled = hand_down(detect("cgroup_v2", found))
    assert settled.kind == "cgroup_v2" and not settled.controllers and "no limit is enforced" in settled.detail


def test_v1_attempts_join_cpu_and_pids_only_for_their_limits() -> None:
    bound = (
        frozenset({"cpu"}),
        frozenset({"cpuacct"}),
        frozenset({"memory"}),
        frozenset({"freezer"}),
        frozenset({"pids"}),
    )
    mode = Mode("cgroup_v1", ("/c/cpu", "/c/cpuacct", "/c/memory", "/c/freezer", "/c/pids"), bound=bound)
    assert mode.parents_for(frozenset()) == ("/c/cpuacct", "/c/memory")  # the freezer's only once it is killed
    assert mode.freezer_parent() == "/c/freezer"
    assert mode.parents_for(frozenset({"cpu", "pids"})) == ("/c/cpu", "/c/cpuacct", "/c/memory", "/c/pids")
    together = Mode(
        "cgroup_v1", ("/c/cpu,cpuacct", "/c/pids"), bound=(frozenset({"cpu", "cpuacct"}), frozenset({"pids"}))
    )
    assert together.parents_for(frozenset()) == ("/c/cpu,cpuacct",)  # cpu comes with cpuacct's hierarchy
    assert Mode("cgroup_v1", ("/c/pids",), bound=(frozenset({"pids"}),)).parents_for(frozenset()) == ("/c/pids",)
