"""`jobtui` entry point: the TUI, `--serve`, or a scriptable verb. Textual is imported only for the TUI.

Exit codes: 0 success, 1 failure, 2 bad usage or config.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from engine.errors import JobTuiError

VERBS = (
    "submit",
    "wait",
    "list",
    "show",
    "logs",
    "cancel",
    "approve",
    "reject",
    "requeue",
    "priority",
    "stats",
    "me",
    "position",
    "concurrency",
    "cleanup",
    "token",
    "run",
)


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
    parser = argparse.ArgumentParser(prog="jobtui", description="A terminal console for compute jobs.")
    _common(parser, suppress=False)
    parser.add_argument("--serve", action="store_true", help="run the engine headless with its HTTP API")
    parser.add_argument("--listen", metavar="HOST:PORT", help="with --serve: also listen on TCP (token required)")
    parser.add_argument("--theme", help="TUI theme: dark, light, high-contrast, or a theme file")
    parser.add_argument("--submit", dest="submit_file", metavar="FILE", help="queue the jobs of FILE on start")
    parser.add_argument("-v", "--verbose", action="store_true", help="log engine activity to stderr")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")

    def verb(name: str, help: str) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help, description=help)
        _common(sub, suppress=True)
        return sub

    p = verb("submit", "submit a job (`-- CMD ARGS...`) or many (`--file F|-`)")
    p.add_argument("--file", "-f", help="YAML list of jobs, or one command per line ('-' for stdin)")
    p.add_argument("--name")
    p.add_argument("--priority", type=int)
    p.add_argument("--cpus", type=int)
    p.add_argument("--mem", help="memory, e.g. 4096, 512M, 4G")
    p.add_argument("--gpus", type=int)
    p.add_argument("--after", type=int, nargs="+", default=[], metavar="ID")
    p.add_argument("--retries", type=int)
    p.add_argument("--timeout", help="seconds, or 15m, 2h")
    p.add_argument("--requires-approval", action="store_true")
    p.add_argument("--env", action="append", default=[], metavar="K=V")
    p.add_argument("--workdir")
    p.add_argument("--node", help="node name or glob")
    p.add_argument("--tag", action="append", default=[])
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ARGS...")

    p = verb("wait", "block until jobs are terminal; exit 1 if any did not complete")
    p.add_argument("ids", type=int, nargs="*")
    p.add_argument("--all", action="store_true", help="every job not yet ended")
    p.add_argument("--timeout", type=float, help="give up after this many seconds (exit 1)")

    p = verb("list", "list jobs")
    p.add_argument("--status", "-s", action="append", help="filter: waiting, running, failed, ... (repeatable)")
    p.add_argument("-o", "--output", help="fields, e.g. id,name,progress.percent,resources.cpus")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("-l", "--limit", type=int, default=50, help="most recent N (0: all)")
    p.add_argument("--user")
    p.add_argument("--active", action="store_true", help="hide ended jobs")

    for name, help in (("show", "every detail of a job"), ("position", "a job's place in the queue")):
        verb(name, help).add_argument("id", type=int)

    p = verb("logs", "print a job's output")
    p.add_argument("id", type=int)
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("--stderr", action="store_true")
    p.add_argument("--attempt", type=int)

    for name in ("cancel", "approve", "requeue"):
        verb(name, f"{name} jobs").add_argument("ids", type=int, nargs="+")
    p = verb("reject", "reject jobs awaiting approval")
    p.add_argument("ids", type=int, nargs="+")
    p.add_argument("--reason", "-r", required=True)
    p = verb("priority", "set a queued job's priority (lead/admin)")
    p.add_argument("id", type=int)
    p.add_argument("priority", type=int)

    verb("stats", "queue statistics")
    verb("me", "your jobs and best queue position")
    p = verb("concurrency", "show or set the concurrency limits")
    for flag in ("--max-concurrent", "--user-max-concurrent", "--team-max-concurrent"):
        p.add_argument(flag, type=int)
    p.add_argument("--fair-share", choices=["on", "off"])
    p = verb("cleanup", "delete ended jobs older than N days")
    p.add_argument("--days", type=float, required=True)
    p = verb("token", "issue an API token for a user (admin)")
    p.add_argument("user")
    p = verb("run", "submit a file of jobs and follow them to the end with live progress")
    p.add_argument("file")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        if args.serve:
            from tui.serve import serve

            return asyncio.run(serve(args))
        if args.verb is None:
            from tui.launch import open_tui

            return open_tui(args)
        from tui.cli_verbs import run_verb

        return asyncio.run(run_verb(args))
    except JobTuiError as e:
        print(f"jobtui: {e.title}: {e.message}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
