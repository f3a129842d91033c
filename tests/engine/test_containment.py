"""Containment of local jobs on this machine's real cgroups (root, here and in CI): a job past its `mem_mb` is
killed by the kernel and fails `out_of_memory`; a `setsid` grandchild dies on `jobtui cancel` and on timeout;
kill -9 of the engine keeps the cgroup and its limits, and the next engine re-attaches and cleans up; without
cgroups (config `containment.mode: proc`) the /proc marker still finds the grandchild. Each attempt's CPU time
and peak memory are recorded and shown by `jobtui show`; no cgroup is left behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.config import Config, Limits, LocalNode
from engine.containment.group import AttemptGroup
from engine.containment.mode import detect
from engine.containment.settings import ContainmentSettings
from engine.models import JobStatus
from tests.fixtures.cgroups import attempt_dirs, cgroups_available, engine_dirs
from tests.fixtures.engine import Daemon, Rig, pid_alive
from tests.waiting import wait_for, wait_for_sync

NO_CGROUPS = cgroups_available() if os.geteuid() == 0 else "cgroup tests need root (the CI machine runs as root)"
needs_cgroups = pytest.mark.skipif(NO_CGROUPS is not None, reason=NO_CGROUPS or "")

MIB = 1 << 20
# Allocates 200 MiB, 1 MiB at a time, touching every page; prints "survived" if nothing stopped it.
HOG = "b = [bytearray(b'x' * (1 << 20)) for _ in range(200)]; print('survived')"
# A job of --mem 100M --cpus 1: its cgroup's limits (the test machines mount v1).
LIMITS_V1 = {"memory.limit_in_bytes": str(100 * MIB), "cpu.cfs_quota_us": "100000"}
LIMITS_V2 = {"memory.max": str(100 * MIB), "cpu.max": "100000 100000"}


def grandchild_job(pid_file: Path) -> list[str]:
    """A job that starts a `setsid` grandchild (its pid written to `pid_file`) and then waits."""
    return ["sh", "-c", f'setsid sleep 300 & echo $! > "{pid_file}.tmp" && mv "{pid_file}.tmp" "{pid_file}"; sleep 300']


def config(mode: str = "auto", **fields: object) -> Config:
    limits = Limits(max_concurrent=20, user_max_concurrent=20, team_max_concurrent=20)
    settings = ContainmentSettings(mode=mode, **fields)  # type: ignore[arg-type]
    return Config(nodes=[LocalNode(name="local", cores=8, gpus=0)], limits=limits, containment=settings)


def config_text(mode: str) -> str:
    return f"nodes: [{{name: local, kind: local, cores: 8}}]\ncontainment: {{mode: {mode}}}\n"


async def grandchild_of(rig: Rig, pid_file: Path, **fields: object) -> tuple[int, int]:
    job = await rig.submit_one(grandchild_job(pid_file), **fields)
    pid = await wait_for(lambda: pid_file.exists() and int(pid_file.read_text()), 10, "the grandchild's pid")
    return job.id, pid


@needs_cgroups
async def test_a_job_past_its_memory_is_killed_and_fails_out_of_memory(engine_factory, state_dir) -> None:
    rig = await engine_factory(config())
    job = await rig.submit_one(["python3", "-c", HOG], mem_mb=64)
    await rig.wait_terminal(job.id, timeout=30)
    assert job.status == JobStatus.FAILED and job.reason is not None and job.reason.value == "out_of_memory", job
    assert "out of memory" in job.message and "--mem" in job.message
    attempts, _ = await rig.history(job.id)
    attempt = attempts[-1]
    assert attempt.cgroups and all("/jobtui-" in d for d in attempt.cgroups)
    assert attempt.peak_memory_bytes is not None and 60 * MIB <= attempt.peak_memory_bytes <= 65 * MIB
    assert b"survived" not in Path(attempt.run_dir, "stdout").read_bytes()
    assert attempt_dirs(state_dir) == [], "the attempt's cgroup is removed once it ended"


@needs_cgroups
async def test_usage_of_an_attempt_is_recorded(engine_factory) -> None:
    rig = await engine_factory(config())
    burn = "import time; t = time.process_time(); b = bytearray(40 << 20)\nwhile time.process_time() - t < 0.3: pass"
    job = await rig.submit_one(["python3", "-c", burn], mem_mb=256, env={"IFS": ":"})  # never the wrapper's
    await rig.wait_terminal(job.id, timeout=30)
    assert job.status == JobStatus.COMPLETED, job
    (attempt,), _ = await rig.history(job.id)
    assert attempt.cpu_seconds is not None and 0.3 <= attempt.cpu_seconds < 5
    assert attempt.peak_memory_bytes is not None and 40 * MIB <= attempt.peak_memory_bytes < 256 * MIB


@needs_cgroups
async def test_a_setsid_grandchild_dies_on_timeout(engine_factory, tmp_path) -> None:
    rig = await engine_factory(config())
    job_id, grandchild = await grandchild_of(rig, tmp_path / "gc", timeout=1)
    job = await rig.wait_terminal(job_id, timeout=20)
    assert job.reason is not None and job.reason.value == "timeout", job
    await wait_for(lambda: not pid_alive(grandchild), 5, "the setsid grandchild to die with its job")


@needs_cgroups
def test_a_setsid_grandchild_dies_on_jobtui_cancel(daemon_factory, tmp_path) -> None:
    daemon = daemon_factory(config_text("auto")).start()
    pid_file = tmp_path / "gc"
    job_id = daemon.cli_json("submit", "--", *grandchild_job(pid_file))["ids"][0]
    grandchild = wait_for_sync(lambda: pid_file.exists() and int(pid_file.read_text()), 10, "the grandchild")
    done = daemon.cli("cancel", str(job_id))
    assert done.returncode == 0, done.stderr
    wait_for_sync(lambda: daemon.job(job_id)["job"]["status"] == "cancelled", 10, "the job to be cancelled")
    assert not pid_alive(grandchild), "a setsid descendant outlived `jobtui cancel`"
    assert attempt_dirs(daemon.state_dir) == []


@needs_cgroups
def test_engine_killed_keeps_the_cgroup_and_its_limits_and_the_next_engine_cleans_up(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    daemon = daemon_factory(config_text("auto")).start()
    pid_file = tmp_path / "gc"
    job_id = daemon.cli_json("submit", "--mem", "100M", "--cpus", "1", "--", *grandchild_job(pid_file))["ids"][0]
    grandchild = wait_for_sync(lambda: pid_file.exists() and int(pid_file.read_text()), 10, "the grandchild")
    wait_for_sync(lambda: daemon.job(job_id)["attempts"][-1]["cgroups"], 10, "the attempt's cgroups to be saved")
    cgroups = [Path(d) for d in daemon.job(job_id)["attempts"][-1]["cgroups"]]

    daemon.kill9()
    assert all(d.is_dir() for d in cgroups), "the cgroup outlives the engine"
    expected = LIMITS_V2 if detect().kind == "cgroup_v2" else LIMITS_V1
    limits = {f.name: f.read_text().strip() for d in cgroups for f in d.iterdir() if f.name in expected}
    assert limits == expected
    assert grandchild in {int(p) for d in cgroups for p in (d / "cgroup.procs").read_text().split()}

    daemon.start()
    assert daemon.job(job_id)["job"]["status"] == "running"  # re-attached
    assert daemon.cli("cancel", str(job_id)).returncode == 0
    wait_for_sync(lambda: daemon.job(job_id)["job"]["status"] == "cancelled", 10, "the job to be cancelled")
    assert not pid_alive(grandchild)
    wait_for_sync(lambda: not any(d.exists() for d in cgroups), 5, "the re-attached attempt's cgroup to be removed")
    shown = daemon.cli("show", str(job_id)).stdout
    assert "used cpu " in shown and "peak memory " in shown, shown


@pytest.mark.skipif(os.geteuid() != 0, reason="the marker fallback is checked as root here, beside the cgroups")
async def test_without_cgroups_the_proc_marker_kills_a_setsid_grandchild(engine_factory, state_dir, tmp_path) -> None:
    rig = await engine_factory(config("proc"))
    job_id, grandchild = await grandchild_of(rig, tmp_path / "gc")
    await rig.service.cancel(rig.actor(), job_id)
    job = await rig.wait_terminal(job_id, timeout=20)
    assert job.status == JobStatus.CANCELLED
    await wait_for(lambda: not pid_alive(grandchild), 5, "the marked setsid grandchild to die")
    (attempt,), _ = await rig.history(job_id)
    assert attempt.cgroups == [] and engine_dirs(state_dir) == []
    assert attempt.peak_memory_bytes is not None  # the wrapper's rusage, reaped by this engine


@pytest.mark.skipif(
    os.geteuid() != 0 or detect("cgroup_v2").kind != "cgroup_v2", reason="no cgroup v2 hierarchy this user may write"
)
async def test_cgroup_v2_kills_a_setsid_grandchild(engine_factory, state_dir, tmp_path) -> None:
    rig = await engine_factory(config("cgroup_v2"))
    job_id, grandchild = await grandchild_of(rig, tmp_path / "gc")
    (attempt,), _ = await rig.history(job_id)
    assert attempt.cgroups and Path(attempt.cgroups[0], "cgroup.kill").exists()
    await rig.service.cancel(rig.actor(), job_id)
    await rig.wait_terminal(job_id, timeout=20)
    await wait_for(lambda: not pid_alive(grandchild), 5, "the setsid grandchild to die")
    assert attempt_dirs(state_dir) == []


@needs_cgroups
async def test_pids_max_caps_the_processes_of_a_job(engine_factory) -> None:
    rig = await engine_factory(config(pids_max=4))
    forks = "i=0; while [ $i -lt 8 ]; do sleep 1 & i=$((i+1)); done; wait"
    job = await rig.submit_one(["sh", "-c", forks])
    await rig.wait_terminal(job.id, timeout=30)
    (attempt,), _ = await rig.history(job.id)
    assert "fork" in Path(attempt.run_dir, "stderr").read_text().lower()


async def test_without_cgroups_memory_rlimit_caps_the_address_space(engine_factory) -> None:
    rig = await engine_factory(config("proc", memory_rlimit=True))
    capped = await rig.submit_one(["python3", "-c", HOG], mem_mb=64)
    await rig.wait_terminal(capped.id, timeout=30)
    assert capped.status == JobStatus.FAILED, capped
    (attempt,), _ = await rig.history(capped.id)
    assert "MemoryError" in Path(attempt.run_dir, "stderr").read_text() and attempt.cgroups == []


@needs_cgroups
@pytest.mark.skipif(detect().kind != "cgroup_v1", reason="v2 has one hierarchy: nothing to leave out")
async def test_an_attempt_joins_the_cpu_and_pids_hierarchies_only_for_their_limits(engine_factory) -> None:
    mode = detect()
    controllers = dict(zip(mode.parents, mode.bound, strict=True))  # each hierarchy's own cgroup: its controllers
    if not any(bound <= {"cpu", "pids"} for bound in controllers.values()):
        pytest.skip("cpu and pids are mounted with controllers every attempt joins")
    rig = await engine_factory(config())
    uncapped = await rig.submit_one(["true"], cpus=0)  # no CPU quota, and no pids_max in the config
    capped = await rig.submit_one(["true"], cpus=1)

    async def joined(job_id: int) -> set[str]:
        """The controllers of the hierarchies the job's attempt joined."""
        await rig.wait_terminal(job_id, timeout=20)
        (attempt,), _ = await rig.history(job_id)
        return {c for d in attempt.cgroups for c in controllers[os.path.dirname(os.path.dirname(d))]}

    uncapped_joined, capped_joined = await joined(uncapped.id), await joined(capped.id)
    assert {"memory", "cpuacct"} <= uncapped_joined and not {"pids", "freezer"} & uncapped_joined, uncapped_joined
    assert "cpu" in capped_joined and "pids" not in capped_joined, capped_joined
    if any(bound == {"cpu"} for bound in controllers.values()):  # cpu mounted apart from cpuacct
        assert "cpu" not in uncapped_joined, uncapped_joined


