"""The TUI attaching to a real `jobtui --serve` whose store holds N jobs: first screen, key latency, memory.

Unlike bench_tui.py (an in-memory client), this goes through the engine's HTTP API on its Unix socket:
the compact table snapshot is built, encoded, sent and parsed for real.

usage: python bench/bench_tui_attach.py [N=100000] [STATE_DIR=/tmp/jobtui-bench-attach]
(the store is filled once, by an in-process engine, and reused by later runs)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_tui import FrameClock, key_latencies, rss_mb  # noqa: E402
from engine.api.discovery import attach  # noqa: E402
from engine.config import Config  # noqa: E402
from engine.core.engine import Engine  # noqa: E402
from engine.service.jobspec import JobSpec  # noqa: E402
from engine.service.verbs import JobService  # noqa: E402
from tui.app import JobTuiApp  # noqa: E402


async def fill(state_dir: Path, n: int) -> None:
    engine = Engine(Config(), state_dir, "bench")
    await engine.start()
    try:
        service = JobService(engine)
        actor = service.actor("bench")
        have = engine.job_count
        for start in range(have, n, 2000):
            batch = [
                JobSpec(command=["true"], name=f"sim-{i}", requires_approval=True, tags=["bench"])
                for i in range(start, min(n, start + 2000))
            ]
            await service.submit(actor, batch)
    finally:
        await engine.stop()


async def measure(state_dir: Path, n: int) -> None:
    client = attach(state_dir)
    t0 = time.perf_counter()
    app = JobTuiApp(client)
    frames = FrameClock(app)
    ctx = app.run_test(size=(120, 40))
    await ctx.__aenter__()
    while not app.index.rows:
        await asyncio.sleep(0.001)
    first = await frames.first_after(time.perf_counter()) - t0
    while len(app.index.rows) < n:
        await asyncio.sleep(0.001)
    whole = await frames.first_after(time.perf_counter()) - t0
    print(f"attached to a daemon holding {n:,} jobs: first screen {first:.3f} s, every job in the table {whole:.3f} s")
    idle = await key_latencies(app, frames, 50)
    print(f"key->repaint: p50 {statistics.median(idle):.1f} ms  p95 {statistics.quantiles(idle, n=20)[18]:.1f} ms")
    print(f"TUI process RSS {rss_mb():.0f} MB")
    await ctx.__aexit__(None, None, None)
    await client.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    state_dir = Path(sys.argv[2] if len(sys.argv) > 2 else "/tmp/jobtui-bench-attach")
    t = time.perf_counter()
    asyncio.run(fill(state_dir, n))
    print(f"store ready with {n:,} jobs ({time.perf_counter() - t:.1f} s)")
    env = {**os.environ, "JOBTUI_HOME": str(state_dir)}
    t = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "--serve"], env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    try:
        server.stderr.readline()
        print(f"daemon up (loads the store) in {time.perf_counter() - t:.2f} s")
        asyncio.run(measure(state_dir, n))
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
