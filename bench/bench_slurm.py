"""500 jobs on a real local Slurm: scheduler queries per poll interval, and jobtui's overhead per job.

Usage (as root; starts and stops its own single-node Slurm under a temporary directory):
    .venv/bin/python bench/bench_slurm.py [--jobs 500] [--interval 1.0]

Prints: the time of plain `sbatch --parsable` per job; the time of jobtui's `launch()` per job (run
directory, script rendering, the same sbatch, id parsing) and the difference; then, while all jobs
are followed by `wait()`, the queue listings per poll interval (one, whatever the number of jobs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import ClusterNode  # noqa: E402
from engine.executors.base import LaunchSpec  # noqa: E402
from engine.executors.batch.executor import ClusterExecutor  # noqa: E402
from engine.executors.batch.slurm import SlurmDialect  # noqa: E402
from engine.models import Attempt, Job  # noqa: E402

SCRIPT = b"#!/bin/sh\n#SBATCH --output=/dev/null\ntrue\n"


async def plain_sbatch(n: int, env: dict[str, str]) -> float:
    """Seconds per job for bare `sbatch --parsable`, script on stdin, one after another."""
    t0 = time.perf_counter()
    for _ in range(n):
        proc = await asyncio.create_subprocess_exec(
            "sbatch", "--parsable", stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, **env}
        )
        await proc.communicate(SCRIPT)
    return (time.perf_counter() - t0) / n


async def drained(env: dict[str, str]) -> None:
    """Wait until the bare sbatch jobs have left the queue, so they do not slow what is measured next."""
    while subprocess.run(
        ["squeue", "-h", "-t", "PD,R,CG"], capture_output=True, text=True, env={**os.environ, **env}
    ).stdout.strip():
        await asyncio.sleep(0.5)


async def jobtui_launches(executor: ClusterExecutor, n: int, workdir: str) -> tuple[float, list[Attempt]]:
    attempts = []
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        job = Job(i, "bench", ["true"], "root")
        attempt = Attempt(i, 1, executor.node, executor.run_dir(i, 1), f"{i:016x}")
        await executor.launch(LaunchSpec(job, attempt, {}, workdir))
        attempts.append(attempt)
    return (time.perf_counter() - t0) / n, attempts


async def follow_all(executor: ClusterExecutor, attempts: list[Attempt], interval: float) -> dict[str, float]:
    before = dict(executor.queries)
    t0 = time.perf_counter()
    outcomes = await asyncio.gather(*(executor.wait(a) for a in attempts))
    elapsed = time.perf_counter() - t0
    lists = executor.queries["list"] - before.get("list", 0)
    return {
        "jobs": len(attempts),
        "completed": sum(1 for o in outcomes if o.exit_code == 0),
        "seconds": elapsed,
        "intervals": elapsed / interval,
        "list_queries": lists,
        "list_per_interval": lists / max(1.0, elapsed / interval),
        "accounting_queries": executor.queries["accounting"] - before.get("accounting", 0),
    }


async def bench(jobs: int, interval: float, scratch: Path) -> None:
    env = {"SLURM_CONF": str(scratch / "slurm.conf")}
    node = ClusterNode(name="slurm", kind="slurm", poll_interval=interval, lost_grace=30)
    executor = ClusterExecutor(node, SlurmDialect(("-c",)), str(scratch / "runs"), command_env=env)
    sbatch_s = await plain_sbatch(jobs, env)
    await drained(env)
    _, small = await jobtui_launches(executor, 10, str(scratch))
    small_stats = await follow_all(executor, small, interval)
    executor.root = str(scratch / "runs2")
    launch_s, attempts = await jobtui_launches(executor, jobs, str(scratch))
    stats = await follow_all(executor, attempts, interval)
    await executor.close()
    print(f"plain sbatch:        {sbatch_s * 1000:7.2f} ms/job ({jobs} jobs)")
    print(
        f"jobtui launch():     {launch_s * 1000:7.2f} ms/job  -> jobtui's own overhead "
        f"{(launch_s - sbatch_s) * 1000:+.2f} ms/job"
    )
    for label, s in (("10 jobs ", small_stats), (f"{jobs} jobs", stats)):
        print(
            f"following {label}: {s['completed']}/{s['jobs']} completed in {s['seconds']:.1f} s "
            f"({s['intervals']:.1f} intervals of {interval:g} s): {s['list_queries']} squeue calls = "
            f"{s['list_per_interval']:.2f} per interval, {s['accounting_queries']} sacct calls"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark starts its own Slurm daemons")
    scratch = Path(tempfile.mkdtemp(prefix="jobtui-bench-slurm-"))
    start = [str(ROOT / "scripts/start-slurm.sh"), str(scratch)]
    subprocess.run(start, check=True, env={**os.environ, "SLURM_CPUS": "8"})
    try:
        asyncio.run(bench(args.jobs, args.interval, scratch))
    finally:
        subprocess.run([str(ROOT / "scripts/stop-slurm.sh"), str(scratch)], check=False)


if __name__ == "__main__":
    main()
