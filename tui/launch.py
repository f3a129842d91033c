"""Opening the TUI: attach to the engine on the state directory, or host one in this process.

With `--token FILE` or `$JOBTUI_TOKEN` the TUI attaches as that token's user (and never hosts an engine).
"""

from __future__ import annotations

import argparse

from tui.context import load_context, load_token


def open_tui(args: argparse.Namespace) -> int:
    config, state_dir = load_context(args)
    token = load_token(args)  # a token file that cannot be read fails here, before Textual loads
    from tui.app import run_app  # here: the CLI's other verbs never load Textual

    return run_app(config, state_dir, args, token=token)
