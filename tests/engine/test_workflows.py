"""Workflows in the engine: edge conditions (`success`, `failure`, `any`) decided by the scheduler, in causal
order; the workflow record saved with its jobs and kept across a restart; its derived status; cancelling a
whole workflow and running its failed part again."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from engine.config import ClusterNode, LocalNode
from engine.errors import Conflict, NotFound, PermissionDenied
from engine.models import Job, JobStatus, Reason
from engine.service.jobspec import WorkflowInfo, parse_specs
from engine.service.workflow_reads import list_workflows, summary_of
from engine.service.workflow_verbs import cancel_workflow, requeue_workflow
from engine.store import MIGRATIONS, SCHEMA_VERSION
from engine.wire import workflow_status
from engine.workflows.detail import workflow_detail
from tests.fixtures.engine import OWNER, Daemon, Rig, db_rows
from tests.waiting import wait_for, wait_for_sync

S = JobStatus
HPC = ClusterNode(name="hpc", kind="slurm", max_cores=1)  # never reached: jobs sent there wait for approval
INFO = WorkflowInfo(name="pipeline", version="1.2", description="a test pipeline", digest="ab" * 32)


async def submit_workflow(rig: Rig, *specs: dict[str, Any], user: str = OWNER, info: WorkflowInfo = INFO) -> list[Job]:
    return await rig.service.submit(rig.actor(user), parse_specs(list(specs)), workflow=info)


async def ended(rig: Rig, *jobs: Job, timeout: float = 15.0) -> None:
    what = lambda: f"jobs to end ({[(j.id, j.status.value) for j in jobs]})"  # noqa: E731
    await wait_for(lambda: all(j.is_terminal for j in jobs), timeout, what)


async def seqs(rig: Rig, job: Job) -> dict[str, int]:
    """The history's seq of each status a job went to (the last time)."""
    _, events = await rig.history(job.id)
    return {e.to_status: e.seq for e in events if e.to_status}


# -- edge conditions --------------------------------------------------------------------------------------------


async def test_a_failure_edge_runs_the_clean_up_only_when_its_parent_failed(rig: Rig) -> None:
    build, clean, deploy = await rig.submit(
        {"command": ["sh", "-c", "exit 3"], "key": "b", "name": "build"},
        {"command": ["true"], "key": "c", "name": "clean-up", "after": ["b"], "after_when": {"b": "failure"}},
        {"command": ["true"], "name": "deploy", "after": ["b"]},
    )
    assert clean.after_when == {build.id: "failure"} and deploy.after_when == {}  # success edges are not stored
    await ended(rig, build, clean, deploy)
    assert (build.status, clean.status, deploy.status) == (S.FAILED, S.COMPLETED, S.SKIPPED)
    assert (
        deploy.reason == Reason.DEPENDENCY_FAILED
        and f"dependency job {build.id} (build) ended failed" in deploy.message
    )

    ok, clean2, after_clean = await rig.submit(
        {"command": ["true"], "key": "b", "name": "build"},
        {"command": ["true"], "key": "c", "name": "clean-up", "after": ["b"], "after_when": {"b": "failure"}},
        {"command": ["true"], "name": "after clean-up", "after": ["c"]},
    )
    await ended(rig, ok, clean2, after_clean)
    assert (ok.status, clean2.status, after_clean.status) == (S.COMPLETED, S.SKIPPED, S.SKIPPED)
    assert clean2.reason == Reason.CONDITION_NOT_MET and clean2.attempts == 0
    assert clean2.message == f"runs after job {ok.id} (build) on failure; it completed"
    # the skip cascades through the success edge, and nothing failed: the child was not needed either
    assert after_clean.reason == Reason.CONDITION_NOT_MET
    assert after_clean.message == f"dependency job {clean2.id} (clean-up) ended skipped"


