"""A large workflow through a running engine: N `true` jobs as a DAG against the same N jobs independent.

The DAG: DEPTH levels (100, or N when smaller) of N / DEPTH jobs (10,000 jobs: 100 x 100), each job after level 0
waiting for 1 to 3 jobs of the level before, picked with a fixed seed. Each round starts a fresh
`jobtui --serve` on a temporary state directory for each of the two batches (in rotating order), with one
local node of C cores and limits of C jobs at once (C = 16), submits the batch in one HTTP request (as
`bench_local.py` drives its engine: the whole path, every transition persisted), and waits for every job to end.

Measured per batch: the submission (one HTTP request: validation, dependency resolution, the durable commit),
the run from submission to the last job ended (wall, and the engine process's CPU), and for the DAG the time
`engine.workflows.graph.analyze` takes over it (levels, critical path). The engine's overhead per job for
dependencies is the DAG's figure less the independent batch's, over N. The table shows medians over the rounds.

usage: python bench/bench_workflow.py [N=10000] [ROUNDS=3] [C=16]
"""

from __future__ import annotations

import asyncio
import getpass
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from engine.api.client import HttpClient
from engine.workflows.graph import GraphNode, analyze

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TRUE = shutil.which("true") or "/bin/true"
MAX_DEPTH = 100
ANALYZE_REPEATS = 5


def dag(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """N `true` jobs in levels, each after level 0 waiting for 1-3 jobs of the level before."""
    depth = min(MAX_DEPTH, n)
    width = max(1, n // depth)
    rng = random.Random(seed)
    specs = []
    for level in range(depth):
        for i in range(width):
            spec: dict[str, Any] = {"key": f"j{level}_{i}", "name": f"j{level}_{i}", "command": [TRUE]}
            if level:
                parents = rng.sample(range(width), rng.randint(1, min(3, width)))
                spec["after"] = [f"j{level - 1}_{p}" for p in parents]
            specs.append(spec)
    return specs


def independent(n: int) -> list[dict[str, Any]]:
    return [{"name": f"j{i}", "command": [TRUE]} for i in range(n)]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _submit_and_wait(state: Path, specs: list[dict[str, Any]]) -> tuple[float, float]:
    token = (state / "owner.token").read_text().strip()
    client = HttpClient(state / "engine.sock", token, getpass.getuser())
    try:
        start = time.perf_counter()
        jobs = await client.submit(specs)
        submitted = time.perf_counter()
        assert len(jobs) == len(specs)
        while not (await client.wait(None, 30.0))["done"]:
            pass
        ended = time.perf_counter()
        statuses = {j["status"] for j in await client.list_jobs(None, 0, True)}
        assert statuses == {"completed"}, statuses
        return submitted - start, ended - submitted
    finally:
        await client.close()


def run_batch(specs: list[dict[str, Any]], c: int, scratch: Path) -> dict[str, float]:
    """Submit `specs` to a fresh `jobtui --serve` and wait for the end: submission s, run s, engine CPU s."""
    state = scratch / "state"
    config = scratch / "bench.yaml"
    config.write_text(
        f"nodes:\n  - name: local\n    kind: local\n    cores: {c}\n"
        f"limits:\n  max_concurrent: {c}\n  user_max_concurrent: {c}\n  team_max_concurrent: {c}\n"
    )
    env = {**os.environ, "JOBTUI_HOME": str(state)}
    env.pop("JOBTUI_CONFIG", None)
    argv = [PYTHON, "-m", "tui.cli", "--config", str(config), "--serve"]
    server = subprocess.Popen(argv, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        server.stderr.readline()  # "serving on ..." once the socket listens
        cpu0 = _cpu_seconds(server.pid)
        submit, run = asyncio.run(_submit_and_wait(state, specs))
        return {"submit": submit, "run": run, "cpu": _cpu_seconds(server.pid) - cpu0}
    finally:
        server.terminate()
        server.wait(30)


def time_analyze(specs: list[dict[str, Any]]) -> float:
    nodes = [GraphNode(s["key"], tuple(s.get("after", ()))) for s in specs]
    samples = []
    for _ in range(ANALYZE_REPEATS):
        start = time.perf_counter()
        result = analyze(nodes)
        samples.append(time.perf_counter() - start)
    assert result.valid
    return statistics.median(samples)


def main() -> None:
    args = sys.argv[1:]
    n = int(args[0]) if len(args) > 0 else 10_000
    rounds = int(args[1]) if len(args) > 1 else 3
    c = int(args[2]) if len(args) > 2 else 16
    batches = {"DAG": dag(n), "independent": independent(len(dag(n)))}
    n = len(batches["DAG"])
    depth = min(MAX_DEPTH, n)
    edges = sum(len(s.get("after", ())) for s in batches["DAG"])
    results: dict[str, list[dict[str, float]]] = {name: [] for name in batches}
    analyses: list[float] = []
    for r in range(rounds):
        order = list(batches) if r % 2 == 0 else list(reversed(batches))
        for name in order:
            with tempfile.TemporaryDirectory(prefix="jobtui-bench-") as tmp:
                figures = run_batch(batches[name], c, Path(tmp))
            results[name].append(figures)
            print(
                f"round {r + 1}: {name:<12} submit {figures['submit']:6.2f} s  run {figures['run']:7.2f} s  "
                f"engine CPU {figures['cpu']:7.2f} s",
                flush=True,
            )
        analyses.append(time_analyze(batches["DAG"]))

    def median(name: str, key: str) -> float:
        return statistics.median(f[key] for f in results[name])

    print(
        f"\n{n:,} x {TRUE}: a DAG of {depth} levels x {n // depth} ({edges:,} edges) against {n:,} independent jobs; "
        f"concurrency {c}; medians of {rounds} round(s)"
    )
    print(f"{'':<34}{'DAG':>12}{'independent':>14}{'DAG - indep.':>14}")
    rows = [
        ("submission, s (one HTTP request)", "submit", 1.0),
        ("submission, ms/job", "submit", 1000 / n),
        ("run to the end, s", "run", 1.0),
        ("wall, ms/job", "run", 1000 / n),
        ("engine CPU, ms/job", "cpu", 1000 / n),
    ]
    for label, key, scale in rows:
        a, b = median("DAG", key) * scale, median("independent", key) * scale
        print(f"{label:<34}{a:12.3f}{b:14.3f}{a - b:14.3f}")
    print(f"{'analyze (graph.analyze), ms':<34}{statistics.median(analyses) * 1000:12.1f}{'-':>14}{'':>14}")


if __name__ == "__main__":
    main()
