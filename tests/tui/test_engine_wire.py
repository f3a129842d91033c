"""The TUI over the wire contract with a real engine in this process: through its HTTP API (a job holding a
GPU), through `LocalClient` (cleanup removes rows), and the log pane finding a long log's end from its size."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from engine.api.client import HttpClient
from engine.api.daemon import EngineHost
from engine.api.tokens import read_owner_token
from engine.config import LocalNode
from tests.fixtures.engine import OWNER, kill_leftover_jobs, make_config
from tests.tui.fakes import FakeClient, fake_app, loaded
from tui.app import JobTuiApp
from tui.screens.log_feed import TAIL_BYTES, LogFeed


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[EngineHost]:
    """An engine whose one node has two GPUs, serving its API on a Unix socket."""
    host = EngineHost(make_config(nodes=[LocalNode(name="local", cores=8, gpus=2)]), tmp_path / "state", OWNER)
    await host.start()
    try:
        yield host
    finally:
        await host.stop()
        kill_leftover_jobs(host.state_dir)


async def until(pilot: Any, condition: Callable[[], Any], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await pilot.pause(0.05)


async def test_a_tui_attached_over_http_shows_the_jobs_while_one_holds_a_gpu(host: EngineHost) -> None:
    owner = host.client()
    gpu_job, plain = await owner.submit(
        [{"command": ["sleep", "60"], "name": "on a gpu", "gpus": 1}, {"command": ["true"], "name": "plain"}]
    )
    while host.engine.get(gpu_job["id"]).status.value != "running":
        await asyncio.sleep(0.05)
    client = HttpClient(host.socket_path, read_owner_token(host.state_dir), OWNER)
    try:
        snapshot = await client.snapshot(view="rows")  # a 500 while a GPU was held (int keys in the node record)
        assert (await client.nodes())[0]["gpu_holders"] == {"0": gpu_job["id"]}
        assert snapshot["nodes"][0]["gpu_holders"] == {"0": gpu_job["id"]}
        app = JobTuiApp(client, live=False, theme="dark")
        async with app.run_test(size=(140, 40)) as pilot:
            await until(pilot, lambda: {gpu_job["id"], plain["id"]} <= set(app.index.rows))
            assert app.index.rows[gpu_job["id"]].status == "running"
            panel = str(app.main.query_one("#gpus").render())  # the engine's view: device 0 held, 1 free
            assert f"job {gpu_job['id']} {OWNER}" in panel and "free" in panel
    finally:
        await client.close()


async def test_cleanup_removes_the_rows_from_an_attached_tui(host: EngineHost) -> None:
    client = host.client()
    app = JobTuiApp(client, live=False, theme="dark")
    async with app.run_test(size=(120, 40)) as pilot:
        done = await client.submit([{"command": ["true"], "name": f"quick-{i}"} for i in range(3)])
        (running,) = await client.submit([{"command": ["sleep", "60"], "name": "stays"}])
        ended = [j["id"] for j in done]
        await until(pilot, lambda: all(i in app.index.rows and app.index.rows[i].status == "completed" for i in ended))
        await until(pilot, lambda: running["id"] in app.index.rows)
        await pilot.press("space")  # mark the job under the cursor (the first)
        assert app.main.table.marked == {ended[0]}
        assert await client.cleanup(0) == 3
        await until(pilot, lambda: set(app.index.rows) == {running["id"]})
        assert len(app.index) == 1 and app.index.counts["completed"] == 0
        assert app.main.table.marked == set() and app.main.table.cursor_id == running["id"]
        await client.cancel(running["id"])


async def test_jobs_removed_by_the_engine_leave_the_table_and_the_marks() -> None:
    client = FakeClient(10)
    app = fake_app(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, 10)
        await pilot.press("space", "space")  # mark 1 and 2; the cursor is on 3
        client.remove([1, 2, 5])
        await until(pilot, lambda: len(app.index.rows) == 7)
        assert sorted(app.index.rows) == [3, 4, 6, 7, 8, 9, 10] and len(app.index) == 7
        assert app.main.table.marked == set() and app.main.table.cursor_id == 3


async def test_the_log_pane_finds_the_end_of_a_long_log_from_its_size() -> None:
    client = FakeClient(3)
    lines = [f"line {i:06d}" for i in range(60_000)]  # 720,000 bytes
    client.logs_text[1] = "\n".join(lines) + "\n"
    feed = LogFeed(client, 1, "stdout")
    text = await feed.first()
    reads = [args for verb, args in client.calls if verb == "logs"]
    assert len(reads) <= 3 and all(limit >= TAIL_BYTES for _, _, _, limit in reads)  # no probing one byte at a time
    assert text.startswith("[… earlier output not shown …]\nline ") and text.endswith(f"{lines[-1]}\n")
    assert feed.offset == len(client.logs_text[1]) and feed.done
    shown = text.splitlines()[1:]
    assert shown == lines[-len(shown) :] and TAIL_BYTES - 20 <= len("\n".join(shown)) + 1 <= TAIL_BYTES

    short = FakeClient(1)
    short.logs_text[1] = "hello\n"
    feed = LogFeed(short, 1, "stdout")
    assert await feed.first() == "hello\n" and len(short.calls) == 1
