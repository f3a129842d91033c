"""Short remote jobs on one SSH node: through jobtui vs the same commands over one reused connection.

Run as root from the repository root: `.venv/bin/python bench/bench_ssh.py [--jobs 100] [--rounds 3]`.
It starts its own sshd on 127.0.0.1 (as the tests do) and, in every round, runs the same commands
over ONE reused asyncssh connection (one at a time, and N at a time up to the channels sshd allows
on a connection) and as jobtui jobs on an ssh node (N jobs running at a time), side by side. It prints
medians over the rounds, the ratio at the same concurrency (and, in brackets, the median of each round's own
ratio, steadier on a busy machine), how many connections jobtui opened and whether a node agent served it.
`--compare-tree DIR` also runs the jobtui side from another checkout (e.g. the code before a change),
interleaved with this one, so before/after figures come from the same run on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMAND = ["sh", "-c", "echo job $0 done", "x"]
SESSION_CAP = 8  # channels at a time on one connection: sshd's MaxSessions is 10


async def baseline(server: dict, jobs: int, parallel: int) -> float:
    """The same commands over ONE reused asyncssh connection, `parallel` at a time; seconds in all."""
    import asyncssh

    async with asyncssh.connect(
        server["addr"],
        port=server["port"],
        username=server["user"],
        client_keys=[server["key"]],
        known_hosts=server["known_hosts"],
    ) as conn:
        gate = asyncio.Semaphore(min(parallel, SESSION_CAP))

        async def one() -> None:
            async with gate:
                for attempt in range(6):  # sshd frees a session slot a moment after its channel closes
                    try:
                        result = await conn.run(shlex.join(COMMAND), check=True)
                        break
                    except asyncssh.ChannelOpenError:
                        await asyncio.sleep(0.02 * 2**attempt)
                assert result.stdout == "job x done\n"

        began = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(jobs)))
        return time.perf_counter() - began


async def through_jobtui(server: dict, jobs: int, parallel: int) -> tuple[float, int, bool]:
    """The same commands as jobtui jobs on an ssh node, `parallel` running at a time;
    (seconds, connections, whether a node agent served them)."""
    from engine.config import Config, Limits, SshNode
    from engine.core.engine import Engine
    from engine.service.jobspec import JobSpec
    from engine.service.verbs import JobService

    node = SshNode(
        name="bench",
        kind="ssh",
        host=server["addr"],
        port=server["port"],
        user=server["user"],
        key_file=server["key"],
        known_hosts=server["known_hosts"],
        cores=max(parallel, 1),
        max_channels=8,
        work_root=f"~/.jobtui-bench/{os.getpid()}-{time.monotonic_ns()}",
        keepalive_interval=1.0,
    )
    limits = Limits(max_concurrent=parallel, user_max_concurrent=parallel, team_max_concurrent=parallel)
    engine = Engine(Config(nodes=[node], limits=limits), Path(tempfile.mkdtemp()) / "state", "root", poll_interval=0.1)
    await engine.start()
    try:
        service = JobService(engine)
        warm = await service.submit(service.actor("root"), [JobSpec(command=["true"])])  # connect, find $HOME
        while not warm[0].is_terminal:
            await asyncio.sleep(0.01)
        began = time.perf_counter()
        submitted = await service.submit(service.actor("root"), [JobSpec(command=COMMAND) for _ in range(jobs)])
        while not all(j.is_terminal for j in submitted):
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - began
        bad = [j for j in submitted if j.status.value != "completed"]
        assert not bad, [(j.id, j.status, j.message) for j in bad[:3]]
        for job in submitted[:3]:
            attempt = await engine.attempt_of(job.id, None)
            assert attempt.stdout_offset == len("job x done\n"), attempt.stdout_offset
        executor = engine.executors["bench"]
        return elapsed, executor.host.connects, getattr(executor, "_agent", None) is not None
    finally:
        await engine.stop()


def worker(tree: Path, server: dict, jobs: int, parallel: int) -> tuple[float, int, bool]:
    """The jobtui side in a fresh interpreter importing the engine from `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    code = "import sys, json; sys.path.insert(0, sys.argv[1]); from bench_ssh import worker_main; worker_main()"
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "bench"), str(tree), json.dumps(server), str(jobs), str(parallel)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tree,
    )
    if done.returncode != 0:
        raise RuntimeError(f"jobtui worker in {tree} failed:\n{done.stderr[-3000:]}")
    seconds, connections, agent = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, connections, agent


def worker_main() -> None:
    tree, server, jobs, parallel = Path(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    sys.path.insert(0, str(tree))
    print(json.dumps(asyncio.run(through_jobtui(server, jobs, parallel))))


def start_server() -> tuple[object, dict]:
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.sshd import TEST_USER, _ensure_user, _free_port, _public_dir, start_sshd

    _ensure_user()
    key = Path(tempfile.mkdtemp()) / "client_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    server = start_sshd(_public_dir("bench"), "127.0.0.1", _free_port(), Path(f"{key}.pub"), key)
    info = {
        "addr": server.addr,
        "port": server.port,
        "user": TEST_USER,
        "key": str(key),
        "known_hosts": str(server.known_hosts),
    }
    return server, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallel", default="1,8,32", help="jobs (commands) at a time, comma-separated")
    parser.add_argument("--compare-tree", type=Path, help="another checkout whose jobtui side runs alongside")
    args = parser.parse_args()
    levels = [int(p) for p in args.parallel.split(",")]
    trees = {"jobtui": ROOT} | ({f"jobtui@{args.compare_tree}": args.compare_tree} if args.compare_tree else {})
    server, info = start_server()
    times: dict[tuple[str, int], list[float]] = {}
    connections: dict[str, set[int]] = {name: set() for name in trees}
    agents: dict[str, set[bool]] = {name: set() for name in trees}
    try:
        for _ in range(args.rounds):
            for level in levels:
                times.setdefault(("reused connection", level), []).append(asyncio.run(baseline(info, args.jobs, level)))
                for name, tree in trees.items():
                    seconds, conns, agent = worker(tree, info, args.jobs, level)
                    times.setdefault((name, level), []).append(seconds)
                    connections[name].add(conns)
                    agents[name].add(agent)
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)
    n = args.jobs
    print(f"{n} jobs `{shlex.join(COMMAND)}` on one node; median of {args.rounds} round(s), ms per job")
    print("(the reused connection runs at most", SESSION_CAP, "commands at a time: sshd's MaxSessions is 10)")
    names = ["reused connection", *trees]
    print(f"  {'at a time':>9}  " + "  ".join(f"{name:>{max(12, len(name))}}" for name in names) + "  ratio  (paired)")
    for level in levels:
        medians = {name: statistics.median(times[(name, level)]) / n * 1000 for name in names}
        cells = "  ".join(f"{medians[name]:>{max(12, len(name))}.2f}" for name in names)
        ratios = "  ".join(f"{medians[name] / medians['reused connection']:.2f}x" for name in trees)
        base = times[("reused connection", level)]
        paired = "  ".join(  # each round's jobtui time over the same round's reused connection, median
            f"{statistics.median(t / b for t, b in zip(times[(name, level)], base, strict=True)):.2f}x"
            for name in trees
        )
        print(f"  {level:>9}  {cells}  {ratios}  ({paired})")
    for name in trees:
        served = {True: "a node agent", False: "sh scripts"}
        how = " / ".join(served[a] for a in sorted(agents[name], reverse=True))
        print(f"  {name}: {sorted(connections[name])} connection(s) per run, jobs started through {how}")


if __name__ == "__main__":
    main()
