"""Does submission slow down as the queue grows? N jobs submitted in batches of B to a running `jobtui --serve`
whose only slot is held, so every job submitted stays queued (and every pass of the scheduler sees them all).

The node has one core and the limits allow one job at once; a first job (`sleep`) takes that slot before the
batches start. Each batch is one HTTP submission of B `true` jobs, with the submitter's environment and an
idempotency key, as `jobtui submit --file` sends them. Printed: wall time and the daemon's CPU time per batch for
the first and last batches (medians of 10 each) and their ratio, the medians of each tenth of the batches, and the
daemon's resident memory (VmRSS) before the batches and at each tenth of them.

usage: python bench/bench_queue_scale.py [N=100000] [B=1000]
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

EDGE = 10  # batches at each end whose medians are compared


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _fill(pid: int, state: Path, n: int, batch: int) -> tuple[list[float], list[float], list[tuple[int, float]]]:
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
        batches = n // batch
        for i in range(batches):
            cpu0, start = _cpu_seconds(pid), time.perf_counter()
            await client.submit(specs, key=uuid.uuid4().hex, environment=environment)
            walls.append(time.perf_counter() - start)
            cpus.append(_cpu_seconds(pid) - cpu0)
            if (i + 1) % max(1, batches // 10) == 0 or i + 1 == batches:
                rss.append(((i + 1) * batch, _rss_mib(pid)))
                print(f"{(i + 1) * batch:>9} queued: last batch {walls[-1] * 1000:7.1f} ms, RSS {rss[-1][1]:7.1f} MiB")
        return walls, cpus, rss
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
            walls, cpus, rss = asyncio.run(_fill(server.pid, state, n, batch))
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


if __name__ == "__main__":
    main()
