"""Opening the TUI: attach to the engine on the state directory, or host one in this process."""

from __future__ import annotations

import argparse
import asyncio

from tui.context import load_context


def open_tui(args: argparse.Namespace) -> int:
    config, state_dir = load_context(args)
    try:
        from tui.app import run_app
    except ImportError:  # the TUI is not built yet: follow the jobs headless instead
        from tui.cli_verbs import read_job_file
        from tui.follow import run_and_follow

        specs = read_job_file(args.submit_file) if args.submit_file else []
        return asyncio.run(run_and_follow(config, state_dir, specs, False))
    return run_app(config, state_dir, args)
