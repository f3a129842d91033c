"""The pure scheduler: order, limits, fair share, node capacity, GPUs, licences, labels; and that a
deep queue behind a user at their limit is never scanned.
"""

from __future__ import annotations

from itertools import count

import pytest

from engine.config import ROLE_PRIORITY
from engine.models import Job, Resources
from engine.scheduling.capacity import abaqus_tokens
from engine.scheduling.plan import NodeState, Policy, Usage, plan, unplaceable_reason
from engine.scheduling.queue_index import QueueIndex

_ids = count(1)
BIG = Policy(max_concurrent=100, user_max_concurrent=100, team_max_concurrent=100)


def job(
    user: str = "ann",
    priority: int = 10,
    team: str | None = None,
    cpus: int = 1,
    mem_mb: int = 0,
    gpus: int = 0,
    licenses: dict[str, int] | None = None,
    node: str | None = None,
    labels: dict[str, str] | None = None,
    job_id: int | None = None,
) -> Job:
    return Job(
        id=job_id if job_id is not None else next(_ids),
        name="j",
        command=["true"],
        user=user,
        team=team,
        priority=priority,
        resources=Resources(cpus, mem_mb, gpus, licenses or {}),
        node_request=node,
        extra={"labels": labels} if labels else {},
    )


def queue(*jobs: Job) -> QueueIndex:
    ready = QueueIndex()
    for j in jobs:
        ready.add(j, j.priority)
    return ready


def node(name: str = "n1", cores: int = 64, mem_mb: int = 0, gpus: int = 0, **kw) -> NodeState:
    return NodeState(name, cores, mem_mb, gpus=list(range(gpus)), **kw)


def started(
    ready: QueueIndex, nodes: list[NodeState] | None = None, policy: Policy = BIG, usage: Usage | None = None
) -> list[int]:
    return [s.job_id for s in plan(ready, usage or Usage(), nodes or [node()], policy)]


def test_role_priorities() -> None:
    assert ROLE_PRIORITY == {"admin": 30, "lead": 20, "researcher": 10, "viewer": 0}


def test_higher_priority_starts_first() -> None:
    low, high, mid = job("a", 10), job("b", 30), job("c", 20)
    assert started(queue(low, high, mid), policy=Policy(max_concurrent=3, user_max_concurrent=3)) == [
        high.id,
        mid.id,
        low.id,
    ]


def test_fifo_within_a_priority() -> None:
    jobs = [job(user, 10) for user in ("a", "b", "a", "c", "b")]
    assert started(queue(*reversed(jobs)), policy=Policy(max_concurrent=5, user_max_concurrent=5)) == [
        j.id for j in jobs
    ]


def test_global_limit_counts_what_runs() -> None:
    jobs = [job(u) for u in "abcdef"]
    policy = Policy(max_concurrent=5, user_max_concurrent=2)
    assert started(queue(*jobs), policy=policy) == [j.id for j in jobs[:5]]
    assert started(queue(*jobs), policy=policy, usage=Usage(total=4)) == [jobs[0].id]
    assert started(queue(*jobs), policy=policy, usage=Usage(total=5)) == []


def test_user_limit() -> None:
    a1, a2, a3, b1 = job("a"), job("a"), job("a"), job("b")
    policy = Policy(max_concurrent=10, user_max_concurrent=2)
    assert started(queue(a1, a2, a3, b1), policy=policy) == [a1.id, a2.id, b1.id]
    assert started(queue(a1, a2, a3, b1), policy=policy, usage=Usage(total=1, by_user={"a": 1})) == [a1.id, b1.id]


def test_team_limit_applies_with_fair_share() -> None:
    jobs = [job(u, team="fem") for u in "abc"] + [job("d", team="ml")]
    policy = Policy(max_concurrent=10, user_max_concurrent=5, team_max_concurrent=2, fair_share=True)
    assert started(queue(*jobs), policy=policy) == [jobs[0].id, jobs[1].id, jobs[3].id]
    busy = Usage(total=2, by_team={"fem": 2})
    assert started(queue(*jobs), policy=policy, usage=busy) == [jobs[3].id]


def test_team_limit_is_not_applied_with_fair_share_off() -> None:
    jobs = [job(u, team="fem") for u in "abc"]
    policy = Policy(max_concurrent=10, user_max_concurrent=5, team_max_concurrent=2, fair_share=False)
    assert started(queue(*jobs), policy=policy) == [j.id for j in jobs]


def test_cores_memory_and_max_jobs_bound_a_node() -> None:
    big, small = job(cpus=6), job(cpus=2)
    assert started(queue(big, small), [node(cores=7)]) == [big.id]
    heavy, light = job(mem_mb=3000), job(mem_mb=1000)
    assert started(queue(heavy, light), [node(mem_mb=3500)]) == [heavy.id]
    jobs = [job() for _ in range(4)]
    assert started(queue(*jobs), [node(max_jobs=3)]) == [j.id for j in jobs[:3]]
    partly_used = node(cores=4)
    partly_used.used_cores = 3
    assert started(queue(job(cpus=2)), [partly_used]) == []


def test_a_job_that_does_not_fit_now_does_not_block_those_that_do() -> None:
    wide, narrow = job(cpus=8, priority=30), job(cpus=1, priority=10)
    assert started(queue(wide, narrow), [node(cores=4)]) == [narrow.id]


def test_unreachable_node_gets_nothing() -> None:
    down = node("down", reachable=False)
    assert started(queue(job()), [down]) == []


