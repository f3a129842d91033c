"""The cost of one start decision with 100,000 jobs queued.

Scenarios: many users (1,000 users x 100 jobs); one user owning every job; the top user at their limit
(the index must skip their 100,000 jobs, not scan them); jobs that fit no free node (bounded scan).
Prints the median and p99 of `plan()` over repeated calls, and the cost of adding/removing a job.

The policy case (issue 13): 100,000 queued jobs of 1,000 users in 20 teams, fair share over time on (each
user's bonus from decayed usage), GPUs on 8 nodes, and every waiting job's reason kept current: the median
start decision (target < 1 ms), the jobs whose reason a pass recomputes (the jobs it passed over: bounded by
its scan limit, the same at a tenth of the queue, so O(changed jobs), not O(queue)), and the cost of reading
one job's reason.

usage: python bench/bench_plan.py [QUEUED=100000] [REPEATS=200]
"""

from __future__ import annotations

import statistics
import sys
import time

from engine.core.waiting import RunTimes, wait_context, waiting_reason
from engine.models import Attempt, Job, Resources
from engine.policy import FairShare
from engine.scheduling.fair_share import FairShareKeeper
from engine.scheduling.plan import NodeState, Policy, Usage, plan
from engine.scheduling.queue_index import QueueIndex

USERS, TEAMS, GPU_NODES = 1000, 20, 8


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
    policy_case(queued, repeats)


def policy_queue(queued: int) -> QueueIndex:
    """`queued` jobs of USERS users in TEAMS teams; one in eight asks for 1 or 2 GPUs."""
    index = QueueIndex()
    for i in range(1, queued + 1):
        user = i % USERS
        gpus = (1 + i % 2) if i % 8 == 0 else 0
        job = Job(
            id=i, name=f"j{i % 50}", command=["true"], user=f"u{user}", team=f"t{user % TEAMS}",
            priority=10 + (i % 3) * 10, resources=Resources(cpus=1 + i % 4, gpus=gpus), timeout=3600.0,
        )  # fmt: skip
        index.add(job, job.priority)
    return index


def policy_nodes() -> list[NodeState]:
    """8 GPU nodes of 64 cores and 4 GPUs, half of them busy."""
    nodes = []
    for n in range(GPU_NODES):
        node = NodeState(f"gpu{n}", cores=64, mem_mb=0, gpus=[2, 3], devices=[0, 1, 2, 3], kind="ssh")
        node.used_cores, node.running = 40, 10
        nodes.append(node)
    return nodes


def fair_bonus(now: float) -> tuple[dict[str, int], float]:
    """Each user's fair-share bonus from a decayed usage (some users used much, some nothing), and its cost."""
    keeper = FairShareKeeper(FairShare(enabled=True, weight=100, teams={f"t{t}": 1 + t % 3 for t in range(TEAMS)}))
    for u in range(0, USERS, 3):
        keeper.charge(f"u{u}", f"t{u % TEAMS}", 4, u % 2, 3600.0 * (1 + u % 7), now - 3600)
    users = {f"u{u}": f"t{u % TEAMS}" for u in range(USERS)}
    t = time.perf_counter()
    bonus = keeper.bonus(lambda: users, now)
    return bonus, (time.perf_counter() - t) * 1e3


def policy_case(queued: int, repeats: int) -> None:
    now = time.time()
    bonus, bonus_ms = fair_bonus(now)
    nodes = policy_nodes()
    running = Usage(total=80, by_user={f"u{u}": 1 for u in range(80)}, by_team={f"t{t}": 4 for t in range(TEAMS)})
    policy = Policy(
        max_concurrent=200, user_max_concurrent=4, team_max_concurrent=50, fair_share=True,
        user_bonus=bonus, bonus_default=100,
    )  # fmt: skip
    print()
    print(f"policy: {queued:,} queued, {USERS:,} users in {TEAMS} teams, fair share on, GPUs on {GPU_NODES} nodes")
    print(f"  fair-share bonuses of {USERS:,} users worked out in {bonus_ms:.2f} ms (after a charge, or once a minute)")
    print(f"{'scenario':<44}{'median':>9}{'p99':>9}{'starts':>8}{'reasons':>9}")
    for size in (queued // 10, queued):
        index = policy_queue(size)
        passed: list[int] = []

        def decide(index: QueueIndex = index, passed: list[int] = passed) -> list:
            passed.clear()
            return plan(index, running, nodes, policy, passed=passed)

        med, p99, starts = timed(decide, repeats)
        label = f"{size:,} queued: a pass ({med / max(len(starts), 1):.3f} per start)"  # type: ignore[arg-type]
        print(f"{label:<44}{med:9.3f}{p99:9.3f}{len(starts):8d}{len(passed):9d}")  # type: ignore[arg-type]
        one_slot = Usage(total=199, by_user=running.by_user, by_team=running.by_team)

        def decide_one(index: QueueIndex = index, passed: list[int] = passed) -> list:
            passed.clear()
            return plan(index, one_slot, nodes, policy, passed=passed)  # noqa: B023 - used at once

        med, p99, starts = timed(decide_one, repeats)
        label = f"{size:,} queued: one free slot (one start)"
        print(f"{label:<44}{med:9.3f}{p99:9.3f}{len(starts):8d}{len(passed):9d}")  # type: ignore[arg-type]
    attempts = [
        (Job(id=-n, name=f"j{n}", command=["true"], user=f"u{n}", timeout=3600.0), Attempt(-n, 1, "gpu0", "", ""))
        for n in range(80)
    ]
    for n, (_, attempt) in enumerate(attempts):
        attempt.started_at = now - n
    context = wait_context(index.jobs.get, running, policy, nodes, attempts, RunTimes(), now)
    sample = index.jobs[passed[0]] if passed else index.jobs[next(iter(index.keys))]
    med, p99, reason = timed(lambda: waiting_reason(sample, context, True, None), repeats)
    code = reason and reason["code"]  # type: ignore[index]
    print(f"{'read one waiting job reason (on demand)':<44}{med:9.3f}{p99:9.3f}  {code}")
    sample_at = index.position(sample.id)
    med, p99, _ = timed(lambda: index.position(sample.id), max(10, repeats // 10))
    print(f"{'its queue position (for the estimate)':<44}{med:9.3f}{p99:9.3f}  #{sample_at}")


if __name__ == "__main__":
    main()
