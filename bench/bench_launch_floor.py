"""What durability costs a launcher on this machine, piece by piece: N `/usr/bin/true` jobs at concurrency C from a
bare asyncio loop (posix_spawn, pidfd), first as `sh -c 'exec true'` alone, then adding one piece at a time.

- `sh -c exec true`: the loop and a shell per job, nothing recorded (the `xargs -P` of Python).
- `+ sqlite`: each job's intent, start and end committed to a SQLite WAL database, one transaction per round of
  the loop (as jobtui's group commits), the intent before the spawn.
- `wrapper + run dir`: no database, but each job gets its run directory and runs under jobtui's own wrapper
  (its output files, and its line in the exit journal: what lets a job outlive its launcher).
- `durable floor`: both; `bench_local.py`'s durable floor.
- `+ cgroups`: the durable floor with jobtui's containment of a default job (`engine.containment`: a cgroup per
  job made with its CPU limit before the spawn, joined by the wrapper, its usage read and the cgroup removed after
  the end); left out where this process may not make cgroups. `bench_local.py`'s contained floor.

The difference between the first and the last is what a durable launcher cannot avoid here; jobtui's own engine
work is the difference between the durable floor and jobtui in `bench_local.py`. Medians of ROUNDS rounds, each
round running the variants in rotated order, with the file system synced before each.

usage: python bench/bench_launch_floor.py [N=2000] [C=16] [ROUNDS=3]
"""

from __future__ import annotations

import asyncio
import contextlib
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

from engine.containment.group import AttemptGroup, Limits, handed_down, limit_settings  # noqa: E402
from engine.containment.mode import Mode, detect  # noqa: E402
from engine.executors.wrapper import CGROUP_PROCS_ENV, wrapper_argv  # noqa: E402

TRUE = shutil.which("true") or "/bin/true"
DEVNULL_STDIN = (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)
VARIANTS = {  # name: (commit transitions, wrapper and run directory, cgroups)
    "sh -c exec true": (False, False, False),
    "+ sqlite": (True, False, False),
    "wrapper + run dir": (False, True, False),
    "durable floor": (True, True, False),
    "+ cgroups": (True, True, True),
}


def containment() -> Mode | None:
    """This machine's cgroups as jobtui would use them, or None where this process may not make any."""
    mode = detect()
    return mode if mode.uses_cgroups else None


async def launch(n: int, c: int, scratch: Path, commit: bool, wrapped: bool, contained: bool = False) -> float:
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
    (runs / "exits").mkdir(parents=True)
    mode = containment() if contained else None
    key = f"floor-{os.getpid()}"
    limits = Limits(cpus=1.0)  # a default job's: one CPU, no memory limit unless it asks for one

    async def one(job: int) -> None:
        async with gate:
            await record(job, "starting")
            run_dir = str(runs / f"{job}.1")
            group, job_env = None, env
            if mode is not None:
                group = AttemptGroup.planned(mode, key, f"{job}.1", limits)
                group.make(limit_settings(mode, limits), handed_down(mode))
                job_env = {**env, CGROUP_PROCS_ENV: "\n".join(group.procs_files())}
            if wrapped:
                os.mkdir(run_dir, 0o700)
                argv = wrapper_argv(run_dir, str(scratch), [TRUE], 0o022, str(runs / "exits" / "1"))
            else:
                argv = ["/bin/sh", "-c", f"exec {TRUE}"]
            pid = os.posix_spawn(argv[0], argv, job_env, setsid=True, file_actions=[DEVNULL_STDIN])
            fd = os.pidfd_open(pid)
            await record(job, "running")
            ended = loop.create_future()
            loop.add_reader(fd, lambda: ended.done() or ended.set_result(None))
            await ended
            loop.remove_reader(fd)
            os.close(fd)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0  # the wrapper exits with the code it recorded
            if group is not None:
                group.ended()
            await record(job, "completed")

    began = time.perf_counter()
    await asyncio.gather(*(one(job) for job in range(n)))
    elapsed = time.perf_counter() - began
    db.close()
    if mode is not None:
        for parent in mode.parents:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(parent, f"jobtui-{key}"))
    return elapsed


def main() -> None:
    args = [int(a) for a in sys.argv[1:]]
    n, c, rounds = (args + [2000, 16, 3][len(args) :])[:3]
    names = [name for name, (_, _, contained) in VARIANTS.items() if not contained or containment() is not None]
    results: dict[str, list[float]] = {name: [] for name in names}
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
