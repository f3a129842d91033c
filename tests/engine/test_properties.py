"""Properties over whatever a user or a client may send: job files, configs and API bodies.

Any text is either read or refused with one of the project's own errors and a message; no JSON body sent to
the API gets a 5xx, and every job the API acknowledged is still there afterwards. Examples are few and
undeadlined (these run against real files and a real engine), so the whole module stays well under 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import string
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engine.api.server import build_app
from engine.api.tokens import TokenRegistry
from engine.config import parse_config
from engine.errors import ConfigError, JobTuiError
from engine.service.jobspec import JobSpec, parse_specs
from tests.fixtures.engine import FUZZABLE_SPEC_FIELDS, OWNER, Rig, db_rows
from tui.context import load_context
from tui.jobfile import read_job_file

TOKEN = "owner-token"
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text with everything in it: control characters, lone surrogates (as JSON escapes), any script.
ANY_CHARACTER = st.characters(codec=None, exclude_categories=())
_YAML_BITS = [
    "- ", "-", "jobs:", "command: ", "name: ", "key: ", "after: ", "workdir: ", "env: ", "cpus: ", "nodes:",
    "limits:", "max_concurrent: ", "kind: local", "users:", "{", "}", "[", "]", ",", ":", "\n", "  ", "\t", "#",
    "---", "%YAML 1.1\n", "!!python/object:os.system", "!!binary", "&a ", "*a", "<<: *a", ".inf", ".nan", "-.inf",
    "0x1f", "0o17", "1e999", "9" * 40, '"\\U0010ffff"', '"\\x00"', "'", '"', "~", "null", "true", "? ", "|", ">",
    "sh -c 'echo hi'", "echo $HOME", "\\", "\ufeff", "\x00", "\ud800", "é",
]  # fmt: skip
YAMLISH = st.lists(st.sampled_from(_YAML_BITS) | st.text(ANY_CHARACTER, max_size=8), max_size=30).map("".join)


def _read_file(data: bytes) -> list[dict[str, Any]] | JobTuiError:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "jobs.yaml")
        path.write_bytes(data)
        try:
            return read_job_file(str(path))
        except JobTuiError as e:
            return e


def _encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate makes bytes that are not UTF-8


@FEW
@given(st.one_of(YAMLISH.map(_encoded), st.text(ANY_CHARACTER).map(_encoded), st.binary()))
def test_any_job_file_gives_specs_or_a_message(data: bytes) -> None:
    jobs = _read_file(data)
    if isinstance(jobs, JobTuiError):
        assert jobs.message.strip(), repr(jobs)
        return
    assert jobs and all(isinstance(job, dict) for job in jobs)
    try:
        specs = parse_specs(jobs, "jobs.yaml")  # what a file says is then checked like any submission
    except JobTuiError as e:
        assert e.message.strip()
    else:
        assert all(isinstance(spec, JobSpec) for spec in specs)


def test_a_yaml_job_file_with_a_control_character_is_a_job_file_error() -> None:
    assert isinstance(_read_file(b"[\x00]"), JobTuiError)


@FEW
@given(st.one_of(YAMLISH, st.text(ANY_CHARACTER)))
def test_any_config_text_is_a_config_or_a_config_error(text: str) -> None:
    """As every reader of a config takes it: `--config FILE` through `load_context`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "config.yaml")
        path.write_bytes(_encoded(text))
        args = argparse.Namespace(config=path, state_dir=Path(tmp, "state"))
        try:
            load_context(args)
        except ConfigError as e:
            assert e.message.strip()


