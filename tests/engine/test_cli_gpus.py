"""The GPU verbs of the CLI against a real `jobtui --serve` whose local node has 2 configured GPUs: `gpus`,
`submit --gpu-ids/--any-gpu/--no-wait/--dry-run/--label/--target`, the local limits of `concurrency`, and
the errors of over-requests and bad input (exit 2, a message that says what to do, no traceback)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.engine import Daemon
from tests.waiting import wait_for_sync

CONFIG = """nodes:
  - {name: gpu1, kind: local, cores: 4, memory_mb: 4096, gpus: 2, labels: {gpu_type: a100}}
limits: {max_concurrent: 10, user_max_concurrent: 10}
"""


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    base = tmp_path_factory.mktemp("cli-gpus")
    config = base / "config.yaml"
    config.write_text(CONFIG)
    daemon = Daemon(base / "state", config).start()
    yield daemon
    daemon.cleanup()


def let_go(cli: Daemon, job: int) -> None:
    """Cancel `job` and wait until no device is held (the next test starts with both GPUs free)."""
    cli.cli("cancel", str(job))

    def held() -> list[int]:
        status = cli.get("/api/system/status", params={"include_allocation": "true"}).json()
        return status["gpu_allocation"]["allocated_gpus"]

    wait_for_sync(lambda: not held(), 15, "the GPUs to be free")


def refused(done, *phrases: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    for phrase in phrases:
        assert phrase in done.stderr, done.stderr


def test_gpus_shows_each_device_and_who_holds_it(cli: Daemon) -> None:
    job = cli.cli_json("submit", "--gpu-ids", "1", "--", "sleep", "30")["ids"][0]
    wait_for_sync(lambda: cli.job(job)["job"]["status"] == "running", 15, "the GPU job to run")
    user = cli.job(job)["job"]["user"]
    shown = cli.cli("show", str(job)).stdout
    assert "gpus=1 gpu_ids=1" in shown and "#1 on gpu1 GPUs 1" in shown  # the device, on the attempt
    [node] = cli.cli_json("gpus")
    assert node["node"] == "gpu1" and node["kind"] == "local"
    assert [(d["index"], d["allocated"], d["job_id"], d["user"]) for d in node["gpus"]] == [
        (0, False, None, None),
        (1, True, job, user),
    ]
    done = cli.cli("gpus")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["NODE", "INDEX", "NAME"]
    assert "free" in lines[1] and f"job {job} ({user})" in lines[2]
    status = cli.get("/api/system/status", params={"include_allocation": "true"}).json()
    assert status["gpu_allocation"]["allocated_gpus"] == [1] and status["gpu_allocation"]["available_gpus"] == [0]
    let_go(cli, job)


def test_submit_dry_run_says_where_or_why_not(cli: Daemon, tmp_path: Path) -> None:
    before = cli.get("/api/queue/stats").json()["by_status"]
    done = cli.cli("submit", "--dry-run", "--gpus", "2", "--", "true")
    assert done.returncode == 0, done.stderr
    assert "would start now on gpu1, GPUs 0,1." in done.stdout
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text('- {command: "true", gpu_ids: [1], key: one}\n')
    done = cli.cli("run", str(jobs), "--dry-run")
    assert done.returncode == 0 and "gpu1 (GPUs 1)" in done.stdout, done.stdout + done.stderr
    assert cli.get("/api/queue/stats").json()["by_status"] == before  # nothing queued
    holder = cli.cli_json("submit", "--gpus", "2", "--", "sleep", "30")["ids"][0]
    wait_for_sync(lambda: cli.job(holder)["job"]["status"] == "running", 15, "the GPU job to run")
    plan = cli.cli_json("submit", "--dry-run", "--any-gpu", "--", "true")
    [entry] = plan["jobs"]
    assert entry["position"] == 1 and "gpu1 has 0 free GPUs, it needs 1" in entry["reason"]
    done = cli.cli("submit", "--dry-run", "--gpus", "4", "--", "true")
    assert done.returncode == 2 and "can never start: no node has 4 GPUs; the largest has 2 (node gpu1)" in done.stdout
    let_go(cli, holder)


def test_no_wait_ends_rejected_with_gpus_busy(cli: Daemon) -> None:
    holder = cli.cli_json("submit", "--gpus", "2", "--", "sleep", "30")["ids"][0]
    wait_for_sync(lambda: cli.job(holder)["job"]["status"] == "running", 15, "the GPU job to run")
    done = cli.cli("submit", "--no-wait", "--gpus", "1", "--", "true")
    assert done.returncode == 1 and "[rejected]" in done.stdout
    assert "not free now" in done.stderr
    [job] = json.loads(cli.cli("list", "--json", "--status", "rejected").stdout)
    assert (job["status"], job["reason"]) == ("rejected", "gpus_busy")
    let_go(cli, holder)


def test_over_requests_and_bad_gpu_input_are_refused(cli: Daemon) -> None:
    before = cli.get("/api/queue/stats").json()["by_status"]
    refused(cli.cli("submit", "--gpus", "3", "--", "true"), "no node has 3 GPUs; the largest has 2 (node gpu1)")
    refused(cli.cli("submit", "--gpu-ids", "0,7", "--", "true"), "no node has GPU devices 0,7 (gpu1 has devices 0,1)")
    refused(cli.cli("submit", "--gpu-ids", "0,x", "--", "true"), "--gpu-ids '0,x'", "e.g. --gpu-ids 0,2")
    refused(cli.cli("submit", "--gpu-ids", "0", "--any-gpu", "--", "true"), "--any-gpu", "give one of them")
    refused(cli.cli("submit", "--gpus", "-1", "--", "true"), "field 'gpus'")
    refused(cli.cli("submit", "--mem", "30G", "--", "true"), "30720 MB of memory; the largest node (gpu1) has 4096 MB")
    refused(cli.cli("submit", "--no-wait", "--", "true"), "asks for none")
    refused(cli.cli("submit", "--label", "gpu_type", "--", "true"), "KEY=GLOB")
    refused(cli.cli("submit", "--label", "gpu_type=h100*", "--", "true"), "no configured node matches")
    refused(cli.cli("submit", "--target", "remote", "--", "true"), "no configured node matches")
    assert cli.get("/api/queue/stats").json()["by_status"] == before  # nothing submitted


def test_labels_and_target_local_are_accepted(cli: Daemon) -> None:
    job = cli.cli_json("submit", "--label", "gpu_type=a1*", "--target", "local", "--", "true")["ids"][0]
    assert cli.cli("wait", str(job), "--timeout", "20").returncode == 0
    record = cli.job(job)["job"]
    assert record["extra"]["labels"] == {"gpu_type": "a1*"} and record["extra"]["target"] == "local"


def test_concurrency_sets_and_clears_the_local_limits(cli: Daemon) -> None:
    limits = cli.cli_json("concurrency", "--local-gpu-max-concurrent", "1", "--local-job-max-concurrent", "3")
    assert (limits["local_gpu_max_concurrent"], limits["local_job_max_concurrent"]) == (1, 3)
    assert cli.get("/api/queue/concurrency").json()["local_gpu_max_concurrent"] == 1
    limits = cli.cli_json("concurrency", "--local-gpu-max-concurrent", "none")
    assert (limits["local_gpu_max_concurrent"], limits["local_job_max_concurrent"]) == (None, 3)
    done = cli.cli("concurrency", "--local-job-max-concurrent", "-2")
    assert done.returncode == 2 and "not a whole number" in done.stderr
