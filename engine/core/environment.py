"""A job's environment, as sbatch's `--export=ALL`: the submitter's environment minus the config's deny-list
(`env_deny`), plus the job's own `env`.

The sent environment is stored once per distinct environment (a batch shares one), by its digest, apart from
the job's record; the job carries only the digest (`extra["environment"]`). A value of the job's own `env`
whose name is deny-listed is kept there too, and the record shows it as `<redacted>`: no `show`, event, log
or listing ever holds a secret.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import translate

import orjson

from engine.errors import ValidationError
from engine.policy import REDACTED

MAX_SENT_ENVIRONMENT = 1 << 20  # bytes of names and values a submission may send (Linux's ARG_MAX is 2 MiB)

ENV_KEY = "environment"  # Job.extra key: the digest of its stored environment
IDENTITY = ("HOME", "USER", "LOGNAME", "SHELL")  # a login environment's, kept over the sent ones (shared mode)
# Variables that change what a root process loads or runs (the dynamic loader's, the shell's): in shared mode the
# wrapper runs as root until setpriv, so these are kept from it and put back for the job (`wrapper.AS_USER`).
_ROOT_UNSAFE_PREFIXES = ("LD_", "BASH_FUNC_", "MALLOC_", "GLIBC_", "DYLD_")
_ROOT_UNSAFE = frozenset(
    {"BASH_ENV", "ENV", "IFS", "CDPATH", "SHELLOPTS", "BASHOPTS", "PS4", "GCONV_PATH", "LOCPATH", "NLSPATH",
     "HOSTALIASES", "RES_OPTIONS", "LOCALDOMAIN", "TZDIR"}
)  # fmt: skip
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def denied(name: str, patterns: Iterable[str]) -> bool:
    """Is `name` on the deny-list (globs, matched case-sensitively, as variable names are)?"""
    return _deny_list(tuple(patterns)).match(name) is not None


@functools.lru_cache(maxsize=16)
def _deny_list(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """The deny-list's globs as one expression (what `fnmatchcase` does for each, in one match per name: a
    submission filters every variable of every job it holds)."""
    return re.compile("|".join(translate(p) for p in patterns) or "(?!)")


@dataclass(frozen=True, slots=True)
class StoredEnvironment:
    """What is kept apart from the job: the submitter's variables that pass, and the job's deny-listed ones."""

    sent: dict[str, str] | None  # None: the job starts from the engine's base environment (`--clean-env`)
    secret: dict[str, str]

    @property
    def digest(self) -> str:
        data = orjson.dumps({"sent": self.sent, "secret": self.secret}, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(data).hexdigest()

    def to_dict(self) -> dict[str, dict[str, str] | None]:
        return {"sent": self.sent, "secret": self.secret}

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, str] | None]) -> StoredEnvironment:
        return cls(data.get("sent"), data.get("secret") or {})


def check_sent_environment(sent: Mapping[str, str]) -> None:
    """Refuse an environment no process could be given: too big, or with NUL bytes or `=` in a name."""
    size = 0
    for name, value in sent.items():
        if not name or "=" in name or "\x00" in name or "\x00" in value:
            raise ValidationError(
                f"the sent environment has an invalid variable {name[:60]!r} (empty, with '=' or a NUL byte); "
                "unset it, or submit with --clean-env."
            )
        size += len(name.encode(errors="surrogatepass")) + len(value.encode(errors="surrogatepass")) + 2
    if size > MAX_SENT_ENVIRONMENT:
        raise ValidationError(
            f"the sent environment is {size} bytes, more than {MAX_SENT_ENVIRONMENT}; unset large variables, or "
            "submit with --clean-env."
        )


def passed_environment(sent: Mapping[str, str] | None, patterns: list[str]) -> dict[str, str] | None:
    """The submitter's variables that pass the deny-list (None: `--clean-env`, the engine's own base)."""
    if sent is None:
        return None
    deny = _deny_list(tuple(patterns))
    return {k: v for k, v in sent.items() if deny.match(k) is None}


def split_environment(
    passed: dict[str, str] | None, job_env: dict[str, str], patterns: list[str]
) -> tuple[dict[str, str], StoredEnvironment | None]:
    """The job's `env` as its record shows it, and what is stored apart (None: nothing to store).

    `passed` is the submitter's environment through the deny-list (`passed_environment`, once per batch).
    """
    secret = {k: v for k, v in job_env.items() if denied(k, patterns)}
    shown = {k: (REDACTED if k in secret else v) for k, v in job_env.items()}
    if passed is None and not secret:
        return shown, None
    return shown, StoredEnvironment(passed, secret)


def job_environment(
    base: Mapping[str, str], stored: StoredEnvironment | None, job_env: Mapping[str, str], login: bool
) -> dict[str, str]:
    """The environment a job starts with: the sent one (with a `login` base's identity over it) or `base`
    (the engine's, or a login environment), then the job's own `env` with its secret values put back."""
    if stored is None:
        return {**base, **job_env}
    if stored.sent is None:
        start = dict(base)
    else:
        start = {**stored.sent, **({k: base[k] for k in IDENTITY if k in base} if login else {})}
    own = {k: stored.secret.get(k, v) if v == REDACTED else v for k, v in job_env.items()}
    return {**start, **own}


def for_root_wrapper(env: dict[str, str]) -> dict[str, str]:
    """`env` made safe for the root wrapper of a job run as another account: each variable that could change
    what root loads or runs is renamed JOBTUI_KEEP_NAME (listed in JOBTUI_RESTORE) for the job's own shell to put
    back after setpriv; one whose name is no shell identifier (an exported bash function) is dropped."""
    safe, kept = {}, []
    for name, value in env.items():
        if name not in _ROOT_UNSAFE and not name.startswith(_ROOT_UNSAFE_PREFIXES):
            safe[name] = value
        elif _IDENTIFIER.fullmatch(name):
            safe[f"JOBTUI_KEEP_{name}"] = value
            kept.append(name)
    if kept:
        safe["JOBTUI_RESTORE"] = " ".join(kept)
    return safe