@pytest.mark.parametrize("text", ['"\\U00110000"', "[" * 2000], ids=["bad-escape", "deep-nesting"])
def test_parse_config_raises_only_config_errors(text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(text)
    assert raised.value.message.strip()


# -- API bodies ----------------------------------------------------------------------------------------------

_NAMES = [*sorted(FUZZABLE_SPEC_FIELDS), "jobs", "ids", *(f"{w}max_concurrent" for w in ("", "user_"))]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.integers(-3, 3)
    | st.floats()  # NaN and infinities too: JSON as Python writes it
    | st.text(ANY_CHARACTER, max_size=12)
    | st.sampled_from(["true", "sleep", "1G", "15m", "a", "1", "", "-1"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(_NAMES) | st.text(ANY_CHARACTER, max_size=6), inner)
    ),
    max_leaves=12,
)
COMMANDS = st.sampled_from([["true"], "true", ["sh", "-c", "exit 3"], "sh -c 'sleep 0.2'"])
PLAUSIBLE_JOB = st.fixed_dictionaries(  # mostly valid: these get through, to be acknowledged
    {"command": COMMANDS},
    optional={
        "name": st.text(max_size=8),
        "key": st.sampled_from(["a", "b"]),
        "after": st.lists(st.integers(1, 3) | st.just("a"), max_size=1),
        "priority": st.integers(0, 101),
        "cpus": st.integers(0, 2),
        "retries": st.integers(0, 1),
        "timeout": st.sampled_from([0.5, "1m"]),
        "requires_approval": st.booleans(),
        "tags": st.lists(st.text(max_size=4), max_size=2),
        "env": st.dictionaries(st.sampled_from(["X", "Y"]), st.text(max_size=4), max_size=2),
    },
)
ANY_JOB = st.fixed_dictionaries(  # anything in any field
    {"command": COMMANDS | st.sampled_from([["no-such-program-xyz"], []]) | JSON},
    optional={name: JSON for name in sorted(FUZZABLE_SPEC_FIELDS - {"command"})},
)
JOB = PLAUSIBLE_JOB | ANY_JOB
BODIES = {
    "submit": st.fixed_dictionaries({"jobs": st.lists(JOB, min_size=1, max_size=3)}) | JSON,
    "priority": st.fixed_dictionaries({"priority": st.integers(-5, 120) | JSON}) | JSON,
    "concurrency": st.fixed_dictionaries(
        {}, optional={name: st.integers(-1, 50) | JSON for name in ("max_concurrent", "user_max_concurrent")}
    )
    | JSON,
    "wait": st.fixed_dictionaries({"ids": st.none() | st.lists(st.integers(0, 8)), "timeout": JSON}) | JSON,
}
KEYS = st.none() | st.text(st.sampled_from(string.ascii_letters[:3]), min_size=1, max_size=2)


@pytest.fixture
async def api(rig: Rig) -> AsyncIterator[tuple[httpx.AsyncClient, set[int]]]:
    """The API of `rig`'s engine in process, as its owner, and the ids of the jobs it acknowledged so far."""
    await rig.service.set_limits(rig.actor(), {"max_concurrent": 2})  # few jobs at once on a 2-core machine
    transport = httpx.ASGITransport(app=build_app(rig.service, TokenRegistry(OWNER, TOKEN)), raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(transport=transport, base_url="http://jobtui", headers=headers) as client:
        yield client, set()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), verb=st.sampled_from(["submit", *BODIES]))  # submit twice as often
async def test_no_json_body_gets_a_server_error_and_acknowledged_jobs_stay(
    rig: Rig, api: tuple[httpx.AsyncClient, set[int]], data: st.DataObject, verb: str
) -> None:
    client, acknowledged = api
    body = data.draw(BODIES[verb], label="body")
    content = json.dumps(body).encode()  # ASCII: a lone surrogate travels as a JSON escape
    headers = {}
    if verb == "submit" and (key := data.draw(KEYS, label="idempotency key")) is not None:
        headers["Idempotency-Key"] = key
    # drawn alike whatever exists (hypothesis replays draws): 0, or an id of no job yet, or one acknowledged
    pick = data.draw(st.integers(0, 64), label="job")
    job_id = sorted(acknowledged)[pick % len(acknowledged)] if acknowledged and pick else pick
    path = {
        "submit": "/api/queue/submit",
        "priority": f"/api/queue/{job_id}/priority",
        "concurrency": "/api/queue/concurrency",
        "wait": "/api/queue/wait",
    }[verb]
    try:
        async with asyncio.timeout(1.0):
            response = await client.post(path, content=content, headers=headers)
    except TimeoutError:
        assert verb == "wait"  # a long poll still waiting: no answer yet, and no error
        event("wait: still waiting")
    else:
        event(f"{verb}: {response.status_code}")  # --hypothesis-show-statistics: how far the bodies got
        assert response.status_code < 500, response.text
        answer = response.json()
        if not response.is_success:
            assert set(answer) == {"error", "message"} and answer["message"], answer
        elif verb == "submit":
            assert [job["id"] for job in answer["jobs"]] == answer["ids"]
            acknowledged.update(answer["ids"])
    assert all(rig.engine.find(i) is not None for i in acknowledged)
    assert acknowledged <= {row[0] for row in db_rows(rig.state_dir, "SELECT id FROM jobs")}