@needs_cgroups
@pytest.mark.skipif(detect().kind != "cgroup_v1", reason="v2 kills a cgroup whole with cgroup.kill")
async def test_a_forking_tree_is_frozen_and_killed_whole_through_a_freezer_made_for_the_kill(
    engine_factory, state_dir, tmp_path, monkeypatch
) -> None:
    frozen: list[tuple[int, str | None]] = []  # (processes, freezer.state) as each kill gathered its tree
    gather = AttemptGroup.gather

    def gathering(group: AttemptGroup, freezer_dir: str) -> str | None:
        state = gather(group, freezer_dir)
        frozen.append((len(set(_read_procs(freezer_dir))), state))
        return state

    monkeypatch.setattr(AttemptGroup, "gather", gathering)
    rig = await engine_factory(config(pids_max=300))
    started = tmp_path / "started"
    # deaf to TERM, it forks as fast as it can (until pids.max stops it), so the cancel's KILL has a tree to freeze
    storm = f"trap '' TERM; touch {started}; while :; do sleep 300 & done"
    job = await rig.submit_one(["sh", "-c", storm])
    await wait_for(started.exists, 10, "the job to start forking")
    attempt = rig.engine.current_attempt(job.id)
    assert attempt is not None
    assert not any("freezer" in d for d in attempt.cgroups)  # not joined at launch
    group = rig.engine.executors["local"].containment.group(attempt)  # type: ignore[attr-defined]
    assert group is not None and len(group.pids()) > 2
    await rig.service.cancel(rig.actor(), job.id)
    done = await rig.wait_terminal(job.id, timeout=20)
    assert done.status == JobStatus.CANCELLED, done
    ((gathered, state),) = frozen  # a freezer was made for the kill, and the whole tree moved into it
    assert state is not None and gathered > 2, frozen
    assert not group.pids() and attempt_dirs(state_dir) == []  # all gone, the freezer's cgroup too


def _read_procs(cgroup: str) -> list[int]:
    return [int(p) for p in Path(cgroup, "cgroup.procs").read_text().split()]
