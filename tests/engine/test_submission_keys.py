"""Idempotency keys of submissions: saved with the jobs, kept across a restart, forgotten with the jobs, taken
once when two submissions race, and what makes a lost connection safe to retry (per user: test_contract)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from engine.api.client import HttpClient
from engine.api.server import build_app
from engine.api.tokens import TokenRegistry
from engine.errors import Conflict, EngineUnavailable
from engine.models import JobStatus
from engine.service.jobspec import parse_specs
from tests.fixtures.engine import OWNER, Rig, db_rows

TOKEN = "owner-token"


async def submit(rig: Rig, key: str, *commands: list[str]) -> list[int]:
    specs = parse_specs([{"command": c, "requires_approval": True} for c in commands])
    return [j.id for j in await rig.service.submit(rig.actor(), specs, key)]


async def test_a_key_is_saved_with_its_jobs_and_outlives_a_restart(engine_factory: Callable[..., Any]) -> None:
    rig = await engine_factory()
    ids = await submit(rig, "k-1", ["true"], ["false"])
    ((user, key, ids_text),) = db_rows(rig.state_dir, "SELECT user, key, ids FROM submissions")
    assert (user, key, json.loads(ids_text)) == (OWNER, "k-1", ids)
    await rig.engine.stop()

    again = await engine_factory()  # the same state directory: a restarted daemon
    assert await submit(again, "k-1", ["true"], ["false"]) == ids
    assert again.engine.job_count == 2
    with pytest.raises(Conflict, match="already used"):
        await submit(again, "k-1", ["true"])
    assert await submit(again, "k-2", ["true"]) == [ids[-1] + 1]


async def test_cleanup_forgets_the_keys_of_the_jobs_it_removes(rig: Rig) -> None:
    (old,) = await submit(rig, "old", ["true"])
    (kept,) = await submit(rig, "kept", ["true"])
    await rig.service.cancel(rig.actor(), old)
    assert await rig.service.cleanup(rig.actor(), 0) == 1
    assert [row[0] for row in db_rows(rig.state_dir, "SELECT key FROM submissions")] == ["kept"]
    assert await submit(rig, "kept", ["true"]) == [kept]
    (new,) = await submit(rig, "old", ["true"])  # the key is free again: a new submission
    assert new != old and rig.engine.get(new).status == JobStatus.BLOCKED


async def test_two_submissions_racing_with_one_key_make_one_batch(rig: Rig) -> None:
    first, second = await asyncio.gather(*(submit(rig, "race", ["true"], ["true"]) for _ in range(2)))
    assert first == second and rig.engine.job_count == 2
    assert len(db_rows(rig.state_dir, "SELECT key FROM submissions")) == 1


class LosesTheFirstAnswer(httpx.AsyncBaseTransport):
    """Delivers every request; the first answer is lost on the way back (a timeout, a dropped connection)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        response = await self.inner.handle_async_request(request)
        if self.sent == 1:
            await response.aread()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


@pytest.mark.parametrize("key", ["retry-1", None])
async def test_a_submission_whose_answer_is_lost_is_retried_once_with_its_key(rig: Rig, key: str | None) -> None:
    """With a key, the retry gets the first's jobs: one job. Without one there is no retry (it could run twice)."""
    transport = LosesTheFirstAnswer(httpx.ASGITransport(app=build_app(rig.service, TokenRegistry(OWNER, TOKEN))))
    client = HttpClient(None, TOKEN, OWNER)
    client._http = httpx.AsyncClient(
        transport=transport, base_url="http://jobtui", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    try:
        if key is None:
            with pytest.raises(EngineUnavailable, match="cannot reach the engine"):
                await client.submit([{"command": ["true"], "requires_approval": True}], key=key)
            assert transport.sent == 1
        else:
            (job,) = await client.submit([{"command": ["true"], "requires_approval": True}], key=key)
            assert transport.sent == 2 and job["id"] == 1
        assert rig.engine.job_count == 1  # delivered once, submitted once
    finally:
        await client.close()
