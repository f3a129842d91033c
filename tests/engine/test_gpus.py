"""GPUs by device on a real engine: allocation by id, `no_wait`, the dry run, the local limits, the status API
with the seed's shape, over-requests refused at submission, and targets. No GPU exists here: the local node has
configured GPUs (NVML finds none), and the SSH node's devices come from a recorded `nvidia-smi` sample
(tests/data/nvidia_smi/node_sample_2x_l40s.txt, written in the sampler's format), parsed by the engine's own
sampler parser and handed to the engine as its node monitor does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from engine.api.client import HttpClient
from engine.api.daemon import EngineHost
from engine.api.tokens import read_owner_token
from engine.config import LocalNode, SshNode
from engine.errors import ValidationError
from engine.remote.sampling import parse_sample
from tests.fixtures.engine import OWNER, kill_leftover_jobs, make_config
from tests.waiting import wait_for

SAMPLE = Path(__file__).parent.parent / "data" / "nvidia_smi" / "node_sample_2x_l40s.txt"


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[EngineHost]:
    """Local node `ws` with 2 configured GPUs; SSH node `gpu1` (nothing listens there: its jobs never run
    in these tests) whose GPUs are known from the recorded sample."""
    config = make_config(
        nodes=[
            LocalNode(name="ws", cores=8, memory_mb=4096, gpus=2, labels={"gpu_type": "rtx4090"}),
            SshNode(kind="ssh", name="gpu1", host="127.0.0.1", port=9, cores=32, labels={"gpu_type": "l40s"}),
        ],
    )
    host = EngineHost(config, tmp_path / "state", owner=OWNER)
    await host.start()
    host.engine.adopt_capacity("gpu1", parse_sample(SAMPLE.read_text()))
    yield host
    await host.stop()
    kill_leftover_jobs(host.state_dir)


@pytest.fixture
async def clients(host: EngineHost) -> AsyncIterator[tuple[Any, HttpClient]]:
    http = HttpClient(host.socket_path, read_owner_token(host.state_dir), OWNER)
    yield host.client(), http
    await http.close()


def on_ws(**fields: Any) -> dict[str, Any]:
    return {"command": ["sleep", "30"], "node": "ws", **fields}


async def running(host: EngineHost, job_id: int) -> None:
    await wait_for(lambda: host.engine.get(job_id).status.value == "running", 10, f"job {job_id} to run")


async def test_gpu_ids_pick_the_devices_recorded_on_the_attempt_and_in_cuda_visible_devices(
    host: EngineHost, clients: Any
) -> None:
    local, _ = clients
    [job] = await local.submit(
        [{"command": ["sh", "-c", 'echo "cuda=$CUDA_VISIBLE_DEVICES"'], "node": "ws", "gpu_ids": [1]}]
    )
    assert job["resources"]["gpus"] == 1 and job["resources"]["gpu_ids"] == [1]
    await local.wait([job["id"]], 10)
    detail = await local.job(job["id"])
    assert detail["job"]["status"] == "completed"
    assert detail["attempts"][-1]["gpus"] == [1]
    assert (await local.logs(job["id"]))["data"].strip() == "cuda=1"


async def test_no_wait_is_rejected_at_once_when_its_gpus_are_busy(host: EngineHost, clients: Any) -> None:
    local, http = clients
    [holder] = await local.submit([on_ws(gpus=2)])
    await running(host, holder["id"])
    [refused] = await http.submit([on_ws(gpus=1, no_wait=True)])
    assert refused["status"] == "rejected" and refused["reason"] == "gpus_busy"
    assert "not free now" in refused["message"] and "--no-wait" in refused["message"]
    [queued] = await http.submit([on_ws(gpus=1)])  # without no_wait it waits for the devices
    assert queued["status"] == "waiting"
    # a device that is free now: no_wait starts it
    await local.cancel(holder["id"])
    await running(host, queued["id"])  # the cancelled job let its GPUs go: the queued one took device 0
    assert host.engine.gpu_holders("ws") == {0: queued["id"]}
    [taken] = await http.submit([on_ws(gpu_ids=[1], no_wait=True)])
    assert taken["status"] == "waiting"  # device 1 is free: accepted, and the scheduler starts it
    await running(host, taken["id"])


async def test_dry_run_says_node_and_devices_or_position_and_reason(host: EngineHost, clients: Any) -> None:
    local, http = clients
    plan = await http.plan([on_ws(gpus=1)])
    [entry] = plan["jobs"]
    assert (entry["node"], entry["gpus"], entry["reason"], entry["position"]) == ("ws", [0], None, None)
    [holder] = await local.submit([on_ws(gpu_ids=[0, 1])])
    await running(host, holder["id"])
    await local.submit([on_ws(gpus=1, name="first in line")])
    plan = await local.plan([on_ws(gpus=1)])
    assert plan == await http.plan([on_ws(gpus=1)])  # one contract, both clients
    [entry] = plan["jobs"]
    assert entry["node"] is None and entry["runnable"] is True
    assert entry["position"] == 2  # behind the waiting job
    assert "ws has 0 free GPUs, it needs 1" in entry["reason"]
    [entry] = (await local.plan([on_ws(gpu_ids=[1])]))["jobs"]
    assert "GPU devices 1 are busy" in entry["reason"]


async def test_over_requests_are_refused_at_submission_with_the_largest_node(host: EngineHost, clients: Any) -> None:
    local, _ = clients
    with pytest.raises(ValidationError, match=r"no node has 3 GPUs; the largest has 2 \(node (ws|gpu1)\)"):
        await local.submit([{"command": ["true"], "gpus": 3}])
    with pytest.raises(
        ValidationError, match=r"no node has GPU devices 5 \(ws has devices 0,1; gpu1 has devices 0,1\)"
    ):
        await local.submit([{"command": ["true"], "gpu_ids": [5]}])
    with pytest.raises(ValidationError, match="asks for 30720 MB of memory; the largest node"):
        await local.submit([{"command": ["true"], "mem_mb": "30G", "node": "ws"}])
    with pytest.raises(ValidationError, match="give one of them"):
        await local.submit([{"command": ["true"], "gpu_ids": [0], "any_gpu": True}])
    with pytest.raises(ValidationError, match="field 'gpus'"):
        await local.submit([{"command": ["true"], "gpus": -1}])
    with pytest.raises(ValidationError, match="field 'gpus'"):
        await local.submit([{"command": ["true"], "gpus": 5000}])
    assert host.engine.job_count == 0


async def test_a_gpu_job_on_a_machine_with_none_is_refused(tmp_path: Path) -> None:
    host = EngineHost(make_config(nodes=[LocalNode(name="bare", cores=4, gpus=0)]), tmp_path / "s", owner=OWNER)
    await host.start()
    try:
        with pytest.raises(ValidationError, match=r"no node has 1 GPU; this machine has none \(nodes: bare\)"):
            await host.client().submit([{"command": ["true"], "gpus": 1}])
    finally:
        await host.stop()


async def test_local_limits_hold_jobs_back_and_say_why(host: EngineHost, clients: Any) -> None:
    local, http = clients
    limits = await http.set_limits({"local_gpu_max_concurrent": 1})
    assert (limits["local_gpu_max_concurrent"], limits["local_job_max_concurrent"]) == (1, None)
    [first] = await local.submit([on_ws(gpus=1)])
    await running(host, first["id"])
    [second] = await local.submit([on_ws(gpus=1)])
    [entry] = (await local.plan([on_ws(gpus=1)]))["jobs"]
    assert "local_gpu_max_concurrent" in entry["reason"]
    assert host.engine.get(second["id"]).status.value == "waiting"  # a device is free, the limit holds it
    limits = await http.set_limits({"local_gpu_max_concurrent": None, "local_job_max_concurrent": 1})
    assert (limits["local_gpu_max_concurrent"], limits["local_job_max_concurrent"]) == (None, 1)
    assert (await local.limits())["local_job_max_concurrent"] == 1
    [entry] = (await local.plan([on_ws()]))["jobs"]
    assert "local_job_max_concurrent" in entry["reason"]
    await http.set_limits({"local_job_max_concurrent": None})
    await running(host, second["id"])  # the limit gone, the waiting job starts


async def test_system_status_shows_every_nodes_devices_and_holders(host: EngineHost, clients: Any) -> None:
    local, http = clients
    [job] = await local.submit([on_ws(gpu_ids=[1])])
    await running(host, job["id"])
    status = await http.system_status(include_allocation=True)
    assert set(status) >= {"timestamp", "load_avg_5min", "memory_percent", "gpus", "gpu_inventory", "gpu_allocation"}
    allocation = status["gpu_allocation"]
    assert allocation["allocated_gpus"] == [1] and allocation["available_gpus"] == [0]
    assert allocation["running_local_jobs"] == 1
    device = allocation["devices"][1]
    assert (device["index"], device["allocated"], device["job_id"], device["user"]) == (1, True, job["id"], OWNER)
    assert allocation["devices"][0]["allocated"] is False and allocation["devices"][0]["job_id"] is None
    remote = next(n for n in status["nodes"] if n["name"] == "gpu1")["gpus"]
    assert [(d["name"], d["memory_total_mb"], d["utilization_pct"]) for d in remote] == [
        ("NVIDIA L40S", 46068, 87),
        ("NVIDIA L40S", 46068, 0),
    ]
    assert remote[0]["memory_gb"] == 45.0 and not remote[0]["allocated"]
    stats = await http.stats()  # the seed's `local` figures of the queue stats
    assert stats["local"] == {
        "running_jobs": 1,
        "pending_jobs": 0,
        "allocated_gpus": [1],
        "available_gpus": [0],
        "total_gpus": 2,
        "max_concurrent_gpus": None,
        "max_concurrent_jobs": None,
    }
    plain = await local.system_status()
    assert "gpu_allocation" not in plain and "nodes" not in plain
    nodes = {n["name"]: n for n in await http.nodes()}
    assert nodes["ws"]["gpus"][1]["job_id"] == job["id"] and nodes["gpu1"]["gpus"][0]["name"] == "NVIDIA L40S"


async def test_targets_and_labels_choose_the_nodes(host: EngineHost, clients: Any) -> None:
    local, _ = clients
    [entry] = (await local.plan([{"command": ["true"], "target": "local"}]))["jobs"]
    assert entry["node"] == "ws"
    [entry] = (await local.plan([{"command": ["true"], "labels": {"gpu_type": "rtx*"}}]))["jobs"]
    assert entry["node"] == "ws"
    [job] = await local.submit([{"command": ["true"], "target": "remote", "labels": {"gpu_type": "l40*"}}])
    assert job["extra"]["target"] == "remote" and job["extra"]["labels"] == {"gpu_type": "l40*"}
    await local.cancel(job["id"])
    with pytest.raises(ValidationError, match="no configured node matches its node/label/target request"):
        await local.submit([{"command": ["true"], "target": "remote", "labels": {"gpu_type": "rtx*"}}])
    with pytest.raises(ValidationError, match="'local', 'remote' or 'auto'"):
        await local.submit([{"command": ["true"], "target": "cloud"}])
