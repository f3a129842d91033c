"""Bounded waits: poll the condition a test needs until it holds, or fail saying what never happened.

Tests wait with these instead of fixed sleeps. A sleep that remains in a test is a duration the
scenario itself needs (a job that runs for a while, a link left down), and says so in a comment.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

Predicate = Callable[[], Any]
What = str | Callable[[], str]


def _timed_out(timeout: float, what: What) -> AssertionError:
    text = what() if callable(what) else what
    return AssertionError(f"timed out after {timeout:g} s waiting for {text}")


async def wait_for(predicate: Predicate, timeout: float, what: What, step: float = 0.05) -> Any:
    """Poll `predicate()` (sync, or returning an awaitable) every `step` s until it is truthy; return that value.

    Fails with an AssertionError naming `what` (a string, or a callable that makes one at the time of
    the failure) once `timeout` seconds have passed without it.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            raise _timed_out(timeout, what)
        await asyncio.sleep(min(step, left))


def wait_for_sync(predicate: Predicate, timeout: float, what: What, step: float = 0.05) -> Any:
    """`wait_for` for code that has no event loop running: `predicate` is a plain function."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            raise TypeError("wait_for_sync got an awaitable; use `await wait_for(...)` in async code")
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            raise _timed_out(timeout, what)
        time.sleep(min(step, left))
