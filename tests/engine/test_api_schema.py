"""Validation at the edge: the OpenAPI document shows every bound the API checks, every route declares the
errors it answers (with one error body), and out-of-bounds requests are a 404/422 JSON answer, never a 500
nor a stream that breaks after its 200."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from engine.api.server import MAX_REASON, build_app
from engine.api.tokens import TokenRegistry
from engine.service.jobspec import MAX_ARGUMENT, MAX_ID, MAX_TEXT
from engine.service.reads import MAX_LOG_CHUNK, MAX_LOG_OFFSET
from engine.service.verbs import MAX_LIMIT
from tests.fixtures.engine import OWNER, Rig

TOKEN = "owner-token"
ERROR = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture
async def http(rig: Rig) -> AsyncIterator[httpx.AsyncClient]:
    """The API of `rig`'s engine, in process, as its owner."""
    app = build_app(rig.service, TokenRegistry(OWNER, TOKEN))
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://jobtui", headers=headers) as client:
        yield client


@pytest.fixture
async def schema(http: httpx.AsyncClient) -> dict[str, Any]:
    return (await http.get("/openapi.json")).json()


def _parameters(schema: dict[str, Any], path: str, method: str = "get") -> dict[str, dict[str, Any]]:
    """The schema of each parameter of an operation (an optional one's non-null branch)."""
    out = {}
    for param in schema["paths"][path][method]["parameters"]:
        found = param["schema"]
        out[param["name"]] = next((s for s in found.get("anyOf", []) if s.get("type") != "null"), found)
    return out


