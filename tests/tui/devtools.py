"""A headless Chromium for tests, driven over its DevTools protocol (a websocket; aiohttp is the client).

The system's `chromium` only (no browser download); its own scratch profile under /tmp/jobtui-chromium-*,
so the leftover sweep (tests/fixtures/leftovers.py, kind "web") recognises it; stopped by its process group.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class DevTools:
    """One page of a headless Chromium this object started."""

    def __init__(self, proc: subprocess.Popen[bytes], profile: Path) -> None:
        self.proc, self.profile = proc, profile
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def launch(cls, width: int = 1280, height: int = 800, timeout: float = 30.0) -> DevTools:
        assert CHROMIUM is not None, "chromium is not installed (scripts/install-system-packages.sh)"
        profile = Path(tempfile.mkdtemp(prefix="jobtui-chromium-"))
        argv = [
            CHROMIUM, "--headless=new", "--no-sandbox", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-component-update",
            "--enable-unsafe-swiftshader", f"--window-size={width},{height}", f"--user-data-dir={profile}",
            "--remote-debugging-port=0", "about:blank",
        ]  # fmt: skip
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        tools = cls(proc, profile)
        try:
            await tools._connect(timeout)
        except BaseException:
            await tools.close()
            raise
        return tools

    async def _connect(self, timeout: float) -> None:
        port_file = self.profile / "DevToolsActivePort"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not port_file.exists() or len(port_file.read_text().split()) < 2:
            assert self.proc.poll() is None, f"chromium exited with {self.proc.returncode}"
            assert loop.time() < deadline, "chromium did not open its DevTools port"
            await asyncio.sleep(0.05)
        port = port_file.read_text().split()[0]
        self._session = aiohttp.ClientSession()
        async with self._session.get(f"http://127.0.0.1:{port}/json/list") as response:
            pages = [t for t in await response.json() if t["type"] == "page"]
        self._ws = await self._session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            data = json.loads(message.data)
            future = self._answers.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(data)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        assert self._ws is not None
        call_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._answers[call_id] = future
        await self._ws.send_str(json.dumps({"id": call_id, "method": method, "params": params}))
        answer = await asyncio.wait_for(future, 30)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))

    async def type_text(self, text: str) -> None:
        """Key presses, as a user's keyboard sends them to the focused element."""
        for char in text:
            await self.send("Input.dispatchKeyEvent", type="keyDown", text=char, key=char, unmodifiedText=char)
            await self.send("Input.dispatchKeyEvent", type="keyUp", key=char)

    async def close(self) -> None:
        """Stop this Chromium (its whole process group, by its pid) and remove its profile."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            await asyncio.to_thread(self.proc.wait, 10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            await asyncio.to_thread(self.proc.wait, 10)
        shutil.rmtree(self.profile, ignore_errors=True)
