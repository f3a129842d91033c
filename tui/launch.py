"""Opening the TUI: attach to the engine on the state directory, or host one in this process."""

from __future__ import annotations

import argparse

from tui.context import load_context


def open_tui(args: argparse.Namespace) -> int:
    from tui.app import run_app  # here: the CLI's other verbs never load Textual

    config, state_dir = load_context(args)
    return run_app(config, state_dir, args)
