"""One attempt's cgroup: made with its limits before the job starts, killed whole, read for usage, removed.

An attempt's cgroup is `<the engine's cgroup>/jobtui-<engine key>/<name>` in each hierarchy it needs (v2: the one;
v1: those of memory and cpuacct, of cpu and pids when its job has a CPU or process limit, and of the freezer once it
is killed). Root makes
them, so their files stay root's: a job run as another user can neither leave its cgroup nor change its limits.
Every operation tolerates a cgroup that is gone already (another path of the engine finished with it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field

from engine.containment.mode import Mode

CPU_PERIOD_US = 100_000
_PROCS = "cgroup.procs"
# (an engine's `jobtui-<key>` directory, an interface file) -> do its attempts' cgroups have that file: the same
# for all of them, so each is looked for once (a stat on cgroupfs is not free, and a launch would make dozens).
_PRESENT: dict[tuple[str, str], bool] = {}
Setting = tuple[str, str, bool]  # an interface file, the value written to it, and whether it may be absent


@dataclass(frozen=True, slots=True)
class Limits:
    memory_bytes: int | None = None
    cpus: float | None = None
    pids: int | None = None

    @property
    def controllers(self) -> frozenset[str]:
        """The controllers these limits are set with (memory's is joined whatever they are)."""
        return frozenset(
            name for name, value in (("memory", self.memory_bytes), ("cpu", self.cpus), ("pids", self.pids)) if value
        )


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_seconds: float | None = None
    peak_memory_bytes: int | None = None


@dataclass(slots=True)
class AttemptGroup:
    """The directories of one attempt's cgroup (as saved on the attempt); v2 when it is one with `cgroup.kill`."""

    dirs: list[str]
    _files: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def planned(cls, mode: Mode, engine_key: str, name: str, limits: Limits) -> AttemptGroup:
        """The attempt's cgroup, not made yet (the spawner `make`s it before the spawn)."""
        return cls(
            [os.path.join(parent, f"jobtui-{engine_key}", name) for parent in mode.parents_for(limits.controllers)]
        )

    def make(self, settings: list[Setting], enable: list[str]) -> None:
        """Make the cgroup's directories and write `settings`; the engine's `jobtui-<key>` directory above them
        too where it is not there yet (with `enable`d controllers handed down to it, v2). OSError when it cannot,
        with nothing left made."""
        for path in self.dirs:
            try:
                os.mkdir(path)
            except FileExistsError:
                pass
            except FileNotFoundError:  # the first attempt of this engine (or its directory was removed since)
                engine_dir = os.path.dirname(path)
                with contextlib.suppress(FileExistsError):
                    os.mkdir(engine_dir)
                if enable:
                    _enable(os.path.dirname(engine_dir), enable)
                    _enable(engine_dir, enable)
                with contextlib.suppress(FileExistsError):
                    os.mkdir(path)
        try:
            for name, value, optional in settings:
                self._set(name, value, optional)
        except OSError:
            self.remove()
            raise

    def ended(self) -> tuple[Usage, int, bool]:
        """Once its wrapper ended: the usage, the OOM kills, and whether the cgroup is removed (only when no process
        is left in it; the engine kills what is and removes it then)."""
        usage, oom_kills = self.usage(), self.oom_kills()
        return usage, oom_kills, not self.pids() and self.remove()

    @classmethod
    def find(cls, mode: Mode, engine_key: str, name: str) -> AttemptGroup | None:
        """The attempt's cgroup made by an earlier engine of the same state directory, if it is still there."""
        dirs = [os.path.join(p, f"jobtui-{engine_key}", name) for p in mode.parents]
        found = [d for d in dirs if os.path.isdir(d)]
        return cls(found) if found else None

    @property
    def v2(self) -> bool:
        return self._file("cgroup.kill") is not None

    def procs_files(self) -> list[str]:
        """Where the wrapper writes its pid to join the cgroup (one per hierarchy)."""
        return [os.path.join(d, _PROCS) for d in self.dirs]

    def pids(self) -> set[int]:
        """The processes in the cgroup (a zombie is in none): every hierarchy holds the same ones (the wrapper
        joined them all before the job started), so the first that is still there tells."""
        for d in self.dirs:
            text = _read(os.path.join(d, _PROCS))
            if text or os.path.isdir(d):
                return {int(p) for p in text.split()}
        return set()

    def signal(self, sig: int) -> None:
        """Send `sig` to every process in the cgroup."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def kill(self, freezer_dir: str | None = None) -> None:
        """SIGKILL everything in the cgroup; `kill_again` until it is empty catches what was still forking.

        v2 writes `cgroup.kill`. v1 freezes the cgroup first (no process can fork while frozen), kills every pid,
        and thaws it so the kills are delivered; an attempt joins the freezer hierarchy only now, at `freezer_dir`
        (`gather`). Without a freezer, `kill_again` repeats the kills.
        """
        if self.v2:
            _write(self._file("cgroup.kill"), "1")
            return
        freezer = self._file("freezer.state")
        if freezer is None and freezer_dir is not None:
            freezer = self.gather(freezer_dir)
        frozen = freezer is not None and _write(freezer, "FROZEN")
        if frozen:
            deadline = time.monotonic() + 0.5
            while _read(freezer).strip() == "FREEZING" and time.monotonic() < deadline:
                time.sleep(0.001)
        self.signal(signal.SIGKILL)
        if frozen:
            _write(freezer, "THAWED")

    def gather(self, freezer_dir: str) -> str | None:
        """Make the attempt's freezer cgroup and move every process of the attempt into it: until none is left
        outside (a child forked by a process already moved is born inside). Its `freezer.state`, or None when it
        cannot be made (the kill then goes on by signals)."""
        try:
            os.makedirs(freezer_dir, exist_ok=True)
        except OSError:
            return None
        self.dirs.append(freezer_dir)
        self._files.clear()
        procs = os.path.join(freezer_dir, _PROCS)
        for _ in range(1000):
            outside = self.pids() - {int(p) for p in _read(procs).split()}
            if not outside:
                break
            for pid in outside:
                _write(procs, str(pid))  # False for one that ended meanwhile
        return self._file("freezer.state")

    def kill_again(self) -> bool:
        """SIGKILL what is still in the cgroup; True while something was."""
        left = self.pids()
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return bool(left)

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer took from the cgroup for exceeding its memory limit."""
        events = self._file("memory.events") or self._file("memory.oom_control")
        if events is None:
            return 0
        for line in _read(events).splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def usage(self) -> Usage:
        """CPU time used by every process the cgroup ever held, and its peak memory (where the kernel tells)."""
        cpu: float | None = None
        if (stat := self._file("cpu.stat")) is not None and self.v2:
            for line in _read(stat).splitlines():
                if line.startswith("usage_usec "):
                    cpu = int(line.split()[1]) / 1e6
        elif (acct := self._file("cpuacct.usage")) is not None:
            with contextlib.suppress(ValueError):
                cpu = int(_read(acct)) / 1e9
        peak: int | None = None
        if (name := self._file("memory.peak") or self._file("memory.max_usage_in_bytes")) is not None:
            with contextlib.suppress(ValueError):
                peak = int(_read(name))
        return Usage(cpu, peak)

    def limit(self, name: str) -> str | None:
        """The content of a limit file (e.g. `memory.max`), or None where the cgroup has none."""
        path = self._file(name)
        return _read(path).strip() if path is not None else None

    def exists(self) -> bool:
        return any(os.path.isdir(d) for d in self.dirs)

    def remove(self) -> bool:
        """Remove the cgroup's directories that are empty; True when none is left."""
        left = False
        for d in self.dirs:
            try:
                os.rmdir(d)
            except FileNotFoundError:
                continue
            except OSError:
                left = True
        return not left

    def _set(self, name: str, value: str, optional: bool = False) -> None:
        path = self._file(name)
        if path is None:
            if optional:
                return
            raise FileNotFoundError(f"no {name} in {', '.join(self.dirs)}")
        with open(path, "w") as f:
            f.write(value)

    def _file(self, name: str) -> str | None:
        """The path of interface file `name` in whichever of the cgroup's directories has it."""
        if name in self._files:
            return self._files[name]
        found = None
        for d in self.dirs:
            key = (os.path.dirname(d), name)
            present = _PRESENT.get(key)
            if present is None:
                present = os.path.exists(os.path.join(d, name))
                if present or os.path.isdir(d):  # a cgroup removed already tells nothing
                    _PRESENT[key] = present
            if present:
                found = os.path.join(d, name)
                break
        self._files[name] = found
        return found


def limit_settings(mode: Mode, limits: Limits) -> list[Setting]:
    """The interface files an attempt's cgroup is given its `limits` with: (name, value, optional)."""
    v2 = mode.kind == "cgroup_v2"
    settings: list[Setting] = []
    if limits.memory_bytes is not None and "memory" in mode.controllers:
        if v2:
            settings += [("memory.max", str(limits.memory_bytes), False), ("memory.swap.max", "0", True)]
        else:
            memory = str(limits.memory_bytes)
            settings += [("memory.limit_in_bytes", memory, False), ("memory.memsw.limit_in_bytes", memory, True)]
    if limits.cpus and "cpu" in mode.controllers:
        quota = max(1000, int(limits.cpus * CPU_PERIOD_US))
        if v2:
            settings.append(("cpu.max", f"{quota} {CPU_PERIOD_US}", False))
        else:
            settings += [("cpu.cfs_period_us", str(CPU_PERIOD_US), False), ("cpu.cfs_quota_us", str(quota), False)]
    if limits.pids is not None and "pids" in mode.controllers:
        settings.append(("pids.max", str(limits.pids), False))
    return settings


def handed_down(mode: Mode) -> list[str]:
    """The controllers an engine's `jobtui-<key>` directory hands down to its attempts' cgroups (v2; v1: none)."""
    return sorted(mode.controllers) if mode.kind == "cgroup_v2" else []


def _enable(cgroup: str, controllers: list[str]) -> None:
    """Hand `controllers` down to the children of `cgroup` (v2); those it has enabled already are kept."""
    with contextlib.suppress(OSError):
        _write(os.path.join(cgroup, "cgroup.subtree_control"), " ".join(f"+{c}" for c in sorted(controllers)))


def _read(path: str | None) -> str:
    if path is None:
        return ""
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _write(path: str | None, value: str) -> bool:
    """Write a control file; False where it is gone (or the kernel refused: a kill then falls back to signals)."""
    if path is None:
        return False
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError:
        return False
    return True