async def test_an_any_edge_runs_whatever_way_its_parent_ended(rig: Rig) -> None:
    specs = [
        {"command": ["sh", "-c", "exit 1"], "key": "bad"},
        {"command": ["true"], "key": "good"},
        {"command": ["true"], "name": "after bad", "after": ["bad"], "after_when": {"bad": "any"}},
        {"command": ["true"], "name": "after good", "after": ["good"], "after_when": {"good": "any"}},
        {"command": ["true"], "name": "after both", "after": ["bad", "good"], "after_when": {"bad": "any"}},
    ]
    bad, good, after_bad, after_good, after_both = await rig.submit(*specs)
    await ended(rig, bad, good, after_bad, after_good, after_both)
    assert [j.status for j in (bad, good, after_bad, after_good, after_both)] == [
        S.FAILED, S.COMPLETED, S.COMPLETED, S.COMPLETED, S.COMPLETED,
    ]  # fmt: skip
    assert after_both.started_at >= max(bad.finished_at, good.finished_at)


async def test_a_failure_edge_waits_for_the_other_parents_and_a_completed_one_skips_at_once(rig: Rig) -> None:
    """`failure` after a fast job that completes, `success` after a slow one: skipped as soon as the fast one
    completed, without waiting for the slow one; and one failure edge met does not release a child that still
    waits for another parent."""
    _, slow, child, waits = await rig.submit(
        {"command": ["true"], "key": "fast"},
        {"command": ["sleep", "30"], "key": "slow"},
        {"command": ["true"], "after": ["fast", "slow"], "after_when": {"fast": "failure"}},
        {"command": ["true"], "after": ["slow", "fast"], "after_when": {"slow": "failure", "fast": "any"}},
    )
    await rig.wait_status(child.id, S.SKIPPED)
    assert slow.status == S.RUNNING and child.reason == Reason.CONDITION_NOT_MET
    assert waits.status == S.WAITING and rig.engine.queue_position(waits.id) is None
    await rig.service.cancel(rig.actor(), slow.id)  # cancelled: not completed, so `failure` is met
    await rig.wait_status(waits.id, S.COMPLETED)


async def test_a_parent_ends_before_its_children_skip_or_start_in_the_history(rig: Rig) -> None:
    stream = rig.engine.subscribe()
    parent, on_failure, on_success, on_any = await rig.submit(
        {"command": ["sh", "-c", "exit 2"], "key": "p"},
        {"command": ["true"], "after": ["p"], "after_when": {"p": "failure"}},
        {"command": ["true"], "after": ["p"]},
        {"command": ["true"], "after": ["p"], "after_when": {"p": "any"}},
    )
    await ended(rig, parent, on_failure, on_success, on_any)
    await rig.engine.flush()
    failed = (await seqs(rig, parent))["failed"]
    assert failed < (await seqs(rig, on_success))["skipped"]
    assert failed < (await seqs(rig, on_failure))["starting"] and failed < (await seqs(rig, on_any))["starting"]
    published = []
    while not stream.queue.empty():
        event = stream.queue.get_nowait()
        if event.kind == "job_changed" and event.record["status"] in ("failed", "skipped", "starting"):
            published.append((event.key, event.record["status"]))
    assert published.index((parent.id, "failed")) < published.index((on_success.id, "skipped"))
    assert published.index((parent.id, "failed")) < published.index((on_failure.id, "starting"))


# -- the workflow record -----------------------------------------------------------------------------------------


