"""Dependencies, approval and rejection, run-time limits, and submissions refused with nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import ClusterNode, LocalNode
from engine.errors import Conflict, PermissionDenied, ValidationError
from engine.events import JobChanged, JobRemoved
from engine.models import JobStatus, Reason
from tests.fixtures.engine import Rig, db_rows
from tests.waiting import wait_for

HPC = ClusterNode(name="hpc", kind="slurm", max_cores=1)  # never reached: jobs sent there wait for approval
TWO_NODES = [LocalNode(name="local"), HPC]


async def test_children_wait_for_their_parents(rig: Rig) -> None:
    parent, child, grandchild = await rig.submit(
        {"command": ["sleep", "0.4"], "key": "p", "name": "parent"},
        {"command": ["true"], "key": "c", "after": ["p"]},
        {"command": ["true"], "after": ["c"]},
    )
    assert child.after == [parent.id] and grandchild.after == [child.id]
    await rig.wait_status(parent.id, JobStatus.RUNNING)
    assert child.status == JobStatus.WAITING and child.started_at is None
    assert rig.engine.queue_position(child.id) is None  # not ready while its parent runs
    await rig.wait_terminal(grandchild.id)
    assert [j.status for j in (parent, child, grandchild)] == [JobStatus.COMPLETED] * 3
    assert child.started_at >= parent.finished_at and grandchild.started_at >= child.finished_at


async def test_failed_parent_skips_child_and_grandchild_naming_the_parent(rig: Rig) -> None:
    parent, child, grandchild = await rig.submit(
        {"command": ["sh", "-c", "sleep 0.2; exit 4"], "key": "p", "name": "mesh"},
        {"command": ["true"], "key": "c", "after": ["p"], "name": "solve"},
        {"command": ["true"], "after": ["c"], "name": "post"},
    )
    await rig.wait_terminal(grandchild.id)
    assert parent.status == JobStatus.FAILED
    assert child.status == JobStatus.SKIPPED and grandchild.status == JobStatus.SKIPPED
    assert child.reason == grandchild.reason == Reason.DEPENDENCY_FAILED
    assert f"dependency job {parent.id} (mesh) ended failed" in child.message
    assert f"dependency job {child.id} (solve) ended skipped" in grandchild.message
    assert child.attempts == grandchild.attempts == 0


async def test_a_failing_chain_tells_its_story_in_causal_order(rig: Rig) -> None:
    """setup -> build (exit 1) -> test -> deploy: the failure is numbered before the skips it causes."""
    stream = rig.engine.subscribe()
    setup, build, test, deploy = await rig.submit(
        {"command": ["true"], "key": "setup"},
        {"command": ["sh", "-c", "exit 1"], "key": "build", "after": ["setup"]},
        {"command": ["true"], "key": "test", "after": ["build"]},
        {"command": ["true"], "after": ["test"]},
    )
    await rig.wait_terminal(deploy.id)
    await rig.engine.flush()
    history = {job.id: (await rig.history(job.id))[1] for job in (setup, build, test, deploy)}
    failed = next(e.seq for e in history[build.id] if e.to_status == "failed")
    test_skipped = next(e.seq for e in history[test.id] if e.to_status == "skipped")
    deploy_skipped = next(e.seq for e in history[deploy.id] if e.to_status == "skipped")
    assert failed < test_skipped < deploy_skipped
    published = []
    while not stream.queue.empty():
        event = stream.queue.get_nowait()
        if isinstance(event, JobChanged) and event.record["status"] in ("failed", "skipped"):
            published.append((event.key, event.record["status"]))
    assert published == [(build.id, "failed"), (test.id, "skipped"), (deploy.id, "skipped")]


async def test_cleanup_deletes_ended_jobs_and_says_so(rig: Rig) -> None:
    done, running = await rig.submit(["true"], ["sleep", "30"])
    await rig.wait_terminal(done.id)
    await rig.wait_status(running.id, JobStatus.RUNNING)
    run_dir = rig.state_dir / "runs" / f"{done.id}.1"
    assert run_dir.exists()
    stream = rig.engine.subscribe()
    assert await rig.service.cleanup(rig.actor(), 0) == 1
    events = [stream.queue.get_nowait() for _ in range(stream.queue.qsize())]
    assert [(type(e), e.job_ids) for e in events if isinstance(e, JobRemoved)] == [(JobRemoved, [done.id])]
    assert rig.engine.find(done.id) is None and rig.engine.find(running.id) is running
    assert not run_dir.exists()
    assert db_rows(rig.state_dir, f"SELECT id FROM jobs WHERE id = {done.id}") == []
    await rig.service.cancel(rig.actor(), running.id)


async def test_child_submitted_after_its_parent_failed_is_skipped_at_once(rig: Rig) -> None:
    parent = await rig.submit_one(["false"], name="early")
    await rig.wait_terminal(parent.id)
    child = await rig.submit_one(["true"], after=[parent.id])
    await rig.wait_terminal(child.id, timeout=2)
    assert child.status == JobStatus.SKIPPED and f"dependency job {parent.id} (early)" in child.message


async def test_cancelled_parent_skips_its_child(rig: Rig) -> None:
    parent = await rig.submit_one(["sleep", "30"])
    child = await rig.submit_one(["true"], after=[parent.id])
    await rig.wait_status(parent.id, JobStatus.RUNNING)
    await rig.service.cancel(rig.actor(), parent.id)
    await rig.wait_terminal(child.id, timeout=5)
    assert child.status == JobStatus.SKIPPED and "ended cancelled" in child.message


async def test_approval_blocks_until_approved(rig: Rig) -> None:
    job = await rig.submit_one(["echo", "approved run"], requires_approval=True)
    assert job.status == JobStatus.BLOCKED
    await rig.engine.flush()
    assert rig.engine.queue_position(job.id) is None and job.attempts == 0
    await rig.service.approve(rig.actor(), job.id)
    await rig.wait_terminal(job.id)
    assert job.status == JobStatus.COMPLETED
    attempts, events = await rig.history(job.id)
    assert Path(attempts[0].run_dir, "stdout").read_text() == "approved run\n"
    approved = next(e for e in events if e.kind == "approved")
    assert (approved.from_status, approved.to_status, approved.actor) == ("blocked", "waiting", "owner")
    with pytest.raises(Conflict, match="not awaiting approval"):
        await rig.service.approve(rig.actor(), job.id)


async def test_reject_needs_and_records_a_reason(rig: Rig) -> None:
    job = await rig.submit_one(["true"], requires_approval=True)
    with pytest.raises(ValidationError, match="needs a reason"):
        await rig.service.reject(rig.actor(), job.id, "  ")
    assert job.status == JobStatus.BLOCKED
    await rig.service.reject(rig.actor(), job.id, "licence budget spent")
    assert job.status == JobStatus.REJECTED and job.reason == Reason.REJECTED
    assert "licence budget spent" in job.message
    _, events = await rig.history(job.id)
    assert events[-1].kind == "rejected" and "licence budget spent" in events[-1].message
    assert db_rows(rig.state_dir, f"SELECT status FROM jobs WHERE id={job.id}") == [("rejected",)]
    with pytest.raises(Conflict, match="submitted again"):
        await rig.service.requeue(rig.actor(), job.id)


async def test_limits_set_at_run_time_persist_across_restart(engine_factory, state_dir: Path) -> None:
    rig = await engine_factory()
    result = await rig.service.set_limits(rig.actor(), {"max_concurrent": 3, "fair_share": True})
    assert result["max_concurrent"] == 3 and result["fair_share"] is True
    with pytest.raises(ValidationError, match="invalid limits"):
        await rig.service.set_limits(rig.actor(), {"user_max_concurrent": 0})
    with pytest.raises(PermissionDenied):
        await rig.service.set_limits(rig.service.actor("someone"), {"max_concurrent": 9})
    await rig.engine.stop()
    again = await engine_factory(state_dir=state_dir)
    assert again.service.limits() == {
        "max_concurrent": 3,
        "user_max_concurrent": 20,
        "team_max_concurrent": 20,
        "fair_share": True,
        "local_gpu_max_concurrent": None,
        "local_job_max_concurrent": None,
    }
    assert again.engine.policy().max_concurrent == 3


async def assert_nothing_stored(rig: Rig) -> None:
    await rig.engine.flush()
    assert rig.engine.job_count == 0
    assert db_rows(rig.state_dir, "SELECT COUNT(*) FROM jobs") == [(0,)]
    assert db_rows(rig.state_dir, "SELECT COUNT(*) FROM events") == [(0,)]
    job = await rig.submit_one(["true"])  # and no id was used up
    assert job.id == 1


async def test_dependency_on_a_missing_job_is_refused_with_nothing_stored(rig: Rig) -> None:
    with pytest.raises(ValidationError, match="depends on job 42, which does not exist"):
        await rig.submit({"command": ["true"]}, {"command": ["true"], "after": [42]})
    await assert_nothing_stored(rig)


async def test_command_that_does_not_exist_is_refused_with_nothing_stored(rig: Rig) -> None:
    with pytest.raises(ValidationError, match="'no-such-program-xyz' was not found on PATH"):
        await rig.submit(["true"], ["no-such-program-xyz", "--flag"])
    await assert_nothing_stored(rig)


async def test_cycle_is_refused_with_nothing_stored(rig: Rig) -> None:
    with pytest.raises(ValidationError, match="dependency cycle: a -> b -> a"):
        await rig.submit(
            {"command": ["true"], "key": "a", "after": ["b"]},
            {"command": ["true"], "key": "b", "after": ["a"]},
        )
    await assert_nothing_stored(rig)


async def test_unplaceable_and_unknown_licence_are_refused(rig: Rig) -> None:
    with pytest.raises(ValidationError, match="can never start: it asks for 64 cores"):
        await rig.submit_one(["true"], cpus=64)
    with pytest.raises(ValidationError, match="licence pool 'abaqus' is not in the config"):
        await rig.submit_one(["true"], licenses=["abaqus"])
    with pytest.raises(ValidationError, match="working directory"):
        await rig.submit_one(["true"], workdir="/no/such/dir")
    await assert_nothing_stored(rig)


async def test_viewer_cannot_submit_and_researcher_cannot_raise_priority(engine_factory, config_factory) -> None:
    users = {"vic": {"role": "viewer"}, "ann": {"role": "researcher"}}
    rig = await engine_factory(config_factory(users=users, nodes=TWO_NODES))
    with pytest.raises(PermissionDenied, match="vic \\(viewer\\) may not submit"):
        await rig.submit_one(["true"], user="vic")
    with pytest.raises(PermissionDenied, match="may not set priority 25"):
        await rig.submit_one(["true"], user="ann", priority=25, node="hpc", requires_approval=True)
    job = await rig.submit_one(["true"], user="ann", node="hpc", requires_approval=True)
    assert job.priority == 10 and job.user == "ann"


async def test_in_personal_mode_others_jobs_never_run_on_this_machine(engine_factory, config_factory) -> None:
    """The engine runs as its owner: another user's local job would run with the owner's rights."""
    rig = await engine_factory(
        config_factory(users={"ann": {"role": "researcher"}}, nodes=[LocalNode(name="local"), HPC])
    )
    token = rig.state_dir / "owner.token"
    with pytest.raises(PermissionDenied, match="personal mode"):
        await rig.submit_one(["cat", str(token)], user="ann")
    with pytest.raises(PermissionDenied, match="personal mode"):
        await rig.submit_one(["cat", str(token)], user="ann", node="loc*")
    assert rig.engine.job_count == 0
    remote = await rig.submit_one(["true"], user="ann", node="hpc", requires_approval=True)
    assert remote.user == "ann"  # a cluster runs it as its own (remote) user
    mine = await rig.submit_one(["true"], node="local")  # the owner's own jobs run here
    assert (await rig.wait_terminal(mine.id)).status == JobStatus.COMPLETED


async def test_requeue_does_not_bypass_approval(engine_factory, config_factory) -> None:
    rig = await engine_factory(
        config_factory(users={"ann": {"role": "researcher"}}, nodes=[LocalNode(name="local"), HPC])
    )
    held = await rig.submit_one(["true"], user="ann", node="hpc", requires_approval=True)
    job = await rig.submit_one(["true"], user="ann", node="hpc", requires_approval=True, after=[held.id])
    await rig.service.cancel(rig.actor("ann"), job.id)
    await rig.service.requeue(rig.actor("ann"), job.id)
    assert job.status == JobStatus.BLOCKED and "awaiting approval again" in job.message
    await rig.service.cancel(rig.actor("ann"), job.id)
    await rig.service.requeue(rig.actor(), job.id)  # an approver may requeue it straight to the queue
    assert job.status == JobStatus.WAITING  # (waiting on `held`, which still awaits approval)


async def test_priority_reorders_the_queue(engine_factory, config_factory) -> None:
    from engine.config import Limits

    rig = await engine_factory(config_factory(limits=Limits(max_concurrent=1, user_max_concurrent=1)))
    blocker = await rig.submit_one(["sleep", "0.5"])
    await rig.wait_status(blocker.id, JobStatus.RUNNING)
    first, second = await rig.submit(["true"], ["true"])
    assert rig.service.position(first.id) == 1
    await rig.service.set_priority(rig.actor(), second.id, 90)
    assert rig.service.position(second.id) == 1 and rig.service.position(first.id) == 2
    await wait_for(lambda: first.is_terminal and second.is_terminal, 10, "both to run")
    assert second.started_at <= first.started_at
