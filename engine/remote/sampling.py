"""Sampling a remote node's cores, memory, load and NVIDIA GPUs with one command, and the pure parsers."""

from __future__ import annotations

from typing import Any

from engine.models import GpuSample
from engine.remote.commands import CommandRunner, run_command

NVIDIA_SMI_ARGV = [
    "nvidia-smi",
    "--query-gpu=index,name,memory.total,memory.used,utilization.gpu",
    "--format=csv,noheader,nounits",
]
SEPARATOR = "--- jobtui ---"
# One round trip: cores, meminfo, loadavg, then nvidia-smi's CSV when it is installed.
SAMPLE_SCRIPT = f"""getconf _NPROCESSORS_ONLN; echo '{SEPARATOR}'
cat /proc/meminfo; echo '{SEPARATOR}'
cat /proc/loadavg; echo '{SEPARATOR}'
if command -v nvidia-smi >/dev/null 2>&1; then "$@" 2>/dev/null; fi; exit 0
"""


def _number(text: str) -> int:
    """An integer field of nvidia-smi CSV; `[N/A]`, `[Not Supported]` and the like read as 0."""
    text = text.strip()
    try:
        return int(float(text))
    except ValueError:
        return 0


def parse_nvidia_smi(text: str) -> list[GpuSample]:
    """`nvidia-smi --query-gpu=index,name,memory.total,memory.used,utilization.gpu --format=csv,noheader,nounits`."""
    gpus = []
    for line in text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 5 or not fields[0].isdigit():
            continue  # blank lines, or an error message such as "No devices were found"
        name = ", ".join(fields[1:-3])  # a name never holds a comma today, but would survive one
        total, used, util = (_number(f) for f in fields[-3:])
        gpus.append(GpuSample(int(fields[0]), name, total, used, util))
    return gpus


def parse_meminfo(text: str) -> dict[str, int]:
    """MemTotal and MemAvailable from /proc/meminfo, in MiB."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if key in ("MemTotal", "MemAvailable") and parts and parts[0].isdigit():
            values[key] = int(parts[0]) // 1024
    return {"memory_mb": values.get("MemTotal", 0), "memory_available_mb": values.get("MemAvailable", 0)}


def parse_loadavg(text: str) -> dict[str, float]:
    parts = text.split()
    try:
        return {"load1": float(parts[0]), "load5": float(parts[1]), "load15": float(parts[2])}
    except (IndexError, ValueError):
        return {}


def parse_sample(text: str) -> dict[str, Any]:
    """The output of SAMPLE_SCRIPT as the node sample reported to the engine."""
    sections = [*text.split(SEPARATOR + "\n"), "", "", ""][:4]
    cores_text, meminfo, loadavg, gpus = sections
    sample: dict[str, Any] = {"cores": int(cores_text.strip()) if cores_text.strip().isdigit() else None}
    sample.update(parse_meminfo(meminfo))
    sample.update(parse_loadavg(loadavg))
    sample["gpus"] = [g.to_dict() for g in parse_nvidia_smi(gpus)]
    return sample


async def sample_node(runner: CommandRunner, timeout: float = 20.0) -> dict[str, Any]:
    """Sample a node over `runner` (one command)."""
    argv = ["/bin/sh", "-c", SAMPLE_SCRIPT, "jobtui-sample", *NVIDIA_SMI_ARGV]
    result = await run_command(argv, runner, timeout=timeout, check=True)
    return parse_sample(result.stdout)
