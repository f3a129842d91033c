"""`jobtui` entry point: the TUI, `--serve`, or a scriptable verb. Textual is imported only for the TUI.

Exit codes: 0 success, 1 failure, 2 bad usage, config or input; 130 on Ctrl-C; 141 when whoever reads our
output stopped reading (`jobtui logs 1 | head -1`), as if killed by SIGPIPE, and quietly. A verb never ends
in a traceback: every error is one line on stderr (with `-v`, an unexpected one adds its traceback).
The verbs are listed once, in `tui.cli.verbs.VERBS`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from engine.errors import ConfigError, JobTuiError
from tui.cli.sanitize import say

EXIT_BROKEN_PIPE = 141


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
        "--token",
        type=Path,
        default=default,
        metavar="FILE",
        help="present the API token in FILE (default: $JOBTUI_TOKEN, else the owner's token in the state dir)",
    )
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS if suppress else False, help="JSON output"
    )


def build_parser() -> argparse.ArgumentParser:
    from tui.cli.verbs import VERBS

    parser = argparse.ArgumentParser(prog="jobtui", description="A terminal console for compute jobs.")
    parser.add_argument("--version", action="version", version=f"jobtui {_version()}")
    _common(parser, suppress=False)
    parser.add_argument("--serve", action="store_true", help="run the engine headless with its HTTP API")
    parser.add_argument("--web", action="store_true", help="serve the TUI to a browser (token required; see --listen)")
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="with --serve: also listen on TCP (token required); with --web: where (default 127.0.0.1:8765)",
    )
    parser.add_argument("--theme", help="TUI theme: dark, light, high-contrast, or a theme file")
    parser.add_argument("--submit", dest="submit_file", metavar="FILE", help="queue the jobs of FILE on start")
    parser.add_argument("-v", "--verbose", action="store_true", help="log engine activity to stderr")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb in VERBS:
        sub = subparsers.add_parser(verb.name, help=verb.help, description=verb.help)
        _common(sub, suppress=True)
        verb.add_arguments(sub)
    return parser


def _version() -> str:
    from engine import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (tui.cli.completion): nothing else loads
        from tui.cli.completion import complete

        return complete(build_parser)
    import yaml  # here, as asyncio below: a TAB's completion loads neither

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # here, not at exit: a closed pipe is then ours to handle
        return code
    except BrokenPipeError:
        _drop_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return 130
    except JobTuiError as e:
        return _fail(f"{e.title}: {e.message}", e.exit_code)
    except (UnicodeError, yaml.YAMLError, RecursionError) as e:  # unexpected input that got this far
        return _fail(f"bad input: {_one_line(e)}", 2, args)
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        return _fail(f"{where}{e.strerror or _one_line(e)}", 1, args)
    except Exception as e:
        if args.verb is None:  # the TUI and `--serve`: their crashes keep their tracebacks
            raise
        return _fail(f"unexpected error: {_one_line(e)} (run `jobtui -v {args.verb} ...` for details)", 1, args)


def _dispatch(args: argparse.Namespace) -> int:
    import asyncio

    if args.serve and args.token is not None:
        raise ConfigError(
            "--token is for the TUI and the verbs (`jobtui --token FILE list`); --serve runs the engine as its "
            "owner: drop --token."
        )
    if args.web:
        from tui.web import serve_web  # loads textual-serve (aiohttp) only here

        return asyncio.run(serve_web(args))
    if args.serve:
        from tui.cli.serve import serve

        return asyncio.run(serve(args))
    if args.verb is None:
        from tui.launch import open_tui

        return open_tui(args)
    from tui.cli.verbs import BY_NAME

    return asyncio.run(BY_NAME[args.verb].run(args))


def _fail(message: str, code: int, args: argparse.Namespace | None = None) -> int:
    if args is not None and args.verbose:
        import traceback

        traceback.print_exc()
    try:
        say(f"jobtui: {message}", err=True)
    except OSError:  # stderr is gone too: the exit code says it
        pass
    return code


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit raises no second BrokenPipeError."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)
