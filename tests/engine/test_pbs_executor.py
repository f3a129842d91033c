"""The cluster executor with the PBS dialect, driven through `FakeRunner` (our command-runner seam).

There is no PBS server here: `FakePbs` answers `qsub`, `qstat -f -F json`, `qstat -x -f -F json ID` and
`qdel` the way PBS Pro documents them, moving each job one state per queue listing.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from engine.config import ClusterNode
from engine.errors import JobTuiError
from engine.executors.base import LaunchSpec, Liveness
from engine.executors.batch.executor import ClusterExecutor
from engine.executors.batch.pbs import PbsDialect
from engine.executors.batch.run_files import LocalFiles
from engine.models import Attempt, Job, Reason
from engine.testing import FakeRunner
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(30)


@dataclass
class FakeJob:
    name: str
    run_dir: str
    states: list[str]  # job_state per listing; when they run out the job has left the queue
    end: dict = field(default_factory=dict)  # how it ended: {"exit": code} writes the exit file; else history


class FakePbs:
    def __init__(self, plan: list[str], end: dict) -> None:
        self.plan, self.end = plan, end
        self.jobs: dict[str, FakeJob] = {}
        self.history: dict[str, dict] = {}
        self.qsub_fails_after_queueing = False
        self.runner = FakeRunner(self.answer)

    @property
    def submits(self) -> int:
        return sum(call[0] == "qsub" for call in self.runner.calls)

    def answer(self, argv: list[str]) -> tuple[int, str, str]:
        if argv == ["id", "-un"]:
            return 0, "ann\n", ""
        if argv == ["qsub"]:
            return self._qsub(self.runner.inputs[-1].decode())
        if argv == ["qstat", "-f", "-F", "json"]:
            return 0, self._listing(), ""
        if argv[:5] == ["qstat", "-x", "-f", "-F", "json"]:
            return self._history(argv[5:])
        if argv[0] == "qdel":
            self.jobs[argv[1]].states = []
            self.history[argv[1]] = {"substate": 91, "Exit_status": 271}
            return 0, "", ""
        raise AssertionError(f"unexpected command {argv}")

    def _qsub(self, script: str) -> tuple[int, str, str]:
        name = next(line.split()[2] for line in script.splitlines() if line.startswith("#PBS -N "))
        run_dir = next(shlex.split(line)[0][2:] for line in script.splitlines() if line.startswith("d="))
        job_id = f"{1234 + len(self.jobs)}.pbs01"
        self.jobs[job_id] = FakeJob(name, run_dir, list(self.plan), dict(self.end))
        if self.qsub_fails_after_queueing:
            raise JobTuiError("fake host: `qsub` did not answer within 60 s; it was stopped.")
        return 0, f"{job_id}\n", ""

    def _listing(self) -> str:
        jobs = {"9999.pbs01": {"Job_Name": "someone_else", "Job_Owner": "bob@login01", "job_state": "R"}}
        for job_id, job in self.jobs.items():
            if job.states:
                state = job.states.pop(0)
                jobs[job_id] = {"Job_Name": job.name, "Job_Owner": "ann@login01.example.org", "job_state": state}
            elif job_id not in self.history:
                self._finish(job_id, job)
        return json.dumps({"timestamp": 1700000000, "pbs_version": "22.05.11", "pbs_server": "pbs01", "Jobs": jobs})

    def _finish(self, job_id: str, job: FakeJob) -> None:
        if "exit" in job.end:
            Path(job.run_dir, "exit").write_text(f"{job.end['exit']}\n")
        self.history[job_id] = {k: v for k, v in job.end.items() if k != "exit"}

    def _history(self, ids: list[str]) -> tuple[int, str, str]:
        found = {}
        for job_id in ids or list(self.history):
            if job_id not in self.history:
                return 153, "", f"qstat: Unknown Job Id {job_id}\n"
            job = self.jobs[job_id]
            found[job_id] = {"Job_Name": job.name, "Job_Owner": "ann@login01", "job_state": "F", **self.history[job_id]}
        return 0, json.dumps({"pbs_version": "22.05.11", "Jobs": found}), ""


class Listener:
    def __init__(self) -> None:
        self.states: list[str | None] = []

    def node_changed(self, node: str, reachable: bool, sample: dict | None = None, reason: str = "") -> None:
        return None

    def attempt_changed(self, attempt: Attempt) -> None:
        self.states.append(attempt.external_state)


def _executor(server: FakePbs, tmp_path: Path) -> ClusterExecutor:
    node = ClusterNode(name="pbs", kind="pbs", poll_interval=0.01, lost_grace=5.0)
    return ClusterExecutor(node, PbsDialect(), str(tmp_path / "runs"), server.runner, LocalFiles())


def _attempt(executor: ClusterExecutor, token: str = "0123456789abcdef") -> tuple[Job, Attempt]:
    job = Job(7, "solve", ["sh", "-c", "true"], "ann", timeout=600)
    return job, Attempt(7, 1, "pbs", executor.run_dir(7, 1), token)


async def _run(executor: ClusterExecutor, job: Job, attempt: Attempt, workdir: Path):
    await executor.launch(LaunchSpec(job, attempt, {}, str(workdir)))
    try:
        return await asyncio.wait_for(executor.wait(attempt), 10)
    finally:
        await executor.close()


async def test_submit_queued_running_finished(tmp_path):
    used = {"resources_used": {"cput": "00:00:03", "mem": "51200kb", "walltime": "00:00:04"}}
    server = FakePbs(["Q", "Q", "R", "R"], {"exit": 0, "Exit_status": 0, "substate": 92, **used})
    executor = _executor(server, tmp_path)
    listener = Listener()
    executor.attach(listener)
    job, attempt = _attempt(executor)
    outcome = await _run(executor, job, attempt, tmp_path)
    assert (outcome.exit_code, outcome.reason) == (0, None)
    assert attempt.external_id == "1234.pbs01" and server.submits == 1
    assert listener.states == ["Q", "R"] and attempt.running_since is not None
    script = server.runner.inputs[server.runner.calls.index(["qsub"])].decode()
    assert "#PBS -l select=1:ncpus=1" in script and "#PBS -l walltime=0:10:00" in script
    # the exit file gave the code; the history was asked once, for the job's usage
    assert [call for call in server.runner.calls if call[:2] == ["qstat", "-x"]] == [
        ["qstat", "-x", "-f", "-F", "json", "1234.pbs01"]
    ]
    assert (attempt.cpu_seconds, attempt.peak_memory_bytes) == (3.0, 51200 << 10)


@pytest.mark.parametrize(
    ("end", "reason", "state"),
    [
        ({"Exit_status": -29, "substate": 92}, Reason.TIMEOUT, "TIMEOUT"),
        ({"Exit_status": 271, "substate": 91}, Reason.CANCELLED, "CANCELLED"),
        ({"Exit_status": -20, "substate": 93}, Reason.NODE_FAILURE, "NODE_FAIL"),
    ],
)
async def test_a_job_killed_without_an_exit_file_is_judged_by_its_history(tmp_path, end, reason, state):
    server = FakePbs(["R"], end)
    executor = _executor(server, tmp_path)
    job, attempt = _attempt(executor)
    outcome = await _run(executor, job, attempt, tmp_path)
    assert outcome.reason == reason and outcome.exit_code is None, outcome
    assert attempt.external_state == state and "pbs job 1234.pbs01" in outcome.message
    assert ["qstat", "-x", "-f", "-F", "json", "1234.pbs01"] in server.runner.calls


async def test_jobs_that_end_together_share_one_usage_query(tmp_path):
    used = {"resources_used": {"cput": "00:00:03", "mem": "51200kb", "walltime": "00:00:04"}}
    server = FakePbs(["R", "R"], {"exit": 0, "Exit_status": 0, "substate": 92, **used})
    executor = _executor(server, tmp_path)
    attempts = []
    for n in (7, 8):
        attempt = Attempt(n, 1, "pbs", executor.run_dir(n, 1), f"{n:016x}")
        await executor.launch(LaunchSpec(Job(n, "solve", ["true"], "ann", timeout=600), attempt, {}, str(tmp_path)))
        attempts.append(attempt)
    try:
        await asyncio.wait_for(asyncio.gather(*(executor.wait(a) for a in attempts)), 10)
    finally:
        await executor.close()
    history = [call for call in server.runner.calls if call[:2] == ["qstat", "-x"]]
    assert history == [["qstat", "-x", "-f", "-F", "json", "1234.pbs01", "1235.pbs01"]]
    assert [(a.cpu_seconds, a.peak_memory_bytes) for a in attempts] == [(3.0, 51200 << 10)] * 2


async def test_a_signal_from_the_history_is_a_signal(tmp_path):
    server = FakePbs(["R"], {"Exit_status": 137, "substate": 92})
    executor = _executor(server, tmp_path)
    job, attempt = _attempt(executor)
    outcome = await _run(executor, job, attempt, tmp_path)
    assert (outcome.exit_code, outcome.reason) == (137, None)  # decide() reads 137 as killed by SIGKILL


async def test_crash_after_submit_is_found_again_by_tag_and_never_resubmitted(tmp_path):
    server = FakePbs(["Q", "R", "R"], {"exit": 3, "Exit_status": 3})
    first = _executor(server, tmp_path)
    job, attempt = _attempt(first)
    await first.launch(LaunchSpec(job, attempt, {}, str(tmp_path)))
    await first.close()
    assert server.submits == 1
    # the engine died before it stored the id: a new engine knows the attempt, its token and no id
    again = Attempt(attempt.job_id, attempt.number, "pbs", attempt.run_dir, attempt.launch_token)
    second = _executor(server, tmp_path)
    try:
        assert await second.probe(again) == Liveness.RUNNING
        outcome = await asyncio.wait_for(second.wait(again), 10)
    finally:
        await second.close()
    assert outcome.exit_code == 3 and again.external_id == "1234.pbs01"
    assert server.submits == 1  # the second executor never ran qsub


async def test_a_submission_that_timed_out_is_found_by_its_tag(tmp_path):
    server = FakePbs(["Q", "R"], {"exit": 0})
    server.qsub_fails_after_queueing = True
    executor = _executor(server, tmp_path)
    job, attempt = _attempt(executor)
    outcome = await _run(executor, job, attempt, tmp_path)
    assert outcome.exit_code == 0 and attempt.external_id == "1234.pbs01" and server.submits == 1


async def test_a_submission_that_never_reached_the_server_is_lost_not_found(tmp_path):
    server = FakePbs([], {})
    executor = _executor(server, tmp_path)
    _, attempt = _attempt(executor)
    try:
        assert await executor.probe(attempt) == Liveness.LOST  # the engine may launch it again
    finally:
        await executor.close()
    assert server.submits == 0


async def test_cancel_uses_qdel_with_the_id(tmp_path):
    server = FakePbs(["R"] * 1000, {})
    executor = _executor(server, tmp_path)
    job, attempt = _attempt(executor)
    await executor.launch(LaunchSpec(job, attempt, {}, str(tmp_path)))
    try:
        waiting = asyncio.ensure_future(executor.wait(attempt))
        await wait_for(lambda: attempt.external_state == "R", 5, "the waiter to see the job running")
        await executor.cancel(attempt, grace=0)
        outcome = await asyncio.wait_for(waiting, 10)
    finally:
        await executor.close()
    assert ["qdel", "1234.pbs01"] in server.runner.calls
    assert outcome.reason == Reason.CANCELLED
