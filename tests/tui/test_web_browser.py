"""`jobtui --web` in a real headless Chromium: the real command serving the real TUI over textual-serve,
hosting a real engine that runs a job submitted by the real CLI.

The page shows the job table (the job's name arrives in what the page's terminal receives and draws), a key
typed in the page reaches the app (`?` opens its help), and nothing is served without the token.
Screenshots go to the test artefacts ($JOBTUI_ARTEFACTS, else ./test-artefacts). Skipped without chromium.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.fixtures import leftovers
from tests.fixtures.engine import JOBTUI, ROOT
from tests.tui.devtools import CHROMIUM, DevTools
from tests.tui.fakes import FakeClient, fake_app, loaded, make_job
from tests.waiting import wait_for

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (scripts/install-system-packages.sh)")
ARTEFACTS = Path(os.environ.get("JOBTUI_ARTEFACTS") or ROOT / "test-artefacts")
JOB_NAME = "web-visible-job"
# Everything the page's terminal receives, decoded: installed before the page's own scripts run.
TAP_TERMINAL = """
(() => {
  const Native = window.WebSocket;
  const decoder = new TextDecoder();
  window.__received = "";
  window.WebSocket = function (...args) {
    const socket = new Native(...args);
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") window.__received += decoder.decode(event.data, {stream: true});
    });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
})();
"""
ESCAPES = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]")


@dataclass
class WebConsole:
    url: str  # with its token
    base: str
    env: dict[str, str]


@pytest.fixture
async def web_console() -> AsyncIterator[WebConsole]:
    leftovers.claim("web")
    home = Path(tempfile.mkdtemp(prefix="jobtui-web-"))
    env = {**os.environ, "JOBTUI_HOME": str(home)}
    env.pop("JOBTUI_TOKEN", None)
    proc = await asyncio.create_subprocess_exec(
        *JOBTUI, "--web", "--listen", "127.0.0.1:0", env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert line.startswith("open: http://127.0.0.1:"), line
        url = line.split(" ", 1)[1].strip()
        yield WebConsole(url, url.split("/?", 1)[0], env)
    finally:
        subprocess.run([*JOBTUI, "cancel", "1"], env=env, capture_output=True, timeout=30)
        subprocess.run([*JOBTUI, "wait", "--timeout", "20", "1"], env=env, capture_output=True, timeout=30)
        proc.send_signal(signal.SIGTERM)  # by its pid: it stops its tabs' processes and its engine
        try:
            await asyncio.wait_for(proc.wait(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            shutil.rmtree(home, ignore_errors=True)
    await wait_for(lambda: not leftovers.leftovers("web"), timeout=30, what="the web console and its tabs to end")


@pytest.fixture
async def browser() -> AsyncIterator[DevTools]:
    tools = await DevTools.launch(width=1280, height=800)
    try:
        yield tools
    finally:
        await tools.close()
    assert not [p for p in leftovers.processes() if str(tools.profile) in p.argv], "chromium outlived the test"


async def test_nothing_is_served_without_the_token(web_console):
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/static/js/textual.js", "/ws"):
            async with http.get(web_console.base + path) as response:
                assert response.status == 401, path
        async with http.get(web_console.base + "/?token=not-a-token") as response:
            assert response.status == 401
        async with http.get(web_console.url, allow_redirects=False) as response:
            assert response.status == 303 and response.headers["Location"] == "/"  # the token leaves the URL
            assert "jobtui_web" in response.cookies
        issued = subprocess.run(
            [*JOBTUI, "token", "ann"], env=web_console.env, capture_output=True, text=True, timeout=60, check=True
        ).stdout.strip()
        async with http.get(f"{web_console.base}/?token={issued}", allow_redirects=False) as response:
            assert response.status == 303  # a token the owner issued opens it too: the TCP API's rule


async def test_browser_shows_the_job_table_and_keys_reach_the_app(web_console, browser):
    submitted = subprocess.run(
        [*JOBTUI, "submit", "--name", JOB_NAME, "--", "sleep", "120"],
        env=web_console.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    await browser.send("Page.enable")
    await browser.send("Page.addScriptToEvaluateOnNewDocument", source=TAP_TERMINAL)
    await browser.send("Page.navigate", url=web_console.url)

    async def screen_text() -> str:
        return ESCAPES.sub("", await browser.evaluate("window.__received || ''"))

    async def shows(text: str) -> bool:
        return text in await screen_text()

    await wait_for(lambda: shows(JOB_NAME), timeout=60, what="the job's row in the page")
    assert await shows("STATUS") and await shows("running")  # the table's header and the job's state
    painted = "document.body.classList.contains('-first-byte')"
    await wait_for(lambda: browser.evaluate(painted), timeout=10, what="the page's terminal to paint")
    await asyncio.sleep(0.5)  # let the terminal paint the last frame before the picture (not a check)
    await browser.screenshot(ARTEFACTS / "web-console.png")
    assert not await shows("(Esc closes)")

    await browser.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
    await browser.type_text("?")
    await wait_for(lambda: shows("(Esc closes)"), timeout=30, what="the help screen after `?`")
    await asyncio.sleep(0.5)
    await browser.screenshot(ARTEFACTS / "web-console-help.png")


async def test_tui_screenshot_as_png(browser, tmp_path):
    """The README's picture of the TUI: a snapshot of the app (SVG), drawn by Chromium as a PNG."""
    client = FakeClient([make_job(i) for i in range(1, 40)])
    client.jobs[4] = make_job(4, "running", progress={**make_job(4)["progress"], "text": "Step 3 of 10"})
    app = fake_app(client)
    async with app.run_test(size=(120, 32)) as pilot:
        await loaded(pilot)
        await pilot.press("j", "j", "j", "enter")
        await pilot.pause(0.3)
        svg = tmp_path / "tui.svg"
        svg.write_text(app.export_screenshot(title="jobtui"))
    await browser.send("Page.enable")
    await browser.send("Page.navigate", url=svg.as_uri())
    loaded_svg = f"location.href === {json.dumps(svg.as_uri())} && document.readyState === 'complete'"
    await wait_for(lambda: browser.evaluate(loaded_svg), timeout=10, what="the SVG to load")
    await browser.evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")  # painted
    size = "(() => { const r = document.documentElement.getBoundingClientRect(); return [r.width, r.height]; })()"
    width, height = await browser.evaluate(size)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shot = await browser.send(
        "Page.captureScreenshot", format="png", clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
    )
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    (ARTEFACTS / "tui.png").write_bytes(png)
