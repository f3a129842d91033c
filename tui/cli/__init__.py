"""`jobtui` entry point: the TUI, `--serve`, or a scriptable verb. Textual is imported only for the TUI.

Exit codes: 0 success, 1 failure, 2 bad usage or config. The verbs are listed once, in `tui.cli.verbs.VERBS`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from engine.errors import JobTuiError


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--config", type=Path, default=default, help="config file (YAML)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=default,
        help="state directory (default: $JOBTUI_HOME or the platform data dir)",
    )
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS if suppress else False, help="JSON output"
    )


def build_parser() -> argparse.ArgumentParser:
    from tui.cli.verbs import VERBS

    parser = argparse.ArgumentParser(prog="jobtui", description="A terminal console for compute jobs.")
    _common(parser, suppress=False)
    parser.add_argument("--serve", action="store_true", help="run the engine headless with its HTTP API")
    parser.add_argument("--listen", metavar="HOST:PORT", help="with --serve: also listen on TCP (token required)")
    parser.add_argument("--theme", help="TUI theme: dark, light, high-contrast, or a theme file")
    parser.add_argument("--submit", dest="submit_file", metavar="FILE", help="queue the jobs of FILE on start")
    parser.add_argument("-v", "--verbose", action="store_true", help="log engine activity to stderr")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb in VERBS:
        sub = subparsers.add_parser(verb.name, help=verb.help, description=verb.help)
        _common(sub, suppress=True)
        verb.add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        if args.serve:
            from tui.cli.serve import serve

            return asyncio.run(serve(args))
        if args.verb is None:
            from tui.launch import open_tui

            return open_tui(args)
        from tui.cli.verbs import BY_NAME

        return asyncio.run(BY_NAME[args.verb].run(args))
    except JobTuiError as e:
        print(f"jobtui: {e.title}: {e.message}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
