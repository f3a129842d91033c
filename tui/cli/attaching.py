"""Running a verb's handler with a client attached to the engine of the state directory (closed after)."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.api.client import HttpClient

ClientHandler = Callable[["HttpClient", argparse.Namespace], Awaitable[int]]


async def with_client(handler: ClientHandler, args: argparse.Namespace) -> int:
    """`handler(client, args)` with a client of the engine running on the state directory, closed after."""
    from engine.api.discovery import attach
    from tui.cli.starting import wait_while_starting
    from tui.context import load_context, load_token

    _, state_dir = load_context(args)
    await wait_while_starting(state_dir)
    client = attach(state_dir, token=load_token(args))
    try:
        return await handler(client, args)
    finally:
        await client.close()
