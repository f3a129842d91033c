"""Delivering one event to one hook: a command (argv, the event as JSON on stdin) or an HTTP POST (JSON body,
optionally signed with HMAC-SHA256), each within its timeout, HTTP retried with back-off.

A command gets a small environment (PATH, HOME, locale, the desktop session's variables) and `JOBTUI_*`
variables naming the event; nothing it is given passes through a shell. A secret is read from its file for
each delivery and appears in no message.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import signal
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from engine.config_hooks import Hook

SIGNATURE_HEADER = "X-Jobtui-Signature"
PASSED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "DISPLAY", "WAYLAND_DISPLAY",
              "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS")  # fmt: skip
MAX_BACKOFF = 30.0
STDERR_SHOWN = 300


@dataclass(slots=True, frozen=True)
class Delivery:
    ok: bool
    detail: str  # "HTTP 200", "exit 0", or why it failed
    tries: int = 1


def signature(secret: bytes, body: bytes) -> str:
    """The header value a receiver recomputes: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def read_secret(hook: Hook) -> bytes:
    """The hook's key, stripped of a trailing newline; an OSError says the file cannot be read."""
    assert hook.secret_file is not None
    return hook.secret_file.expanduser().read_bytes().rstrip(b"\r\n")


async def deliver(hook: Hook, payload: dict[str, Any], http: httpx.AsyncClient, backoff: float = 0.5) -> Delivery:
    body = orjson.dumps({**payload, "hook": hook.name})
    if hook.command is not None:
        return await _run_command(hook, hook.command, payload, body, backoff)
    return await _post(hook, body, payload["event"], http, backoff)


def hook_environment(hook: Hook, payload: dict[str, Any]) -> dict[str, str]:
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env["JOBTUI_EVENT"] = payload["event"]
    env["JOBTUI_HOOK"] = hook.name
    job = payload.get("job")
    if job is not None:
        env["JOBTUI_JOB_ID"] = str(job["id"])
        env["JOBTUI_JOB_STATUS"] = job["status"]
        if job["workflow_id"] is not None:
            env["JOBTUI_WORKFLOW_ID"] = str(job["workflow_id"])
    if "node" in payload:
        env["JOBTUI_NODE"] = payload["node"]
    return env


async def _run_command(hook: Hook, argv: list[str], payload: dict[str, Any], body: bytes, backoff: float) -> Delivery:
    result = Delivery(False, "not run")
    for n in range(hook.tries):
        if n:
            await asyncio.sleep(min(MAX_BACKOFF, backoff * 2 ** (n - 1)))
        result = await _run_once(hook, argv, payload, body)
        result = Delivery(result.ok, result.detail, n + 1)
        if result.ok:
            break
    return result


async def _run_once(hook: Hook, argv: list[str], payload: dict[str, Any], body: bytes) -> Delivery:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            env=hook_environment(hook, payload), start_new_session=True,
        )  # fmt: skip
    except OSError as e:
        return Delivery(False, f"command {argv[0]!r} could not start ({e.strerror or e}); check the hook's command:")
    try:
        _, err = await asyncio.wait_for(proc.communicate(body), hook.timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        return Delivery(False, f"command {argv[0]!r} ran past its timeout of {hook.timeout:g} s and was killed")
    if proc.returncode == 0:
        return Delivery(True, "exit 0")
    tail = err.decode(errors="replace").strip()[-STDERR_SHOWN:]
    return Delivery(False, f"command {argv[0]!r} exited with code {proc.returncode}" + (f": {tail}" if tail else ""))


async def _post(hook: Hook, body: bytes, event: str, http: httpx.AsyncClient, backoff: float) -> Delivery:
    assert hook.url is not None
    headers = {"Content-Type": "application/json", "User-Agent": "jobtui-hooks", "X-Jobtui-Event": event,
               "X-Jobtui-Delivery": uuid.uuid4().hex}  # fmt: skip
    if hook.secret_file is not None:
        try:
            headers[SIGNATURE_HEADER] = signature(read_secret(hook), body)
        except OSError as e:
            return Delivery(
                False, f"secret_file {hook.secret_file} cannot be read ({e.strerror}); fix its path or mode"
            )
    result = Delivery(False, "not sent")
    for n in range(hook.tries):
        if n:
            await asyncio.sleep(min(MAX_BACKOFF, backoff * 2 ** (n - 1)))
        try:
            response = await http.post(hook.url, content=body, headers=headers, timeout=hook.timeout)
        except httpx.HTTPError as e:
            result = Delivery(False, f"POST {hook.url} failed: {e.__class__.__name__} {e}".rstrip(), n + 1)
            continue
        if response.is_success:
            return Delivery(True, f"HTTP {response.status_code}", n + 1)
        result = Delivery(False, f"POST {hook.url} answered HTTP {response.status_code}", n + 1)
        if response.status_code < 500 and response.status_code != 429:
            break  # the receiver refuses this request: sending it again changes nothing
    return result
