"""A failing test is reported even when CPython 3.11's AST race hits while pytest formats it."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# The inner session's conftest stands in for the race: while a worker thread (started with asyncio.to_thread)
# is parsing, the first AST that pytest builds for the failure report fails the way CPython 3.11.7 fails.
RACE_CONFTEST = """
import ast
import threading

_real_parse = ast.parse
_state = {"armed": False}


def parse(*args, **kwargs):
    if _state["armed"] and threading.current_thread() is threading.main_thread():
        _state["armed"] = False
        raise SystemError("AST constructor recursion depth mismatch (before=41, after=12)")
    return _real_parse(*args, **kwargs)


ast.parse = parse
"""

FAILING_TEST = """
import ast
import asyncio
import threading

from conftest import _state


def parse_until(stop):
    while not stop.is_set():
        ast.parse("x = [i * 2 for i in range(10)]")


async def test_fails_while_a_thread_parses():
    stop = threading.Event()
    worker = asyncio.create_task(asyncio.to_thread(parse_until, stop))
    await asyncio.sleep(0.05)
    _state["armed"] = True
    try:
        assert [1, 2, 3] == [1, 2, 4], "deliberate failure"
    finally:
        stop.set()
        await worker


def test_after_the_failure_still_runs():
    assert True
"""


@pytest.fixture
def race_session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makeconftest(RACE_CONFTEST)
    pytester.makepyfile(test_inner=FAILING_TEST)
    return pytester


def test_failure_is_reported_when_formatting_hits_the_ast_race(race_session: pytest.Pytester) -> None:
    result = race_session.runpytest_subprocess("-p", "tests.fixtures.reporting", "-o", "asyncio_mode=auto")
    result.assert_outcomes(failed=1, passed=1)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*deliberate failure*"])


def test_without_the_plugin_the_race_is_an_internal_error(race_session: pytest.Pytester) -> None:
    """The stand-in race is real enough to break a plain pytest run: the plugin above is what saves it."""
    result = race_session.runpytest_subprocess("-o", "asyncio_mode=auto")
    assert "INTERNALERROR" in result.stdout.str() + result.stderr.str()
