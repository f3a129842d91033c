"""`jobtui --serve`: the engine headless with its HTTP API until SIGTERM/SIGINT. Never loads Textual."""

from __future__ import annotations

import argparse
import asyncio
import signal

from engine.api.daemon import EngineHost
from engine.errors import ConfigError
from tui.cli.sanitize import say
from tui.context import load_context
from tui.jobfile import read_jobs


def parse_listen(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--listen {value!r}: give HOST:PORT, e.g. 127.0.0.1:8700.")
    return host, int(port)


async def serve(args: argparse.Namespace) -> int:
    config, state_dir = load_context(args)
    host = EngineHost(config, state_dir, tcp=parse_listen(args.listen))
    # Before the socket exists: a SIGTERM the moment a client can see the engine is an orderly stop too.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await host.start()
    try:
        if args.submit_file:
            found = read_jobs(args.submit_file)
            await host.client().submit(found.jobs, workflow=found.workflow_info)
        say(
            f"jobtui engine serving on {host.socket_path} (pid {_pid()}); Ctrl-C or SIGTERM stops it, "
            "jobs keep running",
            err=True,
        )
        await stop.wait()
    finally:
        await host.stop()
    return 0


def _pid() -> int:
    import os

    return os.getpid()
