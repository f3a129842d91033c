"""Placeholders in a tree's scripts: `__binpath__`, `__pythonpath__`, `__maxcore__` and any `__name__` given as
`--set name=value`, replaced in the copied `qsub.{id}` scripts.

The value goes into a shell script as is, unquoted (`__binpath__/lmf` must stay a path): so a value is refused
unless every character is one of `A-Za-z0-9_./:@%+=,~-` — no space, quote, `;`, `$`, backquote, `|`, `&`,
redirection, glob, newline or NUL — and no inserted text can run anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from engine.errors import ValidationError

KNOWN = ("binpath", "pythonpath", "maxcore")  # the seed's options
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
SAFE = re.compile(r"[A-Za-z0-9_./:@%+=,~-]+")


def parse_sets(items: Iterable[str]) -> dict[str, str]:
    """`["binpath=/opt/bin", "maxcore=16"]` -> their values, each checked (or a ValidationError naming it)."""
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not NAME.fullmatch(name):
            raise ValidationError(
                f"--set {item!r}: write NAME=VALUE, NAME a letter then letters, digits or _ (e.g. binpath=/opt/bin)."
            )
        if name in values:
            raise ValidationError(f"--set {name}= is given twice; give each placeholder once.")
        values[name] = check_value(name, value)
    return values


def check_value(name: str, value: str) -> str:
    if not SAFE.fullmatch(value):
        bad = sorted({c for c in value if not SAFE.fullmatch(c)})
        what = "is empty" if not value else f"holds {', '.join(map(repr, bad))}"
        raise ValidationError(
            f"--set {name}={value!r}: the value {what}; it is put into shell scripts unquoted, so only letters, "
            "digits and _ . / : @ % + = , ~ - are allowed."
        )
    if name == "maxcore" and not value.isdigit():
        raise ValidationError(f"--set maxcore={value!r}: give a whole number of cores, e.g. maxcore=16.")
    return value


def token(name: str) -> bytes:
    return f"__{name}__".encode()


def unused(values: Mapping[str, str], scripts: Iterable[Path]) -> list[str]:
    """Warnings: each `--set` name whose placeholder appears in none of `scripts`, each seed placeholder used
    but not given."""
    texts = [path.read_bytes() for path in scripts]
    warnings = [
        f"--set {name}: __{name}__ appears in no qsub script; nothing replaced."
        for name in values
        if not any(token(name) in text for text in texts)
    ]
    warnings += [
        f"__{name}__ appears in the scripts but no --set {name}=... was given; it is left as is."
        for name in KNOWN
        if name not in values and any(token(name) in text for text in texts)
    ]
    return warnings


def substitute(path: Path, values: Mapping[str, str]) -> bool:
    """Replace the placeholders of `values` in the file at `path` (a copy); whether it changed."""
    data = original = path.read_bytes()
    for name, value in values.items():
        data = data.replace(token(name), value.encode())
    if data != original:
        path.write_bytes(data)
    return data != original