async def test_the_record_is_saved_with_its_jobs_and_outlives_the_engine(engine_factory, state_dir: Path) -> None:
    rig = await engine_factory()
    build, test = await submit_workflow(
        rig,
        {"command": ["true"], "key": "build"},
        {"command": ["true"], "key": "test", "after": ["build"], "after_when": {"build": "any"}},
    )
    plain = await rig.submit_one(["true"])
    assert build.workflow_id == test.workflow_id == 1 and plain.workflow_id is None
    await ended(rig, build, test, plain)
    rows = db_rows(state_dir, "SELECT id, name, version, description, digest, submitter FROM workflows")
    assert rows == [(1, "pipeline", "1.2", "a test pipeline", "ab" * 32, OWNER)]
    assert build.to_dict()["workflow_id"] == 1 and test.to_dict()["after_when"] == {str(build.id): "any"}
    await rig.engine.stop()

    again = await engine_factory()
    record = again.engine.workflow(1)
    assert (record.name, record.version, record.submitter) == ("pipeline", "1.2", OWNER)
    loaded = again.engine.get(test.id)
    assert loaded.workflow_id == 1 and loaded.after_when == {build.id: "any"} and loaded.status == S.COMPLETED
    (summary,) = list_workflows(again.service)["workflows"]
    assert summary["job_ids"] == [build.id, test.id] and summary["status"] == "completed"
    second = await submit_workflow(again, {"command": ["true"]}, info=WorkflowInfo(name="second"))
    assert second[0].workflow_id == 2  # numbered after the ones on disk
    with pytest.raises(NotFound, match="workflow 9 does not exist"):
        summary_of(again.service, 9)


async def test_a_workflow_runs_at_most_its_max_concurrent_jobs_at_once(engine_factory) -> None:
    """`max_concurrent_jobs` caps the workflow's jobs running together (the engine's limits allow 20), also
    for the engine that takes it over after a restart."""
    rig = await engine_factory()
    capped = WorkflowInfo(name="capped", max_concurrent=2)
    jobs = await submit_workflow(rig, *[{"command": ["sleep", "0.2"]} for _ in range(6)], info=capped)
    free = await rig.submit({"command": ["sleep", "0.2"]}, {"command": ["sleep", "0.2"]}, {"command": ["sleep", "0.2"]})
    await ended(rig, *jobs, *free)
    assert await most_at_once(rig, jobs) == 2
    assert await most_at_once(rig, [*jobs[:1], *free]) >= 3, "the cap holds back only the workflow's own jobs"
    await rig.engine.stop()

    again = await engine_factory()
    more = await submit_workflow(again, *[{"command": ["sleep", "0.2"]} for _ in range(4)], info=capped)
    assert again.engine.workflow(1).max_concurrent == 2
    await ended(again, *more)
    assert await most_at_once(again, more) == 2


async def most_at_once(rig: Rig, jobs: list[Job]) -> int:
    """The most of `jobs` that held a slot at the same moment, from their attempts' start and end times."""
    moments = []
    for job in jobs:
        attempts, _ = await rig.history(job.id)
        for a in attempts:
            moments += [(a.started_at, 1), (a.finished_at, -1)]
    running = most = 0
    for _, step in sorted(moments):  # at a tie an end (-1) comes first: its slot is free for the start
        running += step
        most = max(most, running)
    return most


