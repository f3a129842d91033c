"""What executors report about their nodes and cluster jobs, turned into engine state and events.

An executor's `NodeListener`: a node went down or came back (its running jobs are marked unreachable,
not failed), a node was sampled (cores, memory and GPUs the config leaves unset), or a cluster's
scheduler gave an attempt a new id or state (shown on the job and kept in its history).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from engine.models import SYSTEM, Attempt
from engine.store import Store

if TYPE_CHECKING:
    from engine.core.engine import Engine


class NodeMonitor:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def node_changed(self, node: str, reachable: bool, sample: dict | None = None) -> None:
        """An executor reports its node down, back, or freshly sampled."""
        state = self.engine.nodes.get(node)
        if state is None:
            return
        now = self.engine.clock.now()
        if state.reachable != reachable:
            state.reachable = reachable
            for job_id, attempt in self.engine.attempts.items():
                if attempt.node == node:
                    attempt.unreachable_since = None if reachable else now
                    job = self.engine.jobs[job_id]
                    note = "" if reachable else f"node {node} unreachable since {_clock_text(now)}"
                    self.engine.store.queue(
                        self.engine.update(job, SYSTEM, "reachable" if reachable else "unreachable", message=note)
                    )
            self.engine.wake()
        if sample is not None:
            held = {g for a in self.engine.attempts.values() if a.node == node for g in a.gpus}
            self.engine.ledger.adopt_capacity(node, sample, held)
            self.engine.wake()
        self.engine.bus.publish("nodes_sampled", {"node": node, "reachable": reachable, "sample": sample})

    def attempt_changed(self, attempt: Attempt) -> None:
        """A cluster's scheduler reports a new id or state for an attempt: show it on the job."""
        job = self.engine.jobs.get(attempt.job_id)
        if job is None or self.engine.attempts.get(job.id) is not attempt:
            return
        scheduler = {"id": attempt.external_id, "state": attempt.external_state}
        if job.extra.get("scheduler") == scheduler:
            return
        job.extra = {**job.extra, "scheduler": scheduler}
        note = f"scheduler job {attempt.external_id}: {attempt.external_state}"
        self.engine.store.queue(
            [*self.engine.update(job, SYSTEM, "scheduler_state", message=note), Store.save_attempt(attempt)]
        )


def _clock_text(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
