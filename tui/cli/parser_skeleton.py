"""The shape of the CLI's parser, kept as JSON in the user's cache, so that a TAB needs no verb module.

Building the real parser imports every verb's module (and what each needs: the spec model, an HTTP
client...); completion needs only the verbs, their options, what takes a value and the choices. `skeleton`
writes that down once; `rebuild` makes an argparse parser of it with argparse alone. The cache is keyed by
the version and the size and time of every module of `tui/cli`, so an upgrade or an edit is seen at once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLI_DIR = Path(__file__).resolve().parent


def cached_parser(build: Callable[[], argparse.ArgumentParser], cache_dir: Path) -> argparse.ArgumentParser:
    """The parser rebuilt from the cache; on a miss, `build()` it, and keep its skeleton for the next TAB."""
    install = hashlib.sha256(str(CLI_DIR).encode()).hexdigest()[:8]  # two installs keep a cache each
    path = cache_dir / f"parser-{install}-{_fingerprint()}.json"
    try:
        return rebuild(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    parser = build()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        for old in cache_dir.glob(f"parser-{install}-*.json"):
            old.unlink(missing_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(skeleton(parser)))
        tmp.replace(path)
    except OSError:
        pass  # no cache: every TAB builds the parser itself
    return parser


def skeleton(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """`parser` as JSON: its options and positionals, and each sub-command's own, recursively."""
    actions: list[dict[str, Any]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            verbs = {name: skeleton(sub) | {"help": helps.get(name)} for name, sub in action.choices.items()}
            actions.append({"subparsers": verbs, "dest": action.dest})
            continue
        actions.append(
            {
                "flags": list(action.option_strings),
                "dest": action.dest,
                "nargs": action.nargs,
                "choices": list(action.choices) if action.choices is not None else None,
                "help": action.help if action.help != argparse.SUPPRESS else None,
            }
        )
    return {"prog": parser.prog, "actions": actions}


def rebuild(shape: dict[str, Any], parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """A parser of `shape` (see `skeleton`) that parses as the real one does, for completion only."""
    parser = parser or argparse.ArgumentParser(prog=shape["prog"], add_help=False)
    for action in shape["actions"]:
        if "subparsers" in action:
            subs = parser.add_subparsers(dest=action["dest"])
            for name, sub in action["subparsers"].items():
                rebuild(sub, subs.add_parser(name, help=sub.get("help"), add_help=False))
            continue
        options: dict[str, Any] = {"help": action["help"], "dest": action["dest"]}
        if action["nargs"] == 0:
            options["action"] = "store_true"
        else:
            options.update(nargs=action["nargs"], choices=action["choices"])
        if action["flags"]:
            parser.add_argument(*action["flags"], **options)
        else:
            del options["dest"]
            parser.add_argument(action["dest"], **options)
    return parser


def _fingerprint() -> str:
    from engine import __version__

    digest = hashlib.sha256(__version__.encode())
    for module in sorted(CLI_DIR.glob("*.py")):
        stat = module.stat()
        digest.update(f"{module.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]
