"""N trivial jobs (`/bin/true`) at concurrency C: jobtui vs task-spooler, GNU parallel, `xargs -P C`, a bare
asyncio loop and a durable floor.

Each round runs every contender once, in rotating order (the A/B pair swapped every other round, and the
file system synced before each run, so no contender pays for the last one's writes), in this one process's
run; the table shows median wall ms/job over the rounds and the ratio of each median to jobtui's, and for each
jobtui contender the median CPU time its `--serve` process and its spawner spent per job (less sensitive to the
machine's other load than wall time). jobtui's figure covers the whole path: one HTTP submission of N jobs to a
running `jobtui --serve`, scheduling, detached launch under the wrapper, every transition persisted, until the
last job is recorded as ended. `xargs -P C` runs `sh -c 'exec true'` per job: the floor of any launcher that
starts a shell per job. The durable floor (`durable_floor`) is a bare asyncio loop doing only what durability
asks of a Python launcher: each job's intent and transitions committed to SQLite, its run directory, jobtui's
wrapper and its exit journal line; the contained floor adds the cgroup jobtui gives a job here (where this
process may make cgroups). The gap between jobtui and the contained floor (`jobtui proc` and the durable floor
without cgroups) is the engine's own work.

With `--baseline DIR` (another checkout of jobtui, e.g. `git worktree add /tmp/base HEAD~1`), that
checkout's engine runs as one more contender in the same rounds: a before/after comparison on one machine
under the same load, which is the only kind this shared machine supports.

With `--no-cgroups`, jobtui also runs with `containment: {mode: proc}` (no cgroup per attempt: the /proc
marker fallback) as one more contender, so the cost of the cgroups (made, joined, read and removed per attempt)
is measured against the same engine without them, in the same rounds.

usage: python bench/bench_local.py [N=5000] [C=16] [ROUNDS=3] [--baseline DIR] [--no-cgroups]
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TRUE = shutil.which("true") or "/bin/true"


async def bare_asyncio(n: int, c: int) -> float:
    """The floor for a Python engine: create_subprocess_exec under a semaphore, nothing recorded."""
    sem = asyncio.Semaphore(c)

    async def one() -> None:
        async with sem:
            proc = await asyncio.create_subprocess_exec(TRUE, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            await proc.wait()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return time.perf_counter() - start


async def durable_floor(n: int, c: int, scratch: Path) -> float:
    """The floor for a durable launcher in Python on this machine: what jobtui does for a job, minus everything
    else (`bench_launch_floor.py`'s `durable floor`). Per job: its launch intent and its two transitions written to a
    SQLite WAL database (one transaction per round of the loop, as the engine's group commits), its run directory
    made, jobtui's own wrapper (output files, exit journal line) spawned detached, its end awaited through a pidfd
    and its code taken from the wrapper's exit status. No scheduler, HTTP, events, cgroups or progress parsing."""
    return await _floor().launch(n, c, scratch, commit=True, wrapped=True)


async def contained_floor(n: int, c: int, scratch: Path) -> float:
    """The durable floor with jobtui's containment of a default job: a cgroup per job made with its CPU limit,
    joined by the wrapper, read and removed at the end (`bench_launch_floor.py`'s `+ cgroups`)."""
    return await _floor().launch(n, c, scratch, commit=True, wrapped=True, contained=True)


def _floor() -> Any:
    """`bench_launch_floor`, imported only when a floor runs (it imports the engine's wrapper and containment)."""
    sys.path.insert(0, str(ROOT))
    from bench import bench_launch_floor

    return bench_launch_floor


def task_spooler(n: int, c: int, scratch: Path) -> float | None:
    tsp = shutil.which("tsp") or shutil.which("ts")
    if tsp is None:
        return None
    env = {
        **os.environ,
        "TS_SOCKET": str(scratch / "ts.sock"),
        "TS_SLOTS": str(c),
        "TS_MAXFINISHED": "1000",
        "TMPDIR": str(scratch),
    }
    start = time.perf_counter()
    for _ in range(n):
        subprocess.run([tsp, TRUE], env=env, stdout=subprocess.DEVNULL, check=True)
    subprocess.run([tsp, "-N", str(c), TRUE], env=env, stdout=subprocess.DEVNULL, check=True)
    subprocess.run([tsp, "-w"], env=env, stdout=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - start
    subprocess.run([tsp, "-K"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return elapsed


def xargs(n: int, c: int) -> float | None:
    """The floor for any launcher: `xargs -P C` running `sh -c 'exec true'` (a shell, as jobtui's wrapper is)."""
    found = shutil.which("xargs")
    if found is None:
        return None
    start = time.perf_counter()
    subprocess.run(
        [found, "-P", str(c), "-n", "1", "sh", "-c", "exec true"],
        input="x\n" * n,
        text=True,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def gnu_parallel(n: int, c: int) -> float | None:
    parallel = shutil.which("parallel")
    if parallel is None:
        return None
    start = time.perf_counter()
    subprocess.run(
        [parallel, "--will-cite", "-j", str(c), TRUE],
        input="\n".join(map(str, range(n))) + "\n",
        text=True,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


ENGINE_CPU: list[float] = []


def _cpu_seconds(pid: int) -> float:
    """CPU time of the engine process `pid` and of its spawner (the child that starts its local jobs), if any."""
    return sum(_own_cpu(p) for p in (pid, *_spawners_of(pid)))


def _own_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _spawners_of(pid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
            argv = Path(f"/proc/{name}/cmdline").read_bytes()
            if name.isdigit() and int(stat[1]) == pid and b"engine.executors.spawner" in argv:
                found.append(int(name))
        except (OSError, ValueError):
            continue
    return found


def jobtui(
    n: int, c: int, scratch: Path, root: Path = ROOT, cpu: list[float] | None = None, containment: str = ""
) -> float:
    state = scratch / "state"
    config = scratch / "bench.yaml"
    config.write_text(
        f"nodes:\n  - name: local\n    kind: local\n    cores: {c}\n"
        f"limits:\n  max_concurrent: {c}\n  user_max_concurrent: {c}\n"
        + (f"containment:\n  mode: {containment}\n" if containment else "")
    )
    jobs = scratch / "jobs.txt"
    jobs.write_text(f"{TRUE}\n" * n)
    env = {**os.environ, "JOBTUI_HOME": str(state)}
    jt = [PYTHON, "-m", "tui.cli", "--config", str(config)]
    server = subprocess.Popen([*jt, "--serve"], env=env, cwd=root, stderr=subprocess.PIPE, text=True)
    try:
        server.stderr.readline()  # "serving on ..." once the socket listens
        cpu0 = _cpu_seconds(server.pid)
        start = time.perf_counter()
        subprocess.run(
            [*jt, "submit", "--file", str(jobs), "--json"], env=env, cwd=root, check=True, stdout=subprocess.DEVNULL
        )
        subprocess.run([*jt, "wait", "--all"], env=env, cwd=root, check=True)
        elapsed = time.perf_counter() - start
        (ENGINE_CPU if cpu is None else cpu).append(_cpu_seconds(server.pid) - cpu0)  # the spawner started after cpu0
        return elapsed
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    args = sys.argv[1:]
    baseline: Path | None = None
    if "--baseline" in args:
        at = args.index("--baseline")
        baseline = Path(args[at + 1]).resolve()
        del args[at : at + 2]
    no_cgroups = "--no-cgroups" in args
    args = [a for a in args if a != "--no-cgroups"]
    n = int(args[0]) if len(args) > 0 else 5000
    c = int(args[1]) if len(args) > 1 else 16
    rounds = int(args[2]) if len(args) > 2 else 3
    results: dict[str, list[float]] = {
        "jobtui": [],
        "task-spooler": [],
        "GNU parallel": [],
        "xargs -P": [],
        "bare asyncio": [],
        "durable floor": [],
    }
    baseline_cpu: list[float] = []
    if baseline is not None:
        results["jobtui@baseline"] = []
    if _floor().containment() is not None:
        results["contained floor"] = []  # the durable floor with the cgroups jobtui gives its jobs here
    no_cgroups_cpu: list[float] = []
    if no_cgroups:
        results["jobtui proc"] = []  # the same engine without cgroups
    engine_cpu = {"jobtui": ENGINE_CPU, "jobtui proc": no_cgroups_cpu, "jobtui@baseline": baseline_cpu}
    for r in range(rounds):
        order = list(results)
        order = order[r % len(order) :] + order[: r % len(order)]
        if baseline is not None and r % 2:  # the A/B pair in the other order too, so neither always follows the other
            a, b = order.index("jobtui"), order.index("jobtui@baseline")
            order[a], order[b] = order[b], order[a]
        for name in order:
            os.sync()  # the last contender's files are written back now, not during this one's run
            with tempfile.TemporaryDirectory(prefix="jobtui-bench-") as tmp:
                scratch = Path(tmp)
                if name == "jobtui":
                    t = jobtui(n, c, scratch)
                elif name == "jobtui@baseline" and baseline is not None:
                    t = jobtui(n, c, scratch, baseline, baseline_cpu)
                elif name == "jobtui proc":
                    t = jobtui(n, c, scratch, cpu=no_cgroups_cpu, containment="proc")
                elif name == "task-spooler":
                    t = task_spooler(n, c, scratch)
                elif name == "GNU parallel":
                    t = gnu_parallel(n, c)
                elif name == "xargs -P":
                    t = xargs(n, c)
                elif name == "durable floor":
                    t = asyncio.run(durable_floor(n, c, scratch))
                elif name == "contained floor":
                    t = asyncio.run(contained_floor(n, c, scratch))
                else:
                    t = asyncio.run(bare_asyncio(n, c))
            if t is not None:
                results[name].append(t)
                cpus = engine_cpu.get(name)
                cpu_text = f"  engine CPU {cpus[-1] / n * 1000:6.3f} ms/job" if cpus else ""
                print(f"round {r + 1}: {name:<15} {t:7.2f} s  {t / n * 1000:6.3f} ms/job{cpu_text}", flush=True)
    base = statistics.median(results["jobtui"])
    print(f"\n{n} x {TRUE} at concurrency {c}, {rounds} rounds, median wall:")
    print(f"{'tool':<16}{'s':>8}{'ms/job':>9}{'vs jobtui':>11}{'engine CPU ms/job':>19}")
    for name, times in results.items():
        if times:
            m = statistics.median(times)
            cpu_text = f"{statistics.median(engine_cpu[name]) / n * 1000:19.3f}" if engine_cpu.get(name) else ""
            print(f"{name:<16}{m:8.2f}{m / n * 1000:9.3f}{m / base:10.2f}x{cpu_text}")
    print(
        "engine CPU: the --serve process and its spawner, median over the rounds"
        + (f"; baseline: {baseline}" if baseline else "")
    )


if __name__ == "__main__":
    main()
