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


# -- the processes of running jobs ------------------------------------------------------------------------

# One round trip: clock ticks per second, page size, then every process's /proc/PID/stat line.
PROCESS_SCRIPT = f"""getconf CLK_TCK; getconf PAGESIZE; echo '{SEPARATOR}'
cat /proc/[0-9]*/stat 2>/dev/null; exit 0
"""


Process = tuple[int, float, int, int]  # parent pid, CPU seconds (its reaped children's too), RSS bytes, start


def parse_process_table(text: str) -> dict[int, Process]:
    """PROCESS_SCRIPT's output -> pid: its Process (start: the kernel's start time, in clock ticks after boot)."""
    head, _, stats = text.partition(SEPARATOR + "\n")
    numbers = head.split()
    try:
        ticks, page = int(numbers[0]), int(numbers[1])
    except (IndexError, ValueError):
        return {}
    table: dict[int, Process] = {}
    for line in stats.splitlines():
        pid_text, _, rest = line.partition(" (")
        fields = rest[rest.rfind(") ") + 2 :].split()  # after the command name, which may hold spaces and ")"
        if not pid_text.isdigit() or len(fields) < 22:
            continue
        try:
            ppid = int(fields[1])
            cpu = sum(int(f) for f in fields[11:15]) / ticks  # utime, stime, cutime, cstime
            rss = int(fields[21]) * page
            start = int(fields[19])
        except ValueError:
            continue
        table[int(pid_text)] = (ppid, cpu, rss, start)
    return table


def tree_totals(table: dict[int, Process], root: int, started: int | None = None) -> dict[str, Any] | None:
    """CPU seconds, RSS (MiB) and process count of `root` and its descendants; None when `root` is gone or
    is another process than the one that started at `started`."""
    if root not in table or (started is not None and table[root][3] != started):
        return None
    children: dict[int, list[int]] = {}
    for pid, (ppid, *_) in table.items():
        children.setdefault(ppid, []).append(pid)
    cpu, rss, count, todo = 0.0, 0, 0, [root]
    while todo:
        pid = todo.pop()
        _, pid_cpu, pid_rss, _ = table[pid]
        cpu, rss, count = cpu + pid_cpu, rss + pid_rss, count + 1
        todo += children.get(pid, [])
    return {"cpu_seconds": round(cpu, 3), "rss_mb": round(rss / 1024 / 1024, 1), "processes": count}


async def sample_processes(
    runner: CommandRunner, roots: list[tuple[int, int | None]], timeout: float = 20.0
) -> dict[int, dict[str, Any]]:
    """The usage of each process tree rooted at `roots` ((pid, start) pairs) on the node, in one command; a root
    that is gone is left out."""
    result = await run_command(["/bin/sh", "-c", PROCESS_SCRIPT], runner, timeout=timeout, check=True)
    table = parse_process_table(result.stdout)
    return {pid: totals for pid, start in roots if (totals := tree_totals(table, pid, start)) is not None}
