"""The local executor's containment of each attempt: its cgroup (or, without cgroups, its /proc marker), the
limits from the job's resources, the kill of everything it started, and its CPU time and peak memory.

Every attempt's processes carry `JOBTUI_ATTEMPT_MARK` (its launch token) whatever the mode, so a stop still
finds a `setsid` descendant of an attempt whose cgroup an earlier engine never recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal

from engine.containment.delegation import hand_down
from engine.containment.group import AttemptGroup, Limits, Setting, Usage, handed_down, limit_settings
from engine.containment.markers import MARK_ENV, marked, signal_marked
from engine.containment.mode import Mode, detect
from engine.containment.settings import ContainmentSettings
from engine.executors.wrapper import CGROUP_PROCS_ENV, RLIMIT_AS_ENV
from engine.models import Attempt, Job

log = logging.getLogger(__name__)

KILL_TIMEOUT = 5.0  # seconds a killed cgroup may take to empty
GroupPlan = tuple[list[str], list[Setting], list[str]]  # an attempt's cgroup to make: directories, settings, hand-down
GroupEnd = tuple[Usage, int, bool]  # read when its wrapper ended: usage, OOM kills, removed


def attempt_name(attempt: Attempt) -> str:
    """The attempt's cgroup's name: unique per launch, so a relaunch never meets an older one."""
    return f"{attempt.job_id}-{attempt.number}-{attempt.launch_token}"


class Containment:
    """Contains the attempts of one local executor (one state directory: one `jobtui-<key>` cgroup)."""

    def __init__(self, settings: ContainmentSettings, key_of: str, mode: Mode | None = None) -> None:
        self.settings = settings
        self.mode = mode or hand_down(detect(settings.mode))
        self.key = hashlib.sha256(key_of.encode()).hexdigest()[:12]
        self._groups: dict[tuple[int, int], AttemptGroup] = {}

    def prepare(self, job: Job, attempt: Attempt, env: dict[str, str]) -> tuple[dict[str, str], GroupPlan | None]:
        """The wrapper's environment, and the attempt's cgroup with its limits for the spawner to make before the
        spawn (`GroupPlan`: directories, settings, controllers to hand down), or None without cgroups."""
        env = {**env, MARK_ENV: attempt.launch_token}
        mem_mb = job.resources.mem_mb
        if self.mode.uses_cgroups:
            limits = Limits(
                memory_bytes=mem_mb << 20 if mem_mb and self.settings.limit_memory else None,
                cpus=job.resources.cpus if self.settings.limit_cpu and job.resources.cpus else None,
                pids=self.settings.pids_max,
            )
            group = AttemptGroup.planned(self.mode, self.key, attempt_name(attempt), limits)
            attempt.cgroups = list(group.dirs)
            self._groups[(attempt.job_id, attempt.number)] = group
            env[CGROUP_PROCS_ENV] = "\n".join(group.procs_files())
            return env, (group.dirs, limit_settings(self.mode, limits), handed_down(self.mode))
        if self.settings.memory_rlimit and mem_mb:
            env[RLIMIT_AS_ENV] = str(mem_mb << 10)
        return env, None

    def not_made(self, error: OSError) -> OSError:
        """The error to report when an attempt's cgroup could not be made."""
        where = ", ".join(self.mode.parents)
        return OSError(
            error.errno,
            f"cannot make the job's cgroup below {where} ({error.strerror or error}); check `jobtui doctor`, or run "
            "jobs without cgroups with `containment: {mode: proc}` in the config",
        )

    def group(self, attempt: Attempt) -> AttemptGroup | None:
        """The attempt's cgroup: made by this engine, saved on the attempt, or found where this engine would have
        made it (an earlier engine died before saving it)."""
        group = self._groups.get((attempt.job_id, attempt.number))
        if group is None and attempt.cgroups:
            group = AttemptGroup(list(attempt.cgroups))
        elif group is None and self.mode.uses_cgroups and attempt.status != "finished":
            group = AttemptGroup.find(self.mode, self.key, attempt_name(attempt))
            if group is not None:
                attempt.cgroups = list(group.dirs)
        return group

    def oom_killed(self, attempt: Attempt) -> bool:
        group = self.group(attempt)
        return group is not None and group.oom_kills() > 0

    def signal(self, attempt: Attempt, sig: int) -> None:
        """Send `sig` to every process of the attempt: its cgroup's, or those carrying its marker."""
        group = self.group(attempt)
        if group is not None and group.exists():
            group.signal(sig)
        else:
            signal_marked(attempt.launch_token, sig)

    def contained(self, attempt: Attempt) -> bool:
        """Is the attempt in a cgroup (which knows its every process)?"""
        group = self.group(attempt)
        return group is not None and group.exists()

    def alive(self, attempt: Attempt) -> bool:
        group = self.group(attempt)
        if group is not None and group.exists():
            return bool(group.pids())
        return bool(marked(attempt.launch_token))

    async def kill(self, attempt: Attempt) -> bool:
        """SIGKILL every process of the attempt and wait until they are gone; True when none is left."""
        group = self.group(attempt)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + KILL_TIMEOUT
        if group is not None and group.exists():
            freezer = self.mode.freezer_parent()
            made = freezer and os.path.join(freezer, f"jobtui-{self.key}", attempt_name(attempt))
            group.kill(made)
            while group.kill_again():
                if loop.time() >= deadline:
                    return False
                await asyncio.sleep(0.01)
            if made and made in group.dirs and made not in attempt.cgroups:
                with contextlib.suppress(OSError):  # the freezer made for this kill goes with it (else with the rest,
                    # in `remove`; the spawner, which removes an emptied cgroup, never knew of it)
                    os.rmdir(made)
                    group.dirs.remove(made)
            return True
        while signal_marked(attempt.launch_token, signal.SIGKILL):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def finish(self, attempt: Attempt, measured: Usage | None, ended: GroupEnd | None = None) -> None:
        """After the attempt's wrapper ended: record its usage, kill what it left running, remove its cgroup.
        `measured`: the wrapper's own usage by its wait status, for what its cgroup cannot tell; `ended`: what the
        spawner read and did when it reaped the wrapper (usage, OOM kills, removed)."""
        group = self.group(attempt)
        if ended is not None:
            usage, removed = ended[0], ended[2]
        else:
            usage, removed = (group.usage() if group is not None else Usage()), False
        if measured is not None:
            usage = Usage(
                measured.cpu_seconds if usage.cpu_seconds is None else usage.cpu_seconds,
                measured.peak_memory_bytes if usage.peak_memory_bytes is None else usage.peak_memory_bytes,
            )
        attempt.cpu_seconds = usage.cpu_seconds if usage.cpu_seconds is None else round(usage.cpu_seconds, 3)
        attempt.peak_memory_bytes = usage.peak_memory_bytes
        if removed:
            self._groups.pop((attempt.job_id, attempt.number), None)
            return
        if group is None:
            return
        if group.pids() and not await self.kill(attempt):
            log.warning("job %s: processes of attempt %s outlived a kill", attempt.job_id, attempt.number)
        await self.remove(attempt)

    async def remove(self, attempt: Attempt) -> None:
        """Remove the attempt's cgroup (empty by now); a killed process may take a moment to leave it."""
        group = self._groups.pop((attempt.job_id, attempt.number), None) or self.group(attempt)
        if group is None:
            return
        for _ in range(100):
            if group.remove():
                return
            await asyncio.sleep(0.01)
        log.warning("could not remove cgroup %s of job %s", ", ".join(group.dirs), attempt.job_id)

    def close(self) -> None:
        """Remove this engine's `jobtui-<key>` cgroups where no attempt is left in them."""
        for parent in self.mode.parents:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(parent, f"jobtui-{self.key}"))
