"""TUI at scale, headless: first screen with N jobs, key -> repaint latency while job updates stream in,
and the process's memory.

An in-memory EngineClient (tests/tui/fakes.py) serves a snapshot of N jobs (built on request, like a
real snapshot) and streams RATE job_changed events a second. Frames are timed where Textual hands a
finished screen update to the driver (`App._display`), so a latency is key posted -> frame written.

usage: python bench/bench_tui.py [N=100000] [RATE=1000] [PRESSES=200] [WIDTHxHEIGHT=120x40]
"""

from __future__ import annotations

import asyncio
import random
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

T_IMPORT = time.perf_counter()
from textual import events  # noqa: E402

from tests.tui.fakes import T0, FakeClient  # noqa: E402
from tui.app import JobTuiApp  # noqa: E402

IMPORT_S = time.perf_counter() - T_IMPORT
SPENT: dict[str, float] = {}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


class FrameClock:
    """Records when each frame reaches the driver."""

    def __init__(self, app: JobTuiApp) -> None:
        self.times: list[float] = []
        original = app._display

        def display(screen, renderable):
            original(screen, renderable)
            self.times.append(time.perf_counter())

        app._display = display  # type: ignore[method-assign]

    async def first_after(
        self, t: float | None = None, handled: list[float] | None = None, limit: float = 5.0
    ) -> float:
        """The first frame written after `t`, or after the time `handled[0]` once it is set."""
        deadline = time.perf_counter() + limit
        while time.perf_counter() < deadline:
            mark = handled[0] if handled else t
            if mark is not None and self.times and self.times[-1] > mark:
                return next(f for f in self.times if f > mark)
            await asyncio.sleep(0.0005)
        raise TimeoutError("no frame")


async def first_screen(n: int, size: tuple[int, int]) -> tuple[float, JobTuiApp, FakeClient, FrameClock, object]:
    client = FakeClient(n, rate=0)
    snapshot = client.snapshot

    async def timed_snapshot(*args, **kwargs):
        t = time.perf_counter()
        try:
            return await snapshot(*args, **kwargs)
        finally:
            SPENT["fake snapshot"] = SPENT.get("fake snapshot", 0.0) + time.perf_counter() - t

    client.snapshot = timed_snapshot  # type: ignore[method-assign]
    t0 = time.perf_counter()
    app = JobTuiApp(client, clock=lambda: T0)
    frames = FrameClock(app)
    ctx = app.run_test(size=size)
    pilot = await ctx.__aenter__()
    while not app.index.rows:
        await asyncio.sleep(0.001)
    first_frame = await frames.first_after(time.perf_counter())
    while len(app.index.rows) < n:
        await asyncio.sleep(0.001)
    SPENT["every job shown"] = await frames.first_after(time.perf_counter()) - t0
    return first_frame - t0, app, client, frames, (ctx, pilot)


async def key_latencies(app: JobTuiApp, frames: FrameClock, presses: int) -> list[float]:
    rng = random.Random(1)
    table = app.main.table
    handled: list[float] = []
    move = table.move_cursor

    def timed_move(delta: int) -> None:
        move(delta)
        handled.append(time.perf_counter())

    table.move_cursor = timed_move  # type: ignore[method-assign]
    out = []
    for i in range(presses):
        key = "j" if i % 4 != 3 else "k"
        handled.clear()
        t = time.perf_counter()
        app.post_message(events.Key(key, key))
        frame = await frames.first_after(handled=handled)
        out.append((frame - t) * 1000)
        await asyncio.sleep(rng.uniform(0.02, 0.06))
    return out


async def main(n: int, rate: float, presses: int, size: tuple[int, int]) -> None:
    first_s, app, client, frames, (ctx, _pilot) = await first_screen(n, size)
    print(f"jobs {n}  size {size[0]}x{size[1]}  imports {IMPORT_S:.2f} s")
    print(
        f"first screen (app created -> first frame with jobs): {first_s:.3f} s; every one of {n} jobs in the "
        f"table: {SPENT['every job shown']:.3f} s, of which the fake client built its snapshots "
        f"{SPENT['fake snapshot']:.3f} s (bench_tui_attach.py measures a real daemon)"
    )
    idle = await key_latencies(app, frames, presses // 4)
    print(
        f"key->repaint idle:            p50 {statistics.median(idle):6.1f} ms  "
        f"p95 {statistics.quantiles(idle, n=20)[18]:6.1f} ms  max {max(idle):6.1f} ms"
    )
    client.rate = rate
    await app.bridge.stop()
    app.bridge.start()  # restart the reader on the streaming events
    await asyncio.sleep(1.5)
    seq0, t0 = client.seq, time.perf_counter()
    busy = await key_latencies(app, frames, presses)
    achieved = (client.seq - seq0) / (time.perf_counter() - t0)
    print(
        f"key->repaint under {achieved:,.0f} updates/s: p50 {statistics.median(busy):6.1f} ms  "
        f"p95 {statistics.quantiles(busy, n=20)[18]:6.1f} ms  max {max(busy):6.1f} ms  ({len(busy)} presses)"
    )
    t = time.perf_counter()
    app.main.sort_by("status")
    await frames.first_after(t)
    t_sort = time.perf_counter() - t
    t = time.perf_counter()
    app.main.set_filter("status:running user:ann")
    await frames.first_after(t)
    t_filter = time.perf_counter() - t
    print(
        f"re-sort by status -> frame {t_sort * 1000:.0f} ms; filter -> frame {t_filter * 1000:.0f} ms"
        f" ({len(app.index)} shown)"
    )
    print(f"RSS now {rss_mb():.0f} MB, peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    await ctx.__aexit__(None, None, None)


if __name__ == "__main__":
    args = sys.argv[1:]
    n = int(args[0]) if args else 100_000
    rate = float(args[1]) if len(args) > 1 else 1000.0
    presses = int(args[2]) if len(args) > 2 else 200
    w, h = (int(v) for v in (args[3] if len(args) > 3 else "120x40").split("x"))
    asyncio.run(main(n, rate, presses, (w, h)))
