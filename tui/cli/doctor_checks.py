"""`jobtui doctor`'s checks of this machine: state directory, mode, cgroups, GPUs and tools.

Each check returns a `Check`; none raises (`guarded` turns an unexpected error into a failed check). Nothing
here imports the engine's insides or Textual: the checks look at the machine itself.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from engine import __version__
from engine.config import Config
from engine.containment.mode import detect

Status = Literal["ok", "warn", "fail", "skip"]

SYSTEM_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"  # where the engine looks for setpriv (engine.executors.wrapper)
CGROUP_ROOT = Path("/sys/fs/cgroup")
MOUNTS = Path("/proc/self/mounts")
CONTROLLERS = ("cpu", "memory", "pids")

# tool -> what it is for, and the package that has it (Debian/Ubuntu)
TOOLS: dict[str, tuple[str, str]] = {
    "rsync": ("copies files between machines", "rsync"),
    "ssh": ("OpenSSH client: `ssh-keyscan` trusts an SSH node's host key", "openssh-client"),
    "tmux": ("keeps a TUI over SSH alive when the login drops", "tmux"),
}


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str

    def data(self) -> dict[str, Any]:
        return asdict(self)


def guarded(name: str, check: Callable[[], Check]) -> Check:
    """`check()`, or a failed check naming the error it raised: doctor never ends in a traceback."""
    try:
        return check()
    except Exception as e:
        return failed(name, e)


def failed(name: str, error: BaseException) -> Check:
    why = one_line(str(error)) or "no message"
    return Check(name, "fail", f"the check itself failed ({type(error).__name__}: {why}); please report it")


def one_line(text: str) -> str:
    """`text` on one line: its lines joined with "; ", runs of spaces made one, no full stops at their ends."""
    lines = (" ".join(line.split()).rstrip(".") for line in text.splitlines())
    return "; ".join(line for line in lines if line)


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def version() -> Check:
    return Check("jobtui", "ok", f"{__version__}, Python {sys.version.split()[0]} ({sys.executable})")


def mode(config: Config) -> Check:
    """Personal: the engine and its local jobs run as one user. Shared: the engine runs as root."""
    me = user_name(os.geteuid())
    if config.mode == "shared":
        if os.geteuid() == 0:
            return Check("mode", "ok", "shared: the engine runs as root, each local job as its submitter (setpriv)")
        return Check(
            "mode",
            "warn",
            f"shared: the engine must run as root, and you are {me}; start it with `sudo jobtui --serve`",
        )
    if os.geteuid() == 0:
        return Check(
            "mode",
            "warn",
            "personal, as root: every local job runs as root; run jobtui as a normal user, or set `mode: shared`",
        )
    return Check("mode", "ok", f"personal: the engine and its local jobs run as you ({me})")


def state_dir(path: Path, config: Config | None) -> Check:
    """Mode 0700 and the right owner: the owner's (personal mode), root's (shared mode)."""
    name = "state dir"
    try:
        info = path.stat()
    except FileNotFoundError:
        return Check(name, "ok", f"{path} does not exist yet; the engine creates it (mode 0700) when it starts")
    except PermissionError:
        return Check(name, "warn", f"{path}: permission denied, so it is another user's; give --state-dir your own")
    if not stat.S_ISDIR(info.st_mode):
        return Check(name, "fail", f"{path} is not a directory; remove it or give another --state-dir")
    perms = stat.S_IMODE(info.st_mode)
    owner = user_name(info.st_uid)
    where = f"{path} (mode {perms:04o}, owner {owner})"
    shared = config is not None and config.mode == "shared"
    if shared and info.st_uid != 0:
        return Check(name, "warn", f"{where}: not root's, and a shared engine runs as root: `chown root {path}`")
    if not shared and info.st_uid != os.geteuid():
        return Check(
            name, "warn", f"{where}: {owner}'s, not yours ({user_name(os.geteuid())}); give --state-dir one of your own"
        )
    if perms != 0o700:
        return Check(
            name,
            "warn",
            f"{where}: not 0700, so other users may read its jobs' files; run `chmod 700 {path}` "
            "(the engine also tightens it when it starts)",
        )
    return Check(name, "ok", where)


def cgroups(root: Path = CGROUP_ROOT, mounts: Path = MOUNTS) -> Check:
    """Is `root` a cgroup2 mount, and which of cpu, memory and pids does it offer?"""
    name = "cgroups v2"
    fstype = _fstype(root, mounts)
    if fstype != "cgroup2":
        found = f"a {fstype} mount" if fstype else "not mounted"
        return Check(
            name,
            "warn",
            f"{root} is {found}, not cgroup2 (cgroup v1 or hybrid); to have v2, boot with "
            "systemd.unified_cgroup_hierarchy=1",
        )
    available = (root / "cgroup.controllers").read_text().split()
    missing = [c for c in CONTROLLERS if c not in available]
    have = " ".join(c for c in CONTROLLERS if c in available) or "none of cpu, memory, pids"
    if missing:
        return Check(
            name,
            "warn",
            f"{root}: cgroup2, controllers {have}; missing {' '.join(missing)}: delegate them to jobtui's "
            "service (systemd: Delegate=yes)",
        )
    return Check(name, "ok", f"{root}: cgroup2, controllers {have}")


def containment(config: Config | None) -> Check:
    """How local jobs are contained here (as this user): a cgroup per attempt (v2 or v1), or the /proc marker."""
    settings = (config or Config()).containment
    found = detect(settings.mode)
    as_whom = f"for an engine run as {user_name(os.geteuid())}"
    if config is not None and config.mode == "shared" and os.geteuid() != 0:
        as_whom += " (a shared engine runs as root: run `sudo jobtui doctor` to see its containment)"
    detail = f"{found.kind}: {found.detail}; {as_whom}"
    if found.kind == "proc" and settings.mode != "proc":
        return Check("containment", "warn", detail)
    if found.uses_cgroups and "memory" not in found.controllers:
        return Check("containment", "warn", detail)
    return Check("containment", "ok", detail)


def _fstype(root: Path, mounts: Path) -> str | None:
    """The type of the file system mounted at `root` (the last mount there wins), or None."""
    found = None
    for line in mounts.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1] == str(root):
            found = fields[2]
    return found


def gpus(config: Config | None) -> Check:
    """nvidia-smi on PATH, NVML (pynvml) and how many devices it sees."""
    name = "gpus"
    smi = shutil.which("nvidia-smi")
    count, nvml = _nvml_devices()
    wanted = bool(config and any(n.kind == "local" and n.gpus for n in config.nodes))
    smi_text = f"nvidia-smi at {smi}" if smi else "nvidia-smi not on PATH"
    if count:
        return Check(name, "ok", f"{count} NVIDIA GPU(s) through NVML; {smi_text}")
    if smi or wanted:
        fix = (
            "install nvidia-ml-py in jobtui's environment" if nvml == "pynvml is not installed" else "check the driver"
        )
        return Check(name, "warn", f"NVML sees no GPU ({nvml}); {smi_text}: {fix}")
    return Check(name, "ok", f"no NVIDIA GPU here ({smi_text}; NVML: {nvml}); GPU jobs go to other nodes")


def _nvml_devices() -> tuple[int, str]:
    """(device count, why none) through NVML."""
    try:
        import pynvml
    except ImportError:
        return 0, "pynvml is not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as e:
        return 0, f"does not load: {e}"
    try:
        count = int(pynvml.nvmlDeviceGetCount())
        return count, "loads" if count else "loads, no device"
    finally:
        pynvml.nvmlShutdown()


def tools(config: Config | None) -> list[Check]:
    """The external tools some features use; setpriv fails only where shared mode needs it."""
    checks = []
    for tool, (use, package) in TOOLS.items():
        path = shutil.which(tool)
        if path:
            checks.append(Check(tool, "ok", path))
        else:
            checks.append(Check(tool, "warn", f"not on PATH ({use}); install it: `apt install {package}`"))
    setpriv = shutil.which("setpriv", path=SYSTEM_PATH)
    shared = config is not None and config.mode == "shared"
    if setpriv:
        checks.append(Check("setpriv", "ok", setpriv))
    else:
        where = f"not in {SYSTEM_PATH}"
        checks.append(
            Check("setpriv", "fail", f"{where}: shared mode runs every job through it; `apt install util-linux`")
            if shared
            else Check("setpriv", "warn", f"{where} (only shared mode needs it); `apt install util-linux`")
        )
    return checks
