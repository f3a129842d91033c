"""The pure parsers of remote resource samples, on recorded `nvidia-smi` and /proc output."""

from __future__ import annotations

from pathlib import Path

from engine.remote.sampling import parse_loadavg, parse_meminfo, parse_nvidia_smi, parse_sample

DATA = Path(__file__).parent.parent / "data"


def _read(name: str) -> str:
    return (DATA / name).read_text()


def test_eight_gpu_server():
    gpus = parse_nvidia_smi(_read("nvidia_smi/dgx_a100_8gpu.csv"))
    assert [g.index for g in gpus] == list(range(8))
    assert {g.name for g in gpus} == {"NVIDIA A100-SXM4-80GB"}
    assert gpus[0].memory_total_mb == 81920 and gpus[0].memory_used_mb == 78311 and gpus[0].utilization_pct == 100
    assert [g.index for g in gpus if g.utilization_pct == 0] == [3, 4, 6]


def test_mixed_workstation_names_with_spaces():
    gpus = parse_nvidia_smi(_read("nvidia_smi/workstation_mixed.csv"))
    assert [(g.name, g.memory_used_mb, g.utilization_pct) for g in gpus] == [
        ("NVIDIA GeForce RTX 4090", 22716, 98),
        ("NVIDIA RTX A4000", 312, 3),
    ]


def test_not_available_fields_read_as_zero():
    mig, h100 = parse_nvidia_smi(_read("nvidia_smi/mig_and_unsupported.csv"))
    assert (mig.memory_total_mb, mig.memory_used_mb, mig.utilization_pct) == (40960, 37, 0)
    assert (h100.name, h100.memory_total_mb, h100.memory_used_mb) == ("NVIDIA H100 80GB HBM3", 81559, 0)


def test_no_devices_and_driver_errors_mean_no_gpus():
    assert parse_nvidia_smi(_read("nvidia_smi/no_devices.txt")) == []
    assert parse_nvidia_smi(_read("nvidia_smi/driver_failed.txt")) == []
    assert parse_nvidia_smi("") == []


def test_whole_node_sample():
    sample = parse_sample(_read("ssh/node_sample_workstation.txt"))
    assert sample["cores"] == 16
    assert sample["memory_mb"] == 65579536 // 1024 and sample["memory_available_mb"] == 48113372 // 1024
    assert (sample["load1"], sample["load5"], sample["load15"]) == (3.17, 2.85, 2.40)
    assert [g["name"] for g in sample["gpus"]] == ["NVIDIA GeForce RTX 4090", "NVIDIA RTX A4000"]


def test_partial_or_garbled_sample_does_not_raise():
    assert parse_sample("")["gpus"] == [] and parse_sample("")["cores"] is None
    assert parse_meminfo("garbage") == {"memory_mb": 0, "memory_available_mb": 0}
    assert parse_loadavg("") == {}
