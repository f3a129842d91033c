"""A job tree (issue 12) of D directories x 4 steps of trivial scripts, run by a real `jobtui --serve`.

Each step `qsub.N` is `touch qsub.finished.N` and waits for `qsub.finished.{N-1}` (its `qsub.dependency.N`):
D independent chains of 4. Each round generates the tree in a fresh temporary directory, starts its own
`jobtui --serve` on a fresh state directory, runs `jobtui tree init SRC --node NODE` and `jobtui wait --all`,
and reads every job back. Printed per round and as medians over the rounds:

- wall: from `tree init` (copy, fill-in, one submission) to the last job recorded as ended, per job;
- engine CPU: the `--serve` process alone (utime + stime; not the jobs), per job;
- marker -> dependent: from a step's `qsub.finished.N` appearing (its mtime) to the dependent's start as the
  engine records it (`started_at`: the launch on a local node, the `sbatch` on Slurm), median and max; and
  the same from the parent's `finished_at` (when the engine saw it end);
- with `--slurm`: the scheduler commands the engine ran (a PATH shim in front of `sbatch`, `squeue`, `sacct`,
  `scancel`, `scontrol` logs each call), as `squeue`/`sacct` calls per poll interval; and the same tree as
  plain `sbatch` in a loop (each step `--dependency=afterok:` on the one before, a script of `true`): the time
  of its sbatch calls, and its wall until the queue drained.

`--slurm` starts its own throwaway single-node Slurm (scripts/start-slurm.sh, as the tests do: root, ports
6817/6818 free) and stops it at the end; the tree runs on it where it is (a cluster with no `via` sees this
machine's files). `--node NAME --config FILE` runs on a node of your own config instead (add `--shared-fs` for an
SSH node, or a cluster via one, that sees this file system). `--files`: each step also waits for a file (`data.N`)
the one before writes, looked for in the same scheduler query per poll interval (the count must not grow).

usage: python bench/bench_tree.py [D=500] [ROUNDS=1] [--slurm] [--files] [--node NAME --config FILE [--shared-fs]]
                                  [--cores 16] [--interval 1.0] [--max-queued 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
STEPS = 4
SCHEDULER_COMMANDS = ("sbatch", "squeue", "sacct", "scancel", "scontrol")
PLAIN_SCRIPT = b"#!/bin/sh\n#SBATCH --output=/dev/null\ntrue\n"


def make_tree(root: Path, directories: int, files: bool = False) -> Path:
    """`directories` material directories, each a chain of STEPS trivial steps; with `files`, each step also
    writes `data.N`, which the next one waits for too (a file dependency, looked for by the node's poll)."""
    for d in range(directories):
        where = root / f"m{d:04d}"
        where.mkdir(parents=True)
        for n in range(1, STEPS + 1):
            data = f"touch data.{n}\n" if files else ""
            (where / f"qsub.{n}").write_text(f"{data}touch qsub.finished.{n}\n")
            waits = f"qsub.finished.{n - 1}\n" + (f"data.{n - 1}\n" if files else "")
            (where / f"qsub.dependency.{n}").write_text(waits if n > 1 else "")
    return root


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def shim(where: Path, log: Path) -> Path:
    """A directory of `sbatch`, `squeue`, ... that log each call (`TIME NAME`) and run the real command."""
    where.mkdir()
    for name in SCHEDULER_COMMANDS:
        real = shutil.which(name)
        if real is None:
            continue
        script = where / name
        script.write_text(f'#!/bin/sh\necho "$(date +%s.%N) {name}" >>{log}\nexec {real} "$@"\n')
        script.chmod(0o755)
    return where


@dataclass
class Round:
    jobs: int
    wall: float
    init: float
    cpu: float
    statuses: Counter[str]
    marker_lag: list[float]
    finish_lag: list[float]
    calls: Counter[str] = field(default_factory=Counter)


def snapshot_rows(state: Path) -> list[dict[str, Any]]:
    """Every job of the engine as a dict of the snapshot's row columns."""
    token = (state / "owner.token").read_text().strip()
    transport = httpx.HTTPTransport(uds=str(state / "engine.sock"))
    with httpx.Client(transport=transport, base_url="http://jobtui", timeout=120) as http:
        response = http.get("/api/snapshot", params={"view": "rows"}, headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
        data = response.json()
    return [dict(zip(data["columns"], row, strict=True)) for row in data["rows"]]


def lags(run: Path, rows: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """For each dependent step: its start minus its parent's marker mtime, and minus its parent's finished_at."""
    by_name = {row["name"]: row for row in rows}
    from_marker, from_finish = [], []
    for name, row in by_name.items():
        directory, _, script = name.rpartition("/")
        n = int(script.rsplit(".", 1)[1])
        if n == 1 or row["started_at"] is None:
            continue
        parent = by_name.get(f"{directory}/qsub.{n - 1}")
        marker = run / directory / f"qsub.finished.{n - 1}"
        if marker.exists():
            from_marker.append(row["started_at"] - marker.stat().st_mtime)
        if parent is not None and parent["finished_at"] is not None:
            from_finish.append(row["started_at"] - parent["finished_at"])
    return from_marker, from_finish


def config_text(args: argparse.Namespace, scratch: Path) -> str:
    limits = f"limits:\n  max_concurrent: {args.cores}\n  user_max_concurrent: {args.cores}\n"
    if args.slurm:
        node = (
            f"  - name: slurm\n    kind: slurm\n    poll_interval: {args.interval}\n    lost_grace: 30\n"
            f"    max_queued: {args.max_queued}\n    sacct_args: [-c]\n    work_root: {scratch / 'cluster'}\n"
        )
        limits = f"limits:\n  max_concurrent: {args.max_queued}\n  user_max_concurrent: {args.max_queued}\n"
    else:
        node = f"  - name: local\n    kind: local\n    cores: {args.cores}\n"
    return f"nodes:\n{node}{limits}"


def one_round(args: argparse.Namespace, directories: int, scratch: Path, env: dict[str, str]) -> Round:
    src = make_tree(scratch / "tree", directories, args.files)
    state = scratch / "state"
    config = Path(args.config) if args.config else scratch / "bench.yaml"
    if not args.config:
        config.write_text(config_text(args, scratch))
    log = scratch / "scheduler-calls.log"
    path = f"{shim(scratch / 'shim', log)}:{env['PATH']}" if args.slurm else env["PATH"]
    env = {**env, "JOBTUI_HOME": str(state), "PATH": path}
    env.pop("JOBTUI_CONFIG", None)
    jt = [PYTHON, "-m", "tui.cli", "--config", str(config), "--state-dir", str(state)]
    server = subprocess.Popen([*jt, "--serve"], env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        server.stderr.readline()  # "serving on ..." once the socket listens
        log.write_text("")  # calls from here on: the tree's, not the engine's start
        cpu0 = cpu_seconds(server.pid)
        start = time.perf_counter()
        node = "slurm" if args.slurm else args.node
        shared = ["--shared-fs"] if args.shared_fs else []  # a cluster with no `via` stages nothing anyway
        init = [*jt, "--json", "tree", "init", str(src), "--node", node, "--name", "bench", *shared]
        done = subprocess.run(init, env=env, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"jobtui tree init failed: {done.stderr.strip()}")
        init_s = time.perf_counter() - start
        run = Path(json.loads(done.stdout)["run_dir"])
        subprocess.run([*jt, "wait", "--all"], env=env, cwd=ROOT, check=False, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        cpu = cpu_seconds(server.pid) - cpu0
        calls = Counter(line.split()[1] for line in log.read_text().splitlines() if line.strip())
        rows = snapshot_rows(state)
    finally:
        server.terminate()
        server.wait(60)
    marker_lag, finish_lag = lags(run, rows)
    statuses = Counter(row["status"] for row in rows)
    return Round(len(rows), wall, init_s, cpu, statuses, marker_lag, finish_lag, calls)


def plain_sbatch(directories: int, env: dict[str, str]) -> tuple[float, float]:
    """The same tree with plain `sbatch` in a loop: each directory's steps submitted one after another, each
    `--dependency=afterok:` on the one before (Slurm's own way to chain them). Seconds to submit them all, and
    seconds until the last left the queue (squeue looked at every 0.1 s)."""
    start = time.perf_counter()
    for _ in range(directories):
        before: str | None = None
        for _ in range(STEPS):
            after = [f"--dependency=afterok:{before}"] if before else []
            done = subprocess.run(
                ["sbatch", "--parsable", *after], input=PLAIN_SCRIPT, env=env, check=True, capture_output=True
            )
            before = done.stdout.decode().strip().split(";")[0]
    submitted = time.perf_counter() - start
    while subprocess.run(["squeue", "-h"], capture_output=True, text=True, env=env).stdout.strip():
        time.sleep(0.1)  # the sampling period of this observer
    return submitted, time.perf_counter() - start


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def report(rounds: list[Round], args: argparse.Namespace, directories: int, sbatch: list[tuple[float, float]]) -> None:
    n = rounds[0].jobs
    where = "the real local Slurm" if args.slurm else f"node {args.node!r}"
    print(f"\n{directories} directories x {STEPS} steps = {n} jobs on {where}, {len(rounds)} round(s), medians:")
    wall = statistics.median(r.wall for r in rounds)
    cpu = statistics.median(r.cpu for r in rounds)
    init = statistics.median(r.init for r in rounds)
    print(f"  wall (tree init .. last job ended): {wall:8.2f} s  = {ms(wall / n)} ms/job")
    print(f"  of which tree init (copy+submit):   {init:8.2f} s  = {ms(init / n)} ms/job")
    print(f"  engine CPU (--serve process):       {cpu:8.2f} s  = {ms(cpu / n)} ms/job")
    for label, values in (
        ("marker mtime -> dependent start", [r.marker_lag for r in rounds]),
        ("parent finished_at -> dependent start", [r.finish_lag for r in rounds]),
    ):
        medians = [statistics.median(v) for v in values if v]
        worst = [max(v) for v in values if v]
        if medians:
            print(
                f"  {label}: median {ms(statistics.median(medians)).strip()} ms, "
                f"max {ms(statistics.median(worst)).strip()} ms  ({len(values[0])} edges)"
            )
    if args.slurm:
        polls = [r.wall / args.interval for r in rounds]
        queries = [r.calls["squeue"] + r.calls["sacct"] for r in rounds]
        per = statistics.median(q / p for q, p in zip(queries, polls, strict=True))
        calls = rounds[len(rounds) // 2].calls
        print(
            f"  scheduler queries: squeue+sacct {statistics.median(queries):.0f} over "
            f"{statistics.median(polls):.1f} poll intervals of {args.interval:g} s = {per:.2f} per interval "
            f"(calls of one round: {dict(sorted(calls.items()))})"
        )
        if sbatch:
            submit = statistics.median(s for s, _ in sbatch)
            plain = statistics.median(w for _, w in sbatch)
            print(f"  plain sbatch loop (afterok chains): {plain:8.2f} s  = {ms(plain / n)} ms/job until drained")
            print(f"    of which the {n} sbatch calls:   {submit:8.2f} s  = {ms(submit / n)} ms/job")
            print(f"  jobtui wall / plain sbatch wall:    {wall / plain:8.2f}x")
    for r in rounds:
        if set(r.statuses) != {"completed"}:
            print(f"  WARNING: not every job completed: {dict(r.statuses)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("directories", nargs="?", type=int, default=500)
    parser.add_argument("rounds", nargs="?", type=int, default=1)
    parser.add_argument("--node", default="local", help="the node the tree runs on (default: local)")
    parser.add_argument("--config", help="a jobtui config defining --node (default: one local node)")
    parser.add_argument("--shared-fs", action="store_true", help="the node sees this machine's files")
    parser.add_argument("--slurm", action="store_true", help="start a throwaway local Slurm and run there")
    parser.add_argument("--files", action="store_true", help="each step also waits for a data file of the one before")
    parser.add_argument("--cores", type=int, default=16, help="the local node's cores and the engine's limit")
    parser.add_argument("--interval", type=float, default=1.0, help="Slurm: the node's poll interval (s)")
    parser.add_argument("--max-queued", type=int, default=200, help="Slurm: the node's max_queued")
    args = parser.parse_args()
    env = dict(os.environ)
    slurm_scratch: Path | None = None
    if args.slurm:
        if os.geteuid() != 0:
            sys.exit("--slurm starts its own Slurm daemons: run as root")
        slurm_scratch = Path(tempfile.mkdtemp(prefix="jobtui-bench-tree-slurm-"))
        slurm_scratch.chmod(0o755)
        start = [str(ROOT / "scripts/start-slurm.sh"), str(slurm_scratch)]
        subprocess.run(start, check=True, env={**env, "SLURM_CPUS": "8"})
        env["SLURM_CONF"] = str(slurm_scratch / "slurm.conf")
    rounds: list[Round] = []
    sbatch: list[tuple[float, float]] = []
    try:
        for r in range(args.rounds):
            os.sync()
            with tempfile.TemporaryDirectory(prefix="jobtui-bench-tree-") as tmp:
                scratch = Path(tmp)
                scratch.chmod(0o755)
                one = one_round(args, args.directories, scratch, env)
            rounds.append(one)
            print(
                f"round {r + 1}: {one.jobs} jobs in {one.wall:.2f} s ({one.wall / one.jobs * 1000:.1f} ms/job), "
                f"engine CPU {one.cpu:.2f} s, {dict(one.statuses)}",
                flush=True,
            )
            if args.slurm:
                sbatch.append(plain_sbatch(args.directories, env))
                submit, drained = sbatch[-1]
                print(
                    f"round {r + 1}: plain sbatch: submitted in {submit:.2f} s, drained in {drained:.2f} s", flush=True
                )
        report(rounds, args, args.directories, sbatch)
    finally:
        if slurm_scratch is not None:
            subprocess.run([str(ROOT / "scripts/stop-slurm.sh"), str(slurm_scratch)], check=False)
            shutil.rmtree(slurm_scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
