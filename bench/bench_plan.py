"""The cost of one start decision with 100,000 jobs queued.

Scenarios: many users (1,000 users x 100 jobs); one user owning every job; the top user at their limit
(the index must skip their 100,000 jobs, not scan them); jobs that fit no free node (bounded scan).
Prints the median and p99 of `plan()` over repeated calls, and the cost of adding/removing a job.

usage: python bench/bench_plan.py [QUEUED=100000] [REPEATS=200]
"""

from __future__ import annotations

import statistics
import sys
import time

from engine.models import Job, Resources
from engine.scheduling.plan import NodeState, Policy, Usage, plan
from engine.scheduling.queue_index import QueueIndex


def build(queued: int, users: int, cpus: int = 1) -> QueueIndex:
    index = QueueIndex()
    for i in range(1, queued + 1):
        job = Job(
            id=i,
            name=f"j{i}",
            command=["true"],
            user=f"u{i % users}",
            priority=10 + (i % 3) * 10,
            resources=Resources(cpus=cpus),
        )
        index.add(job, job.priority)
    return index


def timed(fn, repeats: int) -> tuple[float, float, object]:
    samples = []
    result = None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - t)
    samples.sort()
    return statistics.median(samples) * 1e3, samples[int(len(samples) * 0.99) - 1] * 1e3, result


def main() -> None:
    queued = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    nodes = [NodeState("local", cores=64, mem_mb=0), NodeState("ws1", cores=32, mem_mb=0)]
    policy = Policy(max_concurrent=50, user_max_concurrent=4, team_max_concurrent=10)
    print(f"plan() with {queued:,} queued jobs, {repeats} calls each (ms)")
    print(f"{'scenario':<44}{'median':>9}{'p99':>9}{'starts':>8}")

    def row(name: str, index: QueueIndex, usage: Usage, nodes_: list[NodeState], pol: Policy) -> None:
        med, p99, starts = timed(lambda: plan(index, usage, nodes_, pol), repeats)
        print(f"{name:<44}{med:9.3f}{p99:9.3f}{len(starts):8d}")

    many = build(queued, users=1000)
    row("1,000 users, one free slot", many, Usage(total=49), nodes, policy)
    row("1,000 users, 50 free slots", many, Usage(), nodes, policy)
    one = build(queued, users=1)
    row("one user, under their limit", one, Usage(), nodes, policy)
    at_limit = Usage(total=4, by_user={"u0": 4})
    row("one user holding every job, at their limit", one, at_limit, nodes, policy)
    big = build(queued, users=1000, cpus=128)
    row("no job fits any node (bounded scan)", big, Usage(), nodes, policy)

    job = Job(id=queued + 1, name="x", command=["true"], user="u7", priority=20)
    med, p99, _ = timed(lambda: (many.add(job, 20), many.remove(job.id)), repeats)
    print(f"{'add + remove one job in the index':<44}{med:9.3f}{p99:9.3f}")


if __name__ == "__main__":
    main()