async def test_submit_bodies_are_job_specs_with_their_bounds(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    body = schema["paths"]["/api/queue/submit"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/SubmitBody"}
    assert components["SubmitBody"]["properties"]["jobs"]["items"] == {"$ref": "#/components/schemas/JobSpec"}
    spec = components["JobSpec"]
    props = spec["properties"]
    assert spec["additionalProperties"] is False and spec["required"] == ["command"]
    assert props["command"]["minItems"] == 1 and props["command"]["maxItems"] == 4096
    assert props["command"]["items"]["maxLength"] == MAX_ARGUMENT
    assert {"minimum": 0, "maximum": 100}.items() <= props["priority"]["anyOf"][0].items()
    assert {"minimum": 0, "maximum": 1024}.items() <= props["gpus"].items()
    assert props["name"]["anyOf"][0]["maxLength"] == MAX_TEXT
    assert props["env"]["propertyNames"]["pattern"] == "^[A-Za-z_][A-Za-z0-9_]*$"
    job_id = props["after"]["items"]["anyOf"][0]
    assert job_id["minimum"] == 1 and job_id["maximum"] == float(MAX_ID)  # the document writes it as a float
    header = _parameters(schema, "/api/queue/submit", "post")["Idempotency-Key"]
    assert header["maxLength"] == 200


async def test_every_route_declares_the_errors_it_answers_with_one_body(schema: dict[str, Any]) -> None:
    assert schema["components"]["schemas"]["ErrorBody"]["required"] == ["error", "message"]
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            answers = operation["responses"]
            if path == "/api/health":
                assert set(answers) == {"200"}
                continue
            expected = {"401", "403", "422"}
            if "{job_id}" in path or path == "/api/queue/wait":
                expected.add("404")
            if path.startswith("/api/queue/{job_id}/") or path == "/api/queue/submit":
                expected.add("409")
            assert expected <= set(answers), (method, path, sorted(answers))
            for code in set(answers) - {"200"}:
                assert answers[code]["content"]["application/json"]["schema"] == ERROR, (method, path, code)


async def test_query_parameters_and_limits_are_bounded_in_the_document(schema: dict[str, Any]) -> None:
    logs = _parameters(schema, "/api/jobs/{job_id}/logs")
    assert logs["stream"]["enum"] == ["stdout", "stderr"]
    assert (logs["offset"]["minimum"], logs["offset"]["maximum"]) == (0, MAX_LOG_OFFSET)
    assert (logs["limit"]["minimum"], logs["limit"]["maximum"]) == (1, MAX_LOG_CHUNK)
    assert logs["attempt"]["minimum"] == 1
    assert _parameters(schema, "/api/queue")["limit"]["minimum"] == 0
    assert _parameters(schema, "/api/snapshot")["limit"]["minimum"] == 0
    assert _parameters(schema, "/api/queue/cleanup", "post")["days"]["minimum"] == 0
    assert _parameters(schema, "/api/queue/{job_id}/reject", "post")["reason"]["maxLength"] == MAX_REASON
    limits = schema["components"]["schemas"]["ConcurrencyBody"]["properties"]
    for name in ("max_concurrent", "user_max_concurrent", "team_max_concurrent"):
        assert {"minimum": 1, "maximum": MAX_LIMIT}.items() <= limits[name]["anyOf"][0].items(), name


@pytest.mark.parametrize(
    "method,path,kw",
    [
        ("get", "/api/jobs/{id}/logs", {"params": {"stream": "stdin"}}),
        ("get", "/api/jobs/{id}/logs", {"params": {"offset": -1}}),
        ("get", "/api/jobs/{id}/logs", {"params": {"offset": 2**44}}),  # past what ext4 seeks to
        ("get", "/api/jobs/{id}/logs", {"params": {"limit": 0}}),
        ("get", "/api/jobs/{id}/logs", {"params": {"limit": 64 << 20}}),
        ("get", "/api/jobs/{id}/logs", {"params": {"attempt": 0}}),
        ("get", "/api/queue", {"params": {"limit": -1}}),
        ("get", "/api/snapshot", {"params": {"limit": 2**64}}),
        ("get", "/api/snapshot", {"params": {"view": "everything"}}),
        ("post", "/api/queue/cleanup", {"params": {"days": "nan"}}),
        ("post", "/api/queue/cleanup", {"params": {"days": "inf"}}),
        ("post", "/api/queue/cleanup", {"params": {"days": -1}}),
        ("post", "/api/queue/{id}/reject", {"params": {"reason": "x" * (MAX_REASON + 1)}}),
        ("post", "/api/queue/concurrency", {"json": {"max_concurrent": 2**64}}),
        ("post", "/api/queue/concurrency", {"json": {"user_max_concurrent": 0}}),
        ("get", "/api/events", {"headers": {"Last-Event-ID": "not-a-number"}}),
        ("post", "/api/tokens", {"json": {"user": "a\x00b"}}),
    ],
)
async def test_out_of_bounds_requests_are_refused_with_the_error_body(
    rig: Rig, http: httpx.AsyncClient, method: str, path: str, kw: dict[str, Any]
) -> None:
    job = await rig.submit_one(["true"], requires_approval=True)
    response = await http.request(method.upper(), path.format(id=job.id), **kw)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "Invalid request" and body["message"].endswith("Fix the request.")


async def test_limits_too_large_for_json_readers_are_refused_in_process_too(rig: Rig) -> None:
    from engine.errors import ValidationError

    with pytest.raises(ValidationError, match=f"more than {MAX_LIMIT}"):
        await rig.service.set_limits(rig.actor(), {"max_concurrent": 2**64})


async def test_following_logs_checks_the_request_before_it_streams(rig: Rig, http: httpx.AsyncClient) -> None:
    job = await rig.submit_one(["echo", "hi"])
    await rig.wait_terminal(job.id)
    missing = await http.get("/api/jobs/999/logs", params={"follow": True})
    assert missing.status_code == 404 and "job 999 does not exist" in missing.json()["message"]
    no_attempt = await http.get(f"/api/jobs/{job.id}/logs", params={"follow": True, "attempt": 5})
    assert no_attempt.status_code == 404
    assert no_attempt.json()["message"].startswith(f"job {job.id} has no attempt 5 (it has had 1)")
    bad_stream = await http.get(f"/api/jobs/{job.id}/logs", params={"follow": True, "stream": "both"})
    assert bad_stream.status_code == 422 and bad_stream.headers["content-type"] == "application/json"
    followed = await http.get(f"/api/jobs/{job.id}/logs", params={"follow": True})
    assert followed.status_code == 200 and followed.text == "hi\n"


async def test_the_largest_log_offset_reads_as_the_end_of_the_output(rig: Rig, http: httpx.AsyncClient) -> None:
    job = await rig.submit_one(["echo", "hi"])
    await rig.wait_terminal(job.id)
    end = await http.get(f"/api/jobs/{job.id}/logs", params={"offset": MAX_LOG_OFFSET})
    assert end.status_code == 200, end.text
    assert (end.json()["data"], end.json()["size"], end.json()["done"]) == ("", 3, True)


async def test_submission_errors_name_the_job_and_field_over_http(rig: Rig, http: httpx.AsyncClient) -> None:
    response = await http.post("/api/queue/submit", json={"jobs": [{"command": ["true"]}, {"command": [], "cpu": 1}]})
    assert response.status_code == 422
    message = response.json()["message"]
    assert "submission: job #2: field 'command': List should have at least 1 item" in message
    assert "submission: job #2: field 'cpu': unknown field; remove it or check its spelling" in message
    assert message.endswith("Nothing was submitted; fix these and submit again.")
    assert rig.engine.job_count == 0
