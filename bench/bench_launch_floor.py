"""What durability costs a launcher on this machine, piece by piece: N `/usr/bin/true` jobs at concurrency C from a
bare asyncio loop (posix_spawn, pidfd), first as `sh -c 'exec true'` alone, then adding one piece at a time.

- `sh -c exec true`: the loop and a shell per job, nothing recorded (the `xargs -P` of Python).
- `+ sqlite`: each job's intent, start and end committed to a SQLite WAL database, one transaction per round of
  the loop (as jobtui's group commits), the intent before the spawn.
- `wrapper + run dir`: no database, but each job gets its run directory and runs under jobtui's own wrapper
  (its output files and its exit file: what lets a job outlive its launcher).
- `durable floor`: both; `bench_local.py`'s durable floor.

The difference between the first and the last is what a durable launcher cannot avoid here; jobtui's own engine
work is the difference between the durable floor and jobtui in `bench_local.py`. Medians of ROUNDS rounds, each
round running the variants in rotated order, with the file system synced before each.

usage: python bench/bench_launch_floor.py [N=2000] [C=16] [ROUNDS=3]
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.executors.wrapper import wrapper_argv  # noqa: E402

TRUE = shutil.which("true") or "/bin/true"
DEVNULL_STDIN = (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)
VARIANTS = {  # name: (commit transitions, wrapper and run directory)
    "sh -c exec true": (False, False),
    "+ sqlite": (True, False),
    "wrapper + run dir": (False, True),
    "durable floor": (True, True),
}


async def launch(n: int, c: int, scratch: Path, commit: bool, wrapped: bool) -> float:
    db = sqlite3.connect(scratch / "floor.db", isolation_level=None)
    db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE t(job, status, at);")
    loop = asyncio.get_running_loop()
    pending: list[tuple[int, str, float]] = []
    committing: asyncio.Task[None] | None = None

    async def commit_round() -> None:
        await asyncio.sleep(0)  # every transition of this round of the loop in one transaction
        rows = pending.copy()
        pending.clear()
        db.execute("BEGIN")
        db.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
        db.execute("COMMIT")

    async def record(job: int, status: str) -> None:
        nonlocal committing
        if not commit:
            return
        pending.append((job, status, time.time()))
        if committing is None or committing.done():
            committing = loop.create_task(commit_round())
        await asyncio.shield(committing)

    gate = asyncio.Semaphore(c)
    env = dict(os.environ)
    runs = scratch / "runs"
    runs.mkdir()

    async def one(job: int) -> None:
        async with gate:
            await record(job, "starting")
            run_dir = str(runs / f"{job}.1")
            if wrapped:
                os.mkdir(run_dir, 0o700)
                argv = wrapper_argv(run_dir, str(scratch), [TRUE], 0o022)
            else:
                argv = ["/bin/sh", "-c", f"exec {TRUE}"]
            pid = os.posix_spawn(argv[0], argv, env, setsid=True, file_actions=[DEVNULL_STDIN])
            fd = os.pidfd_open(pid)
            await record(job, "running")
            ended = loop.create_future()
            loop.add_reader(fd, lambda: ended.done() or ended.set_result(None))
            await ended
            loop.remove_reader(fd)
            os.close(fd)
            os.waitpid(pid, 0)
            if wrapped:
                Path(run_dir, "exit").read_bytes()
            await record(job, "completed")

    began = time.perf_counter()
    await asyncio.gather(*(one(job) for job in range(n)))
    elapsed = time.perf_counter() - began
    db.close()
    return elapsed


def main() -> None:
    args = [int(a) for a in sys.argv[1:]]
    n, c, rounds = (args + [2000, 16, 3][len(args) :])[:3]
    results: dict[str, list[float]] = {name: [] for name in VARIANTS}
    names = list(VARIANTS)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            os.sync()
            with tempfile.TemporaryDirectory(prefix="jobtui-floor-") as tmp:
                results[name].append(asyncio.run(launch(n, c, Path(tmp), *VARIANTS[name])))
    first = statistics.median(results[names[0]])
    print(f"{n} x {TRUE} at concurrency {c}, {rounds} rounds, median wall:")
    for name, times in results.items():
        m = statistics.median(times)
        print(f"{name:<20}{m / n * 1000:8.3f} ms/job {m / first:6.2f}x")


if __name__ == "__main__":
    main()
