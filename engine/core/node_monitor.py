"""What executors report about their nodes and cluster jobs, turned into engine state and events.

An executor's `NodeListener`: a node went down or came back (its running jobs are marked unreachable,
not failed), a node was sampled (cores, memory and GPUs the config leaves unset), or a cluster's
scheduler gave an attempt a new id or state (shown on the job and kept in its history).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

from engine.clock import Clock
from engine.events import Event, NodesSampled
from engine.models import SYSTEM, Actor, Attempt, Job, JobStatus
from engine.scheduling.plan import NodeState
from engine.store import Statement, Store


class MonitorHost(Protocol):
    """What the node monitor may ask of the engine."""

    clock: Clock

    def node_states(self) -> dict[str, NodeState]: ...
    def attempts_on(self, node: str) -> list[tuple[Job, Attempt]]: ...
    def find(self, job_id: int) -> Job | None: ...
    def is_live(self, attempt: Attempt) -> bool: ...
    def transition(
        self,
        job: Job,
        actor: Actor,
        kind: str,
        status: JobStatus | None = None,
        *,
        also: Sequence[Statement] = (),
        **fields: Any,
    ) -> None: ...
    def adopt_capacity(self, node: str, sample: dict[str, Any]) -> None: ...
    def announce(self, event: Event) -> None: ...
    def wake(self) -> None: ...


class NodeMonitor:
    def __init__(self, host: MonitorHost) -> None:
        self.host = host

    def node_changed(self, node: str, reachable: bool, sample: dict | None = None, reason: str = "") -> None:
        """An executor reports its node down, back, or freshly sampled."""
        state = self.host.node_states().get(node)
        if state is None:
            return
        now = self.host.clock.now()
        if state.reachable != reachable:
            state.reachable = reachable
            for job, attempt in self.host.attempts_on(node):
                attempt.unreachable_since = None if reachable else now
                note = "" if reachable else f"node {node} unreachable since {_clock_text(now)}"
                self.host.transition(job, SYSTEM, "reachable" if reachable else "unreachable", message=note)
            self.host.wake()
        if sample is not None:
            self.host.adopt_capacity(node, sample)
        self.host.announce(NodesSampled(node=node, reachable=reachable, sample=sample, reason=reason))

    def attempt_changed(self, attempt: Attempt) -> None:
        """A cluster's scheduler reports a new id or state for an attempt: show it on the job."""
        job = self.host.find(attempt.job_id)
        if job is None or not self.host.is_live(attempt):
            return
        scheduler = {"id": attempt.external_id, "state": attempt.external_state}
        if job.extra.get("scheduler") == scheduler:
            return
        note = f"scheduler job {attempt.external_id}: {attempt.external_state}"
        extra = {**job.extra, "scheduler": scheduler}
        self.host.transition(
            job, SYSTEM, "scheduler_state", also=[Store.save_attempt(attempt)], extra=extra, message=note
        )


def _clock_text(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
