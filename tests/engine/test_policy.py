"""Policy on a real engine: the submitter's environment (deny-listed, redacted), approval rules, fair share over
time, starvation ageing that grows, why a queued job waits (and when it may start), and `wait` around jobs
that await approval."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from engine.api.local_client import LocalClient
from engine.config import Limits, LocalNode, UserConfig, load_config, parse_config
from engine.errors import ConfigError, ValidationError
from engine.models import Job, JobStatus, Resources
from engine.policy import Approval, ApprovalRule, FairShare, RuleCondition
from engine.service.jobspec import parse_specs
from engine.service.reads import job_detail, wait_for_jobs
from tests.fixtures.engine import OWNER, db_rows, make_config
from tests.waiting import wait_for
from tui.cli.output import describe_job

SAMPLES = Path(__file__).resolve().parents[2] / "sample_configs"


def _gate(tmp_path: Path, name: str = "go") -> tuple[Path, list[str]]:
    """A job that runs until the file `name` exists (the test decides when it ends)."""
    gate = tmp_path / name
    return gate, ["sh", "-c", f'while [ ! -e "{gate}" ]; do sleep 0.02; done']


async def _stdout(rig: Any, job: Job) -> str:
    attempt = await rig.engine.attempt_of(job.id, None)
    return (Path(attempt.run_dir) / "stdout").read_text()


# -- environment ----------------------------------------------------------------------------------------------


async def test_the_sent_environment_reaches_the_job_less_the_deny_list_and_secrets_stay_out_of_sight(rig):
    sent = {"PATH": os.environ["PATH"], "MY_SETTING": "from-my-shell", "API_TOKEN": "tok-123", "JOBTUI_X": "1"}
    spec = {"command": ["env"], "env": {"DB_PASSWORD": "pw-456", "PLAIN": "seen"}}
    [job] = await rig.service.submit(rig.actor(), parse_specs([spec]), environment=sent)
    await rig.wait_status(job.id, JobStatus.COMPLETED)
    out = await _stdout(rig, job)
    assert "MY_SETTING=from-my-shell" in out  # the caller's variable, not the daemon's environment
    assert "DB_PASSWORD=pw-456" in out and "PLAIN=seen" in out  # the job's own env, its secret put back
    assert "API_TOKEN" not in out and "JOBTUI_X" not in out  # deny-listed names of the caller never pass
    detail = await job_detail(rig.service, job.id)
    shown = repr(detail) + repr(job.to_dict())
    assert detail["job"]["env"] == {"DB_PASSWORD": "<redacted>", "PLAIN": "seen"}
    assert "pw-456" not in shown and "tok-123" not in shown and "from-my-shell" not in shown
    await rig.engine.flush()
    rows = db_rows(rig.state_dir, "SELECT data, coalesce(state, '') FROM jobs") + db_rows(
        rig.state_dir, "SELECT kind, message FROM events"
    )
    assert "pw-456" not in repr(rows)
    assert len(db_rows(rig.state_dir, "SELECT digest FROM environments")) == 1  # stored once, apart


async def test_a_batch_stores_its_environment_once(rig):
    sent = {"PATH": os.environ["PATH"], "BIG": "x" * 10_000}
    jobs = await rig.service.submit(rig.actor(), parse_specs([{"command": ["true"]}] * 20), environment=sent)
    assert len({j.extra["environment"] for j in jobs}) == 1
    assert len(db_rows(rig.state_dir, "SELECT digest FROM environments")) == 1
    assert all(len(data) < 2_000 for (data,) in db_rows(rig.state_dir, "SELECT data FROM jobs"))
    for job in jobs:
        await rig.wait_terminal(job.id)
    assert await rig.service.cleanup(rig.actor(), 0) == 20
    assert db_rows(rig.state_dir, "SELECT digest FROM environments") == []  # it goes with its last job


async def test_the_path_check_uses_the_callers_path(rig, tmp_path):
    bin_dir = tmp_path / "mybin"
    bin_dir.mkdir()
    program = bin_dir / "myprog"
    program.write_text("#!/bin/sh\necho found-it\n")
    program.chmod(0o755)
    sent = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    [job] = await rig.service.submit(rig.actor(), parse_specs([{"command": ["myprog"]}]), environment=sent)
    await rig.wait_status(job.id, JobStatus.COMPLETED)
    assert "found-it" in await _stdout(rig, job)
    with pytest.raises(ValidationError, match="not found on PATH"):  # --clean-env: the engine's own PATH
        await rig.service.submit(rig.actor(), parse_specs([{"command": ["myprog"]}]), environment=None)


def test_a_deny_list_that_is_not_a_list_is_a_config_error():
    with pytest.raises(ConfigError, match="env_deny must be a list"):
        parse_config("env_deny: '*TOKEN*'\n")


# -- approval rules ------------------------------------------------------------------------------------------


def _approval(**kw: Any) -> Approval:
    return Approval(
        cost_per_core_hour=0.5,
        rules=[
            ApprovalRule(name="too-costly", when=RuleCondition(cost_at_least=100), action="reject", message="ask"),
            ApprovalRule(
                name="big-jobs", when=RuleCondition(cpus_at_least=4), action="require_approval", approver="team_lead"
            ),
        ],
        **kw,
    )


async def test_a_rule_holds_a_job_for_its_team_lead_and_names_itself(engine_factory):
    users = {OWNER: UserConfig(role="admin", team="dft"), "lena": UserConfig(role="lead", team="dft")}
    users["max"] = UserConfig(role="lead", team="md")
    rig = await engine_factory(make_config(approval=_approval(), users=users))
    job = await rig.submit_one(["true"], cpus=4)
    assert job.status == JobStatus.BLOCKED
    assert job.extra["approval_rule"] == "big-jobs"
    _, events = await rig.history(job.id)
    assert events[0].kind == "submitted" and "big-jobs" in events[0].message
    assert [j.id for j in rig.service.approvals(rig.actor("lena"))] == [job.id]  # a lead of its team
    assert rig.service.approvals(rig.actor("max")) == []  # a lead of another team
    waiting = rig.engine.waiting_of(job)
    assert waiting is not None and waiting["code"] == "approval" and "big-jobs" in waiting["text"]
    await rig.service.approve(rig.actor("lena"), job.id)
    await rig.wait_status(job.id, JobStatus.COMPLETED)
    small = await rig.submit_one(["true"], cpus=1)
    assert small.status == JobStatus.WAITING and "approval_rule" not in small.extra


async def test_a_reject_rule_refuses_the_submission_with_its_message(engine_factory):
    rig = await engine_factory(make_config(approval=_approval()))
    with pytest.raises(ValidationError, match="approval rule 'too-costly': ask"):
        await rig.submit_one(["true"], cpus=2, timeout="200h")  # 400 core-hours x 0.5 = 200
    assert rig.engine.job_count == 0


def test_a_rule_with_an_unknown_field_is_refused_by_name():
    text = "approval:\n  rules:\n    - name: gpu-hogs\n      when: {gpu_count: 2}\n      action: reject\n"
    with pytest.raises(ConfigError, match=r"rule 'gpu-hogs', when: unknown field.*'gpu_count'"):
        parse_config(text)
    with pytest.raises(ConfigError, match=r"rule 'x': unknown field.*'aproover'"):
        parse_config("approval:\n  rules:\n    - {name: x, action: require_approval, aproover: admin}\n")


def test_the_policy_sample_config_loads():
    config = load_config(SAMPLES / "policy.yaml")
    assert [r.name for r in config.approval.rules] == ["too-expensive", "multi-gpu", "production-tag"]
    assert config.approval.rules[1].approver == "team_lead"
    assert config.fairshare.enabled and config.fairshare.teams == {"dft": 2, "md": 1}
    assert "AWS_*" in config.env_deny and config.limits.starvation_max_boost == 40


# -- wait and approval ---------------------------------------------------------------------------------------


async def test_wait_reports_blocked_jobs_and_returns_when_the_rest_have_ended(rig):
    held = await rig.submit_one(["true"], requires_approval=True)
    child = await rig.submit_one(["true"], after=[held.id])
    done = await rig.submit_one(["true"])
    result = await wait_for_jobs(rig.engine, None, timeout=20)
    assert result["done"] and result["blocked"] == [held.id, child.id]
    assert result["statuses"][str(done.id)] == "completed"
    client = LocalClient(rig.service, OWNER)
    waited = await client.wait([held.id], timeout=0.3, include_blocked=True)
    assert not waited["done"] and waited["pending"] == [held.id]


# -- fair share and ageing -----------------------------------------------------------------------------------


async def test_fair_share_puts_the_user_who_used_less_first_and_keeps_usage(engine_factory, state_dir):
    limits = Limits(max_concurrent=1, user_max_concurrent=5, team_max_concurrent=5)
    config = make_config(limits=limits, fairshare=FairShare(enabled=True, half_life_hours=1))
    first = await engine_factory(config)
    now = first.engine.clock.now()
    await first.engine.save_setting("fairshare_usage", {"at": now, "users": {"alice": 36_000.0}, "teams": {}})
    await first.engine.stop()
    rig = await engine_factory(config, state_dir=state_dir)
    report = rig.engine.fairshare()
    alice_row = next(u for u in report["users"] if u["user"] == "alice")
    assert alice_row["usage"] > 30_000 and alice_row["factor"] <= 0.5  # taken back from the store
    jobs = [
        Job(id=rig.engine.next_job_id + i, name=f"{user}-job", command=["sleep", "0.2"], user=user, priority=10,
            created_at=now, updated_at=now)
        for i, user in enumerate(["alice", "bob"])
    ]  # fmt: skip
    await rig.engine.submit(jobs, rig.actor())  # the engine itself: other users' jobs on this machine
    alice, bob = jobs
    await rig.wait_status(alice.id, JobStatus.COMPLETED)
    await rig.wait_status(bob.id, JobStatus.COMPLETED)
    assert bob.started_at < alice.started_at  # same priority, alice's id first: bob used less
    rows = {u["user"]: u for u in rig.engine.fairshare()["users"]}
    assert rows["bob"]["usage"] > 0  # charged when its attempt ended
    saved = (await rig.engine.settings())["fairshare_usage"]
    assert saved["users"]["bob"] > 0


async def test_starvation_ageing_grows_with_the_wait_up_to_its_cap(engine_factory, tmp_path):
    limits = Limits(
        max_concurrent=1, user_max_concurrent=5, team_max_concurrent=5, starvation_minutes=0.001,
        starvation_boost=10, starvation_max_boost=30,
    )  # fmt: skip
    rig = await engine_factory(make_config(limits=limits))
    gate, blocker = _gate(tmp_path)
    running = await rig.submit_one(blocker)
    await rig.wait_status(running.id, JobStatus.RUNNING)
    queued = await rig.submit_one(["true"], priority=5)
    seen: set[int] = set()

    def grown() -> bool:
        seen.add(queued.extra.get("age_boost", 0))
        return queued.extra.get("age_boost") == 30

    await wait_for(grown, 10, lambda: f"the boost to grow to 30 (seen {sorted(seen)})", step=0.01)
    assert len(seen - {0}) >= 2  # in steps of 10, not one boost
    await wait_for(lambda: not any(t[1] == queued.id and t[2] == "age" for t in rig.engine._timers), 5, "capped")
    assert queued.extra["age_boost"] == 30
    gate.touch()
    await rig.wait_status(queued.id, JobStatus.COMPLETED)


# -- why is my job waiting -----------------------------------------------------------------------------------


async def test_show_says_why_a_job_waits_and_when_it_may_start(engine_factory, tmp_path):
    limits = Limits(max_concurrent=5, user_max_concurrent=1, team_max_concurrent=5)
    rig = await engine_factory(make_config(limits=limits))
    gate, blocker = _gate(tmp_path)
    running = await rig.submit_one(blocker, timeout=600)
    await rig.wait_status(running.id, JobStatus.RUNNING)
    queued = await rig.submit_one(["true"])
    child = await rig.submit_one(["true"], after=[running.id])
    detail = await job_detail(rig.service, queued.id)
    waiting = detail["job"]["waiting"]
    assert waiting["code"] == "user_limit" and "the most per user is 1" in waiting["text"]
    started = running.started_at or time.time()
    assert waiting["estimated_start"] == pytest.approx(started + 600, abs=5)  # the running job's timeout
    text = describe_job(detail)
    assert "waiting      user_limit" in text and "may start" in text
    listed = await LocalClient(rig.service, OWNER).list_jobs(limit=10)
    reasons = {j["id"]: (j.get("waiting") or {}).get("code") for j in listed}
    assert reasons[queued.id] == "user_limit" and reasons[child.id] == "dependency" and reasons[running.id] is None
    gate.touch()
    await rig.wait_status(queued.id, JobStatus.COMPLETED)
    assert rig.engine.waiting_of(queued) is None


async def test_a_job_no_node_fits_says_which_resource_and_the_free_amount(engine_factory, tmp_path):
    rig = await engine_factory(make_config(nodes=[LocalNode(name="local", cores=8, gpus=0)]))
    gate, blocker = _gate(tmp_path)
    running = await rig.submit_one(blocker, cpus=6)
    await rig.wait_status(running.id, JobStatus.RUNNING)
    queued = await rig.submit_one(["true"], cpus=4)
    await wait_for(lambda: queued.id in rig.engine.scan_notes.looked_at, 5, "the scheduler to pass it over")
    waiting = rig.engine.waiting_of(queued)
    assert waiting is not None and waiting["code"] == "resources"
    assert "local has 2 of 8 cores free, it needs 4" in waiting["text"]
    assert waiting["looked_at"] > 0
    gate.touch()
    await rig.wait_status(queued.id, JobStatus.COMPLETED)
    assert queued.id not in rig.engine.scan_notes.looked_at  # the note goes with the wait


def test_plan_orders_users_by_their_bonus():
    from engine.scheduling.plan import NodeState, Policy, Usage, plan
    from engine.scheduling.queue_index import QueueIndex

    index = QueueIndex()
    for i, user in enumerate(["alice", "bob"], start=1):
        index.add(Job(id=i, name="j", command=["true"], user=user, resources=Resources()), 10)
    nodes = [NodeState("n", cores=1, mem_mb=0)]
    assert plan(index, Usage(), nodes, Policy(max_concurrent=1))[0].job_id == 1
    fair = Policy(max_concurrent=1, user_bonus={"alice": 3, "bob": 90}, bonus_default=100)
    assert plan(index, Usage(), nodes, fair)[0].job_id == 2


def test_loader_and_shell_variables_never_reach_the_root_wrapper_and_come_back_for_the_job():
    import subprocess

    from engine.core.environment import for_root_wrapper
    from engine.executors.wrapper import AS_USER, AS_USER_NAME

    job_env = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": "/opt/x lib;$(echo injected)", "BASH_FUNC_cd%%": "() { :; }"}
    root_env = for_root_wrapper(job_env)  # shared mode: what the wrapper gets while it is still root
    assert not any(k.startswith(("LD_", "BASH_FUNC_")) for k in root_env)
    done = subprocess.run(["/bin/sh", "-c", AS_USER, AS_USER_NAME, "/", "env"], env=root_env, capture_output=True)
    seen = done.stdout.decode()
    assert "LD_LIBRARY_PATH=/opt/x lib;$(echo injected)\n" in seen and "injected\n" not in seen.replace(")\n", "")
    assert "JOBTUI_KEEP_" not in seen and "JOBTUI_RESTORE" not in seen and "BASH_FUNC" not in seen
