"""The parser's skeleton (what a TAB's completion parses with) has every verb and option of the real parser,
and the cache answers the second time without building the real one."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tui.cli import build_parser
from tui.cli.parser_skeleton import cached_parser, rebuild, skeleton


def _shape(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Verb -> its option strings and positionals, recursively: what completion offers."""
    shape: dict[str, Any] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            shape["verbs"] = {name: _shape(sub) for name, sub in action.choices.items()}
        elif action.option_strings:
            shape.setdefault("options", set()).update(action.option_strings)
        else:
            choices = list(action.choices) if action.choices is not None else None
            shape.setdefault("positionals", []).append((action.dest, action.nargs, choices))
    return shape


def test_the_rebuilt_parser_has_every_verb_and_option() -> None:
    real = build_parser()
    assert _shape(rebuild(skeleton(real))) == _shape(real)
    verbs = _shape(real)["verbs"]
    assert isinstance(verbs, dict) and {"submit", "list", "events", "completion", "nodes", "history"} <= set(verbs)


def test_the_cache_answers_without_building(tmp_path: Path) -> None:
    built: list[int] = []

    def build() -> argparse.ArgumentParser:
        built.append(1)
        return build_parser()

    first = cached_parser(build, tmp_path)
    second = cached_parser(build, tmp_path)
    assert built == [1] and _shape(second) == _shape(first)
    assert len(list(tmp_path.glob("parser-*.json"))) == 1