async def test_a_database_of_before_workflows_is_migrated_and_its_jobs_load(engine_factory, state_dir: Path) -> None:
    """A schema-3 file (no workflows table, job records without `after_when` or `workflow_id`) opens as is."""
    rig = await engine_factory()
    (job,) = await rig.submit({"command": ["true"], "requires_approval": True})
    await rig.engine.stop()
    record = job.to_dict()
    del record["after_when"], record["workflow_id"]
    old = state_dir.parent / "old"
    old.mkdir(mode=0o700)
    con = sqlite3.connect(old / "jobtui.db")
    con.executescript("".join(MIGRATIONS[:3]) + "PRAGMA user_version=3;")
    con.execute(
        "INSERT INTO jobs(id, status, user, updated_at, finished_at, data) VALUES (?,?,?,?,?,?)",
        (job.id, "blocked", OWNER, job.updated_at, None, json.dumps(record)),
    )
    con.commit()
    con.close()
    migrated = await engine_factory(state_dir=old)
    loaded = migrated.engine.get(job.id)
    assert loaded.after_when == {} and loaded.workflow_id is None and loaded.status == S.BLOCKED
    assert db_rows(old, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert db_rows(old, "SELECT COUNT(*) FROM workflows") == [(0,)]


async def test_the_record_goes_with_the_last_of_its_jobs(rig: Rig) -> None:
    first, second = await submit_workflow(rig, {"command": ["true"]}, {"command": ["true"]})
    await ended(rig, first, second)
    await rig.engine.remove_jobs([first.id])
    assert summary_of(rig.service, 1)["job_ids"] == [second.id]  # one job left: the record stays
    await rig.service.cleanup(rig.actor(), 0)
    assert list_workflows(rig.service) == {"workflows": []}
    assert db_rows(rig.state_dir, "SELECT COUNT(*) FROM workflows") == [(0,)]


def test_the_status_of_a_workflow_is_derived_from_its_jobs() -> None:
    assert workflow_status([("completed", None), ("running", None), ("failed", "exit_code")]) == "running"
    assert workflow_status([("completed", None), ("waiting", None)]) == "waiting"
    assert workflow_status([("completed", None), ("blocked", None)]) == "waiting"
    assert workflow_status([("completed", None), ("skipped", "condition_not_met")]) == "completed"
    assert workflow_status([("failed", "exit_code"), ("skipped", "dependency_failed")]) == "failed"
    assert workflow_status([("cancelled", "cancelled"), ("skipped", "dependency_failed")]) == "cancelled"
    assert workflow_status([("failed", "exit_code"), ("cancelled", "cancelled")]) == "failed"
    assert workflow_status([("skipped", "dependency_failed")]) == "failed"  # by a parent outside the workflow
    assert workflow_status([("completed", None)]) == "completed"


async def test_the_detail_has_edges_levels_and_the_critical_path(rig: Rig) -> None:
    a, b, c, d = await submit_workflow(
        rig,
        {"command": ["sleep", "0.3"], "key": "a", "timeout": 60},
        {"command": ["true"], "key": "b", "after": ["a"], "timeout": 600},
        {"command": ["true"], "key": "c", "after": ["a"], "timeout": 30},
        {"command": ["true"], "key": "d", "after": ["b", "c"], "after_when": {"c": "any"}, "timeout": 10},
    )
    assert summary_of(rig.service, 1)["status"] in ("waiting", "running")
    detail = workflow_detail(rig.service, 1)
    assert detail["levels"] == [[a.id], [b.id, c.id], [d.id]]
    assert detail["critical_path"] == {"jobs": [a.id, b.id, d.id], "seconds": 670.0}
    (last,) = [j for j in detail["jobs"] if j["id"] == d.id]
    assert last["after"] == [{"id": b.id, "when": "success"}, {"id": c.id, "when": "any"}] and last["level"] == 2
    await ended(rig, a, b, c, d)
    summary = summary_of(rig.service, 1)
    assert summary["status"] == "completed" and summary["counts"] == {"completed": 4} and summary["jobs"] == 4


# -- cancel and requeue a whole workflow -------------------------------------------------------------------------


async def test_cancelling_a_workflow_cancels_what_runs_and_what_waits_once_each(rig: Rig) -> None:
    done, running, child, cleanup = await submit_workflow(
        rig,
        {"command": ["true"], "key": "done"},
        {"command": ["sleep", "30"], "key": "run", "after": ["done"]},
        {"command": ["true"], "key": "child", "after": ["run"]},
        {"command": ["true"], "key": "cleanup", "after": ["run"], "after_when": {"run": "any"}},
    )
    await rig.wait_status(running.id, S.RUNNING)
    result = await cancel_workflow(rig.service, rig.actor(), 1)
    assert sorted(j["id"] for j in result["jobs"]) == [running.id, child.id, cleanup.id]
    await ended(rig, running, child, cleanup)
    assert (done.status, running.status, child.status, cleanup.status) == (S.COMPLETED, *[S.CANCELLED] * 3)
    assert cleanup.attempts == 0  # the `any` edge released nothing: it was cancelled before its parent ended
    for job in (child, cleanup):
        _, events = await rig.history(job.id)
        assert [e.to_status for e in events] == ["waiting", "cancelled"] and events[-1].actor == OWNER
    assert summary_of(rig.service, 1)["status"] == "cancelled"
    with pytest.raises(Conflict, match="has already ended \\(cancelled\\); nothing to cancel"):
        await cancel_workflow(rig.service, rig.actor(), 1)
    with pytest.raises(NotFound):
        await cancel_workflow(rig.service, rig.actor(), 7)


async def test_a_researcher_cancels_their_own_workflow_and_no_one_elses(engine_factory, config_factory) -> None:
    users = {"ann": {"role": "researcher"}, "bob": {"role": "researcher"}, "vic": {"role": "viewer"}}
    rig = await engine_factory(config_factory(users=users, nodes=[LocalNode(name="local"), HPC]))
    held = {"command": ["true"], "node": "hpc", "requires_approval": True}
    first, second = await submit_workflow(rig, {**held, "key": "a"}, {**held, "after": ["a"]}, user="ann")
    for who in ("bob", "vic"):
        with pytest.raises(PermissionDenied, match=f"{who} \\(\\w+\\) may not cancel job {first.id}"):
            await cancel_workflow(rig.service, rig.actor(who), 1)
    assert first.status == second.status == S.BLOCKED  # refused as a whole: nothing cancelled
    await cancel_workflow(rig.service, rig.actor("ann"), 1)
    assert first.status == second.status == S.CANCELLED


async def test_requeue_runs_the_failed_part_again_and_keeps_what_completed(rig: Rig, tmp_path: Path) -> None:
    mark = tmp_path / "failed-once"
    flaky = f"test -e {mark} || {{ touch {mark}; exit 1; }}"  # fails the first time only
    setup, build, test, rollback, report = await submit_workflow(
        rig,
        {"command": ["true"], "key": "setup"},
        {"command": ["sh", "-c", flaky], "key": "build", "after": ["setup"]},
        {"command": ["true"], "key": "test", "after": ["build"]},
        {"command": ["true"], "key": "rollback", "after": ["setup"], "after_when": {"setup": "failure"}},
        {"command": ["true"], "key": "report", "after": ["test"], "after_when": {"test": "any"}},
    )
    await ended(rig, setup, build, test, rollback, report)
    assert [j.status for j in (setup, build, test, rollback, report)] == [
        S.COMPLETED, S.FAILED, S.SKIPPED, S.SKIPPED, S.COMPLETED,
    ]  # fmt: skip
    assert summary_of(rig.service, 1)["status"] == "failed"
    setup_seen = (setup.attempts, setup.finished_at)

    result = await requeue_workflow(rig.service, rig.actor(), 1)
    # the rollback stays skipped: its parent completed and is kept, so its condition still is not met
    assert [j["id"] for j in result["jobs"]] == [build.id, test.id]
    assert test.status == S.WAITING  # for build, which may have started already
    await ended(rig, build, test)
    assert (build.status, test.status, rollback.status, report.status) == (
        S.COMPLETED,
        S.COMPLETED,
        S.SKIPPED,
        S.COMPLETED,
    )
    assert (setup.attempts, setup.finished_at) == setup_seen and build.attempts == 2 and test.attempts == 1
    assert report.attempts == 1  # completed once: kept
    _, events = await rig.history(build.id)
    requeued = [e for e in events if e.kind == "requeued"]
    assert [(e.from_status, e.to_status) for e in requeued] == [("failed", "waiting")]
    assert requeued[0].message == "requeued by owner with workflow 1"
    assert summary_of(rig.service, 1)["status"] == "completed"
    with pytest.raises(Conflict, match="nothing to requeue"):
        await requeue_workflow(rig.service, rig.actor(), 1)


async def test_requeue_refuses_a_workflow_still_running(rig: Rig) -> None:
    (job,) = await submit_workflow(rig, {"command": ["sleep", "30"]})
    await rig.wait_status(job.id, S.RUNNING)
    with pytest.raises(Conflict, match="workflow 1 \\(pipeline\\) is running"):
        await requeue_workflow(rig.service, rig.actor(), 1)
    await rig.service.cancel(rig.actor(), job.id)


# -- through a daemon and the CLI ---------------------------------------------------------------------------------

DAEMON_CONFIG = """\
nodes: [{name: local, kind: local, cores: 8, memory_mb: 16384, gpus: 0}]
limits: {max_concurrent: 10, user_max_concurrent: 10}
"""


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("workflows")
    config = base / "config.yaml"
    config.write_text(DAEMON_CONFIG)
    daemon = Daemon(base / "state", config).start()
    yield daemon
    daemon.cleanup()


def workflow_named(cli: Daemon, name: str) -> dict[str, Any]:
    return next(w for w in cli.cli_json("workflows") if w["name"] == name)


def one_line_error(done: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr and text in done.stderr, done.stderr


def test_the_sample_workflows_run_to_the_end_and_are_listed(cli: Daemon) -> None:
    seed = cli.cli("--json", "run", "sample_configs/workflow-seed.yaml", timeout=120)
    assert seed.returncode == 1, seed.stderr  # `make build` has no Makefile here: build fails, the rest is skipped
    jobs = {j["name"]: j for j in json.loads(seed.stdout)}
    assert {k: j["status"] for k, j in jobs.items()} == {
        "Build Application": "failed",
        "Run Tests": "skipped",
        "Deploy Application": "skipped",
    }
    assert jobs["Build Application"]["attempts"] == 3 and jobs["Run Tests"]["reason"] == "dependency_failed"

    ci = cli.cli("--json", "run", "sample_configs/workflow-ci.yaml", timeout=180)
    assert ci.returncode == 0, ci.stderr  # the rollback was not needed: the workflow completed
    jobs = {j["name"]: j for j in json.loads(ci.stdout)}
    rollback, smoke = jobs.pop("Roll back staging"), jobs["smoke_tests"]
    assert {j["status"] for j in jobs.values()} == {"completed"} and len(jobs) == 13
    assert (rollback["status"], rollback["reason"]) == ("skipped", "condition_not_met")
    assert rollback["message"] == f"runs after job {smoke['id']} (smoke_tests) on failure; it completed"
    assert rollback["after_when"] == {str(smoke["id"]): "failure"}
    assert len({j["workflow_id"] for j in jobs.values()}) == 1

    listed = {w["name"]: w for w in cli.cli_json("workflows")}
    assert listed["CI/CD Pipeline"]["status"] == "failed" and listed["Sample CI/CD"]["status"] == "completed"
    assert listed["CI/CD Pipeline"]["counts"] == {"failed": 1, "skipped": 2}
    assert listed["Sample CI/CD"]["counts"] == {"completed": 13, "skipped": 1}
    assert listed["Sample CI/CD"]["version"] == "1.0.0" and listed["Sample CI/CD"]["submitter"]
    assert len(listed["CI/CD Pipeline"]["digest"]) == 64
    table = cli.cli("workflows").stdout.splitlines()
    assert table[0].split()[:4] == ["ID", "NAME", "VERSION", "STATUS"]


def test_show_wait_requeue_and_cancel_a_workflow_by_its_wf_id(cli: Daemon, tmp_path: Path) -> None:
    mark = tmp_path / "failed-once"
    file = tmp_path / "flaky.yaml"
    file.write_text(
        f"""\
name: flaky
version: "2"
jobs:
  - {{id: first, command: "true", timeout: 60}}
  - {{id: flaky, command: "test -e {mark} || {{ touch {mark}; exit 1; }}", dependencies: [first], timeout: 120}}
  - {{id: after, command: "true", dependencies: [flaky], timeout: 10}}
  - {{id: rescue, command: "true", dependencies: [{{flaky: failure}}], timeout: 5}}
"""
    )
    ids = cli.cli_json("submit", "--file", str(file))["ids"]
    wf = workflow_named(cli, "flaky")["id"]
    assert workflow_named(cli, "flaky")["job_ids"] == ids

    waited = cli.cli("--json", "wait", f"wf:{wf}", "--timeout", "30")
    assert waited.returncode == 1 and json.loads(waited.stdout)["status"] == "failed"
    detail = cli.cli_json("show", f"wf:{wf}")
    assert set(detail) == {"workflow", "jobs", "levels", "critical_path"}
    first, flaky, after, rescue = ids
    assert detail["levels"] == [[first], [flaky], [after, rescue]]
    assert detail["critical_path"] == {"jobs": [first, flaky, after], "seconds": 190.0}
    statuses = {j["id"]: (j["status"], j["after"]) for j in detail["jobs"]}
    assert statuses[rescue] == ("completed", [{"id": flaky, "when": "failure"}])
    assert statuses[after] == ("skipped", [{"id": flaky, "when": "success"}])
    text = cli.cli("show", f"wf:{wf}").stdout
    assert text.startswith(f"Workflow {wf}: flaky 2  [failed]") and "levels:" in text and f"{flaky}(failure)" in text

    one_line_error(cli.cli("requeue", f"wf:{wf}"), 2, "add --failed")
    requeued = cli.cli_json("requeue", f"wf:{wf}", "--failed")
    assert [j["id"] for j in requeued["jobs"]] == [flaky, after]
    assert cli.cli("wait", f"wf:{wf}", "--timeout", "30").returncode == 0
    again = {j["id"]: j for j in cli.cli_json("show", f"wf:{wf}")["jobs"]}
    assert [again[i]["attempts"] for i in ids] == [1, 2, 1, 1] and again[after]["status"] == "completed"
    one_line_error(cli.cli("cancel", f"wf:{wf}"), 1, "has already ended (completed); nothing to cancel")

    file.write_text(
        "name: long\njobs:\n  - {id: sleeper, command: [sleep, '30']}\n"
        "  - {id: next, command: 'true', after: [sleeper]}\n"
    )
    cli.cli_json("submit", "--file", str(file))
    long = workflow_named(cli, "long")
    wait_for_sync(lambda: cli.job(long["job_ids"][0])["job"]["status"] == "running", 15, "the sleeper to run")
    cancelled = cli.cli("cancel", f"wf:{long['id']}")
    assert cancelled.returncode == 0 and "cancelled 2 job(s)" in cancelled.stdout, cancelled.stderr
    waited = cli.cli("--json", "wait", f"wf:{long['id']}", "--timeout", "30")
    assert waited.returncode == 1 and json.loads(waited.stdout)["status"] == "cancelled"


def test_a_bad_workflow_id_is_one_line_and_an_exit_code(cli: Daemon) -> None:
    one_line_error(cli.cli("show", "wf:abc"), 2, "'wf:abc' is not a workflow; write wf: and its number")
    one_line_error(cli.cli("show", "wf:"), 2, "is not a workflow")
    one_line_error(cli.cli("show", "build"), 2, "'build' is neither a job id (a number) nor a workflow (wf:ID)")
    one_line_error(cli.cli("show", "wf:999"), 1, "workflow 999 does not exist")
    one_line_error(cli.cli("cancel", "wf:999"), 1, "workflow 999 does not exist")
    one_line_error(cli.cli("wait", "wf:999"), 1, "workflow 999 does not exist")
    one_line_error(cli.cli("cancel", "3", "wf:1"), 2, "give one workflow (wf:1) alone")
    one_line_error(cli.cli("wait", "wf:1", "--all"), 2, "alone, without job ids or --all")
    one_line_error(cli.cli("requeue", "1", "--failed"), 2, "--failed requeues the failed part of a workflow")
    response = cli.get("/api/workflows/999")
    assert response.status_code == 404 and response.json()["error"] == "Not found"
