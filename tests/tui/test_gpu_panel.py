"""The GPU panel shows the engine's view of every node's devices and who holds each (the node records'
`gpus`), never the TUI's own machine; it follows a node being sampled again."""

from __future__ import annotations

from typing import Any

from engine.events import NodesSampled
from tests.tui.fakes import FakeClient, fake_app, loaded, make_job


def device(index: int, name: str | None, total: int | None, used: int | None, util: int | None, **held: Any):
    return {
        "index": index,
        "name": name,
        "memory_total_mb": total,
        "memory_used_mb": used,
        "memory_gb": None if total is None else round(total / 1024, 1),
        "utilization_pct": util,
        "allocated": bool(held),
        "job_id": held.get("job_id"),
        "user": held.get("user"),
    }


def node(name: str, kind: str, gpus: list[dict[str, Any]], reachable: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "cores": 32,
        "used_cores": 4,
        "mem_mb": 65536,
        "used_mem_mb": 1024,
        "running": 1,
        "reachable": reachable,
        "labels": {},
        "gpu_holders": {str(d["index"]): d["job_id"] for d in gpus if d["job_id"] is not None},
        "gpus": gpus,
    }


def panel(app) -> str:
    return str(app.main.query_one("#gpus").render())


async def test_the_panel_lists_every_nodes_devices_and_their_holders() -> None:
    nodes = [
        node(
            "ws", "local", [device(0, None, None, None, None, job_id=3, user="ann"), device(1, None, None, None, None)]
        ),
        node(
            "gpu1",
            "ssh",
            [device(0, "NVIDIA L40S", 46068, 30012, 87, job_id=5, user="bob"), device(1, "NVIDIA L40S", 46068, 1, 0)],
        ),
        node("cpu-only", "ssh", []),
    ]
    app = fake_app(FakeClient([make_job(3, "running"), make_job(5, "running")], nodes=nodes))
    async with app.run_test(size=(140, 40)) as pilot:
        await loaded(pilot)
        text = panel(app)
        assert "ws" in text and "gpu1" in text and "cpu-only" not in text  # a node without GPUs is left out
        assert "job 3 ann" in text and "job 5 bob" in text and text.count("free") == 2
        assert "NVIDIA L40S" in text and "30012/46068 MB" in text and " 87%" in text
        assert "memory ?" in text  # a configured device nothing sampled: said so, not made up


async def test_no_gpus_anywhere_says_so_and_a_new_sample_is_followed() -> None:
    client = FakeClient([make_job(1)], nodes=[node("ws", "local", [])])
    app = fake_app(client)
    async with app.run_test(size=(140, 40)) as pilot:
        await loaded(pilot)
        assert "no GPUs on any node" in panel(app)
        client.nodes_list = [node("gpu1", "ssh", [device(0, "NVIDIA A100-SXM4-80GB", 81920, 4, 0)])]
        client._queue.put_nowait(NodesSampled(seq=client.seq + 1, node="gpu1", reachable=True, sample=None))
        for _ in range(200):
            if "A100" in panel(app):
                break
            await pilot.pause(0.02)
        assert "gpu1" in panel(app) and "NVIDIA A100-SXM4-80GB" in panel(app) and "free" in panel(app)
