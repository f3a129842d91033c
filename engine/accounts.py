"""Unix accounts: who a shared engine's callers are, and as whom their local jobs run.

A shared engine (config `mode: shared`) runs as root. It knows a caller on its socket by the kernel's peer
credentials and runs each local job as its submitter's account, with that account's groups, home and a
fresh environment, never the daemon's.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SHARED_SOCKET = Path("/run/jobtui/engine.sock")  # where clients look for a shared engine
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
_PASSED_THROUGH = ("LANG", "LC_ALL", "TZ")  # the daemon's locale and zone; nothing that could be a secret


@dataclass(frozen=True, slots=True)
class Account:
    user: str
    uid: int
    gid: int
    home: str
    shell: str


def account_named(user: str) -> Account | None:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    return _account(entry)


def account_of_uid(uid: int) -> Account | None:
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return None
    return _account(entry)


def _account(entry: pwd.struct_passwd) -> Account:
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_shell or "/bin/sh")


def can_switch_users() -> bool:
    """May this process start jobs as other users? (root, as shared mode requires)"""
    return os.geteuid() == 0


def login_environment(account: Account) -> dict[str, str]:
    """The environment a job of `account` starts from: its own identity and home, a standard PATH."""
    env = {"HOME": account.home, "USER": account.user, "LOGNAME": account.user, "SHELL": account.shell}
    env["PATH"] = SAFE_PATH
    env.update({k: os.environ[k] for k in _PASSED_THROUGH if k in os.environ})
    return env
