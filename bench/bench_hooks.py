"""Hooks under load: N jobs (`/bin/true`) in an in-process engine whose webhook takes `job_started` and
`job_completed` (2 N events, signed with HMAC-SHA256), delivered to an HTTP receiver on 127.0.0.1 that runs
in its own process (so it takes no time from the engine's loop). Prints the events delivered, dropped and
failed, the deliveries the receiver counted, the wall time, and the engine loop's largest lag: how late a
10 ms timer on the loop fired, sampled throughout.

usage: python bench/bench_hooks.py [N=500] [CONCURRENCY=32] [WORKERS=4]
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from multiprocessing import Process, Queue
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.config import Config, Limits, LocalNode  # noqa: E402
from engine.config_hooks import Hook  # noqa: E402
from engine.core.engine import Engine  # noqa: E402
from engine.service.jobspec import parse_specs  # noqa: E402
from engine.service.verbs import JobService  # noqa: E402

TICK = 0.01


def receive(ports: Queue, secret: bytes) -> None:
    """The receiver: counts POSTs whose signature checks; `GET /count` answers `good bad`."""
    import hashlib
    import hmac
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    counts = {"good": 0, "bad": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            counts["good" if self.headers.get("X-Jobtui-Signature") == expected else "bad"] += 1
            self._answer(b"")

        def do_GET(self) -> None:
            self._answer(f"{counts['good']} {counts['bad']}".encode())

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ports.put(server.server_address[1])
    server.serve_forever()


async def watch_lag(stop: asyncio.Event, lags: list[tuple[float, float]]) -> None:
    """(when, how late) of a 10 ms timer, again and again until `stop`."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(TICK)
        lags.append((start, loop.time() - start - TICK))


def lag_line(what: str, lags: list[float]) -> str:
    if not lags:
        return f"{what}: no ticks"
    lags = sorted(lags)
    p99 = lags[int(0.99 * (len(lags) - 1))]
    return (
        f"{what} ({len(lags)} ticks): max {1000 * lags[-1]:.1f} ms, p99 {1000 * p99:.1f} ms, "
        f"median {1000 * lags[len(lags) // 2]:.1f} ms"
    )


async def main(n: int, concurrency: int, workers: int) -> int:
    """With hooks, then the same run without (the engine's own lag, for comparison)."""
    code = await run(n, concurrency, workers, hooks=True)
    await run(n, concurrency, workers, hooks=False)
    return code


async def run(n: int, concurrency: int, workers: int, hooks: bool) -> int:
    import httpx

    scratch = Path(tempfile.mkdtemp(prefix="jobtui-bench-hooks-"))
    secret_file = scratch / "secret"
    secret_file.write_bytes(b"bench-secret")
    ports: Queue = Queue()
    receiver = Process(target=receive, args=(ports, b"bench-secret"), daemon=True)
    receiver.start()
    url = f"http://127.0.0.1:{ports.get(timeout=10)}"
    hook = Hook(name="bench", events=["job_started", "job_completed"], url=f"{url}/hook", secret_file=secret_file)
    limits = Limits(max_concurrent=concurrency, user_max_concurrent=concurrency, team_max_concurrent=concurrency)
    config = Config(nodes=[LocalNode(name="local", cores=concurrency)], limits=limits, hooks=[hook] if hooks else [],
                    hook_delivery={"workers": workers, "queue": 10_000})  # fmt: skip
    engine = Engine(config, scratch / "state", "bench", poll_interval=0.1)
    await engine.start()
    service = JobService(engine)
    stop, lags = asyncio.Event(), list[tuple[float, float]]()
    watcher = asyncio.get_running_loop().create_task(watch_lag(stop, lags))
    start = time.perf_counter()
    jobs = await service.submit(service.actor("bench"), parse_specs([{"command": ["true"]} for _ in range(n)]))
    submitted = asyncio.get_running_loop().time()
    while not all(job.is_terminal for job in jobs):
        await asyncio.sleep(0.05)
    ran = time.perf_counter() - start
    await engine.hooks.drain()
    delivered_in = time.perf_counter() - start
    stop.set()
    await watcher
    counts = engine.hooks.counts
    await engine.stop()
    async with httpx.AsyncClient() as http:
        good, bad = map(int, (await http.get(f"{url}/count")).text.split())
    receiver.terminate()
    shutil.rmtree(scratch, ignore_errors=True)
    expected = 2 * n if hooks else 0
    lost = expected - good
    print(f"-- {'with the webhook' if hooks else 'without hooks (baseline)'}: jobs {n}  concurrency {concurrency}  "
          f"hook workers {workers}")  # fmt: skip
    print(f"events expected {expected}  delivered {counts.delivered}  failed {counts.failed}  dropped {counts.dropped}")
    print(f"receiver counted {good} with a valid signature, {bad} without  ->  lost {lost}")
    print(f"jobs ran in {ran:.2f} s; every event delivered {delivered_in:.2f} s after submission")
    print(lag_line("engine loop lag, whole run", [lag for _, lag in lags]))
    print(lag_line("engine loop lag, once submitted", [lag for at, lag in lags if at >= submitted]))
    return 0 if lost == 0 and bad == 0 else 1


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    n, concurrency, workers = (args + [500, 32, 4][len(args) :])[:3]
    sys.exit(asyncio.run(main(n, concurrency, workers)))
