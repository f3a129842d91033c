"""Does submission slow down as the queue grows? N jobs submitted in batches of B to a running `jobtui --serve`
whose only slot is held, so every job submitted stays queued (and every pass of the scheduler sees them all).

The node has one core and the limits allow one job at once; a first job (`sleep`) takes that slot before the
batches start. Each batch is one HTTP submission of B `true` jobs, with the submitter's environment and an
idempotency key, as `jobtui submit --file` sends them. Printed: wall time and the daemon's CPU time per batch for
the first and last batches (medians of 10 each) and their ratio, the medians of each tenth of the batches, and the
daemon's resident memory (VmRSS) before the batches and at each tenth of them.

`plan()` at each tenth: the scheduler's pass, timed here on a ready queue that mirrors the daemon's (the same jobs,
ids and user, one `QueueIndex`), in the two cases a pass meets: the only slot held (what the daemon's pass does
after each batch) and one slot free (a pass that picks the best job to start). Medians of 200 passes, in µs.

usage: python bench/bench_queue_scale.py [N=100000] [B=1000]   (1,000,000 in batches of 1,000: 7 to 10 minutes)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.api.discovery import attach  # noqa: E402
from engine.models import Job  # noqa: E402
from engine.scheduling.plan import NodeState, Policy, Usage, plan  # noqa: E402
from engine.scheduling.queue_index import QueueIndex  # noqa: E402

EDGE = 10  # batches at each end whose medians are compared
PASSES = 200  # plan() calls timed at each tenth


def _plan_us(ready: QueueIndex, user: str) -> tuple[float, float]:
    """Median µs of a pass with the only slot held, and of one with a slot free (it picks the best job)."""
    policy = Policy(max_concurrent=1, user_max_concurrent=1, team_max_concurrent=1)
    held, free = Usage(total=1, by_user={user: 1}), Usage()
    timings = []
    for usage in (held, free):
        times = []
        for _ in range(PASSES):
            node = NodeState("local", cores=1, mem_mb=0, used_cores=usage.total, running=usage.total)
            start = time.perf_counter()
            plan(ready, usage, [node], policy)
            times.append(time.perf_counter() - start)
        timings.append(statistics.median(times) * 1e6)
    return timings[0], timings[1]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


Fill = tuple[list[float], list[float], list[tuple[int, float]], list[tuple[int, float, float]]]


async def _fill(pid: int, state: Path, n: int, batch: int) -> Fill:
    client = attach(state)  # the owner's token from the state directory, as the CLI does
    blocker = None
    try:
        (blocker,) = await client.submit([{"command": ["sleep", "3600"], "name": "blocker"}], key=uuid.uuid4().hex)
        deadline = time.monotonic() + 30
        while (await client.job(blocker["id"]))["job"]["status"] != "running":
            if time.monotonic() > deadline:
                raise SystemExit("the blocking job did not start within 30 s")
            await asyncio.sleep(0.05)
        environment = dict(os.environ)
        specs = [{"command": ["true"], "name": "queued"} for _ in range(batch)]
        walls: list[float] = []
        cpus: list[float] = []
        rss = [(0, _rss_mib(pid))]
        ready, user = QueueIndex(), blocker["user"]
        passes = [(0, *_plan_us(ready, user))]
        batches = n // batch
        for i in range(batches):
            cpu0, start = _cpu_seconds(pid), time.perf_counter()
            jobs = await client.submit(specs, key=uuid.uuid4().hex, environment=environment)
            walls.append(time.perf_counter() - start)
            cpus.append(_cpu_seconds(pid) - cpu0)
            for job in jobs:  # the mirror of the daemon's ready queue
                ready.add(Job(job["id"], job["name"], job["command"], job["user"]), job["priority"])
            if (i + 1) % max(1, batches // 10) == 0 or i + 1 == batches:
                rss.append(((i + 1) * batch, _rss_mib(pid)))
                passes.append(((i + 1) * batch, *_plan_us(ready, user)))
                print(
                    f"{(i + 1) * batch:>9} queued ({time.strftime('%H:%M:%S')}): last batch {walls[-1] * 1000:7.1f} "
                    f"ms, RSS {rss[-1][1]:7.1f} MiB, plan() {passes[-1][1]:.1f} / {passes[-1][2]:.1f} µs",
                    flush=True,
                )
        return walls, cpus, rss, passes
    finally:  # the blocking job outlives the engine like any job: cancelled, whatever happened
        if blocker is not None:
            await client.cancel(blocker["id"])
        await client.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    with tempfile.TemporaryDirectory(prefix="jobtui-queue-") as tmp:
        scratch = Path(tmp)
        config = scratch / "bench.yaml"
        config.write_text(
            "nodes:\n  - name: local\n    kind: local\n    cores: 1\n"
            "limits:\n  max_concurrent: 1\n  user_max_concurrent: 1\n  team_max_concurrent: 1\n"
        )
        state = scratch / "state"
        env = {**os.environ, "JOBTUI_HOME": str(state)}
        server = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "--config", str(config), "--serve"],
            env=env,
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stderr is not None
            server.stderr.readline()  # "serving on ..." once the socket listens
            start = time.perf_counter()
            walls, cpus, rss, passes = asyncio.run(_fill(server.pid, state, n, batch))
            total = time.perf_counter() - start
        finally:
            server.terminate()
            server.wait(120)
    first, last = walls[:EDGE], walls[-EDGE:]
    first_cpu, last_cpu = cpus[:EDGE], cpus[-EDGE:]
    print(f"\n{len(walls)} batches of {batch} jobs ({len(walls) * batch} queued) in {total:.1f} s")
    print(f"{'per batch of ' + str(batch):<22}{'first ' + str(EDGE):>12}{'last ' + str(EDGE):>12}{'last/first':>12}")
    wf, wl = statistics.median(first), statistics.median(last)
    cf, cl = statistics.median(first_cpu), statistics.median(last_cpu)
    print(f"{'wall, ms (median)':<22}{wf * 1000:12.1f}{wl * 1000:12.1f}{wl / wf:11.2f}x")
    print(f"{'daemon CPU, ms':<22}{cf * 1000:12.1f}{cl * 1000:12.1f}{cl / cf:11.2f}x")
    tenth = max(1, len(walls) // 10)
    print("median per batch by tenth (queued before it: wall ms / daemon CPU ms):")
    for at in range(0, len(walls), tenth):
        w, c = statistics.median(walls[at : at + tenth]), statistics.median(cpus[at : at + tenth])
        print(f"  {at * batch:>9,}: {w * 1000:7.1f} / {c * 1000:6.1f}")
    print("daemon RSS, MiB: " + ", ".join(f"{queued:,}: {mib:.0f}" for queued, mib in rss))
    if len(rss) > 2:
        (q0, m0), (q1, m1) = rss[1], rss[-1]
        print(f"  per queued job from {q0:,} to {q1:,}: {(m1 - m0) * 1024 * 1024 / (q1 - q0):.0f} bytes")
    timed = ", ".join(f"{queued:,}: {held:.1f} / {free:.1f}" for queued, held, free in passes)
    print(f"plan() µs (median of {PASSES}), slot held / slot free: {timed}")


if __name__ == "__main__":
    main()