def test_jobs_spread_over_the_least_loaded_node() -> None:
    starts = plan(queue(job(), job()), Usage(), [node("a", cores=4), node("b", cores=4)], BIG)
    assert sorted(s.node for s in starts) == ["a", "b"]


def test_gpus_are_assigned_by_index_and_never_shared() -> None:
    one, two, three = job(gpus=1), job(gpus=2), job(gpus=2)
    starts = plan(queue(one, two, three), Usage(), [node(gpus=4)], BIG)
    assert [(s.job_id, s.gpus) for s in starts] == [(one.id, (0,)), (two.id, (1, 2))]
    assert started(queue(job(gpus=1)), [node(gpus=0)]) == []


def test_abaqus_tokens_formula() -> None:
    assert [abaqus_tokens(c) for c in (1, 2, 4, 8, 16, 32)] == [5, 6, 8, 12, 16, 21]
    assert all(abaqus_tokens(c) == int(5 * c**0.422) for c in range(1, 129))


def test_licence_pool_bounds_concurrent_jobs() -> None:
    policy = Policy(max_concurrent=10, user_max_concurrent=10, license_pools={"abaqus": 20})
    jobs = [job(cpus=4, licenses={"abaqus": abaqus_tokens(4)}) for _ in range(3)]  # 8 tokens each
    assert started(queue(*jobs), policy=policy) == [jobs[0].id, jobs[1].id]
    in_use = Usage(total=1, licenses={"abaqus": 15})
    assert started(queue(*jobs), policy=policy, usage=in_use) == []
    small = job(cpus=1, licenses={"abaqus": abaqus_tokens(1)})  # 5 tokens: fits in what is left
    assert started(queue(*jobs, small), policy=policy, usage=in_use) == [small.id]


def test_labels_and_node_requests_match_by_glob() -> None:
    linux = node("ws-linux", labels={"os": "linux", "gpu": "a100"})
    other = node("srv-bsd", labels={"os": "freebsd"})
    want_linux = job(labels={"os": "lin*"})
    want_gpu = job(labels={"gpu": "a*"})
    want_srv = job(node="srv-*")
    want_none = job(labels={"os": "windows"})
    starts = plan(queue(want_linux, want_gpu, want_srv, want_none), Usage(), [linux, other], BIG)
    assert {s.job_id: s.node for s in starts} == {
        want_linux.id: "ws-linux",
        want_gpu.id: "ws-linux",
        want_srv.id: "srv-bsd",
    }


def test_unplaceable_reason_names_what_cannot_be_met() -> None:
    nodes = [node("n1", cores=4, mem_mb=1000, labels={"os": "linux"})]
    policy = Policy(license_pools={"abaqus": 10})
    assert unplaceable_reason(job(cpus=2), nodes, policy) is None
    assert "16 cores" in unplaceable_reason(job(cpus=16), nodes, policy)
    assert "n1" in unplaceable_reason(job(mem_mb=5000), nodes, policy)
    assert "no configured node matches" in unplaceable_reason(job(labels={"os": "mac*"}), nodes, policy)
    assert "no configured node matches" in unplaceable_reason(job(node="gpu-*"), nodes, policy)
    assert "the pool has 10" in unplaceable_reason(job(licenses={"abaqus": 12}), nodes, policy)


class CountingJobs(dict):
    """The QueueIndex's job table, counting how many queued jobs `plan()` looks at."""

    looked = 0

    def __getitem__(self, key):
        self.looked += 1
        return super().__getitem__(key)


def test_deep_queue_of_a_user_at_their_limit_is_not_scanned() -> None:
    ready = QueueIndex()
    for i in range(1, 100_001):
        ready.add(job("top", priority=30, job_id=i), 30)
    other = job("other", priority=10, job_id=100_001)
    ready.add(other, 10)
    ready.jobs = CountingJobs(ready.jobs)
    policy = Policy(max_concurrent=50, user_max_concurrent=2)
    usage = Usage(total=2, by_user={"top": 2})
    assert [s.job_id for s in plan(ready, usage, [node()], policy)] == [other.id]
    assert ready.jobs.looked <= 2
    assert len(ready) == 100_001  # plan() is pure: nothing was taken off the queue


def test_unplaceable_jobs_are_passed_over_a_bounded_number_of_times() -> None:
    ready = QueueIndex()
    for i in range(1, 5001):
        ready.add(job("gpu-user", priority=30, gpus=1, job_id=i), 30)  # no node has a free GPU now
    ready.jobs = CountingJobs(ready.jobs)
    assert plan(ready, Usage(), [node(gpus=0)], Policy(max_concurrent=50, user_max_concurrent=50), scan_limit=256) == []
    assert ready.jobs.looked <= 256


@pytest.mark.parametrize("free_gpus", [1, 2])
def test_gpu_jobs_start_up_to_the_free_devices(free_gpus: int) -> None:
    jobs = [job(gpus=1) for _ in range(3)]
    assert len(started(queue(*jobs), [node(gpus=free_gpus)])) == free_gpus


def test_queue_index_position_and_removal() -> None:
    a, b, c = job("a", 10), job("b", 30), job("a", 20)
    ready = queue(a, b, c)
    assert [ready.position(j.id) for j in (b, c, a)] == [1, 2, 3]
    ready.remove(c.id)
    assert ready.position(c.id) is None and ready.position(a.id) == 2
    ready.add(a, 40)  # re-prioritised
    assert ready.position(a.id) == 1
    ready.remove(a.id)
    assert "a" not in ready.by_user and len(ready) == 1
