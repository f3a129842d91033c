"""Measuring what jobs really use, every `usage.sample_interval` seconds: each local node's load and memory
(reported as a node sample, like an SSH node's), and the CPU time and resident memory of each running job's
process tree: psutil for local jobs, one /proc read per SSH node for its jobs (`remote.sampling`). The first
time an attempt passes a configured threshold, a `usage_warning` goes in the job's history.

psutil reads /proc, so a local round is measured in a worker thread and only its results touch the engine.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psutil

from engine.clock import Clock
from engine.config_hooks import UsageThresholds
from engine.errors import JobTuiError
from engine.executors.local import process_start_time
from engine.models import Attempt, Job
from engine.remote.sampling import sample_processes

log = logging.getLogger(__name__)
MIB = 1024 * 1024


class UsageHost(Protocol):
    clock: Clock

    @property
    def executors(self) -> dict[str, Any]: ...
    def attempts_on(self, node: str) -> list[tuple[Job, Attempt]]: ...
    def local_sampled(self, node: str, sample: dict[str, Any]) -> None: ...
    def attempt_usage(self, job_id: int, attempt: Attempt, usage: dict[str, Any]) -> None: ...
    def is_live(self, attempt: Attempt) -> bool: ...
    def note(self, job_id: int, kind: str, message: str) -> None: ...


@dataclass(slots=True, frozen=True)
class TreeUsage:
    cpu_seconds: float
    rss_mb: float
    processes: int


def tree_usage(pid: int, started: int | None) -> TreeUsage | None:
    """CPU time (user + system, its reaped children's too) and RSS of `pid` and its descendants; None once it
    is gone or the pid is another process's (`started`: the kernel start time the attempt recorded)."""
    if started is not None and process_start_time(pid) != started:
        return None
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    cpu = rss = 0.0
    counted = 0
    for proc in procs:
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                cpu += times.user + times.system + times.children_user + times.children_system
                rss += proc.memory_info().rss
            counted += 1
        except psutil.Error:
            continue  # ended between the listing and the read
    return TreeUsage(round(cpu, 3), round(rss / MIB, 1), counted)


def local_sample() -> dict[str, Any]:
    """This machine's cores, memory and load, in the shape of a remote node's sample (`remote.sampling`)."""
    memory = psutil.virtual_memory()
    load1, load5, load15 = os.getloadavg()
    return {
        "cores": os.cpu_count(),
        "memory_mb": memory.total // MIB,
        "memory_available_mb": memory.available // MIB,
        "load1": load1,
        "load5": load5,
        "load15": load15,
    }


class UsageMonitor:
    def __init__(
        self, host: UsageHost, thresholds: UsageThresholds, local_nodes: list[str], ssh_nodes: Sequence[str] = ()
    ) -> None:
        self.host = host
        self.thresholds = thresholds
        self.local_nodes = local_nodes
        self.ssh_nodes = list(ssh_nodes)
        self._warned: set[tuple[int, int, str]] = set()  # (job, attempt, what) already warned about
        self._previous: dict[tuple[int, int], tuple[float, float]] = {}  # (job, attempt) -> (cpu seconds, when)

    async def run(self) -> None:
        while True:
            try:
                await self.sample_once()
            except Exception:  # measuring never stops the engine
                log.exception("usage sampling failed; trying again at the next interval")
            await asyncio.sleep(self.thresholds.sample_interval)

    def _running(self, nodes: list[str]) -> list[tuple[Job, Attempt]]:
        return [
            (job, attempt)
            for node in nodes
            for job, attempt in self.host.attempts_on(node)
            if attempt.pid and attempt.status == "running"
        ]

    async def sample_once(self) -> None:
        running = self._running(self.local_nodes)
        targets = [(attempt.pid, attempt.proc_start) for _, attempt in running]
        sample, usages = await asyncio.to_thread(_measure, targets)
        for node in self.local_nodes:
            self.host.local_sampled(node, sample)
        now = self.host.clock.now()
        for (job, attempt), usage in zip(running, usages, strict=True):
            if usage is not None and self.host.is_live(attempt):
                self._apply(job, attempt, usage, now)
        await asyncio.gather(*(self._sample_remote(node) for node in self.ssh_nodes))

    async def _sample_remote(self, node: str) -> None:
        """The jobs running on an SSH node, measured with one command over its connection."""
        running = self._running([node])
        runner = getattr(self.host.executors.get(node), "runner", None)
        if not running or runner is None:
            return
        roots = [(attempt.pid, attempt.proc_start) for _, attempt in running if attempt.pid]
        try:
            found = await sample_processes(runner, roots)
        except (JobTuiError, OSError, TimeoutError) as e:
            log.debug("%s: job usage not sampled: %s", node, e)
            return
        now = self.host.clock.now()
        for job, attempt in running:
            totals = found.get(attempt.pid or 0)
            if totals is not None and self.host.is_live(attempt):
                usage = TreeUsage(totals["cpu_seconds"], totals["rss_mb"], totals["processes"])
                self._apply(job, attempt, usage, now)

    def _apply(self, job: Job, attempt: Attempt, usage: TreeUsage, now: float) -> None:
        key = (job.id, attempt.number)
        before = job.extra.get("usage") if isinstance(job.extra.get("usage"), dict) else None
        same_attempt = before is not None and before.get("attempt") == attempt.number
        peak = max(usage.rss_mb, float(before.get("peak_rss_mb", 0.0)) if same_attempt and before else 0.0)
        cpu_percent = None
        if key in self._previous:
            cpu_then, at_then = self._previous[key]
            if now > at_then:
                cpu_percent = round(100.0 * (usage.cpu_seconds - cpu_then) / (now - at_then), 1)
        self._previous[key] = (usage.cpu_seconds, now)
        record = {
            "attempt": attempt.number,
            "cpu_seconds": usage.cpu_seconds,
            "cpu_percent": cpu_percent,
            "rss_mb": usage.rss_mb,
            "peak_rss_mb": peak,
            "processes": usage.processes,
            "sampled_at": now,
        }
        unchanged = (
            same_attempt
            and before is not None
            and all(before.get(k) == v for k, v in record.items() if k != "sampled_at")
        )
        if not unchanged:  # an idle job is not rewritten nor announced at every round
            self.host.attempt_usage(job.id, attempt, record)
        self._check(job, attempt, usage)

    def _check(self, job: Job, attempt: Attempt, usage: TreeUsage) -> None:
        limits = self.thresholds
        if limits.rss_mb is not None and usage.rss_mb > limits.rss_mb:
            self._warn(
                job, attempt, "rss", f"memory {usage.rss_mb:.0f} MiB is above the threshold of {limits.rss_mb} MiB"
            )
        if limits.cpu_seconds is not None and usage.cpu_seconds > limits.cpu_seconds:
            self._warn(job, attempt, "cpu", f"CPU time {usage.cpu_seconds:.0f} s is above the threshold of "
                       f"{limits.cpu_seconds:g} s")  # fmt: skip

    def _warn(self, job: Job, attempt: Attempt, what: str, message: str) -> None:
        key = (job.id, attempt.number, what)
        if key not in self._warned:
            self._warned.add(key)
            self.host.note(job.id, "usage_warning", f"attempt {attempt.number}: {message}")

    def forget(self, job_id: int) -> None:
        self._previous = {k: v for k, v in self._previous.items() if k[0] != job_id}
        self._warned = {k for k in self._warned if k[0] != job_id}


def _measure(targets: list[tuple[int | None, int | None]]) -> tuple[dict[str, Any], list[TreeUsage | None]]:
    return local_sample(), [tree_usage(pid, started) if pid else None for pid, started in targets]
