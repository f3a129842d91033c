"""Turning the engine's changes into hook events: a job's history row, a workflow's last job ending, a node
lost. Called on the engine loop; it only builds the event (when some hook takes its name) and offers it to
the dispatcher, which never waits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from engine.clock import Clock
from engine.config_hooks import HOOK_EVENTS
from engine.models import TERMINAL, Job, JobStatus, WorkflowRecord
from engine.notify.dispatcher import HookDispatcher
from engine.notify.events import hook_event_of, job_event, node_event, workflow_event


class HookFeed:
    def __init__(
        self,
        dispatcher: HookDispatcher,
        clock: Clock,
        workflow_of: Callable[[int], WorkflowRecord | None],
        jobs: Callable[[], Iterable[Job]],
    ) -> None:
        self.dispatcher = dispatcher
        self._clock = clock
        self._workflow_of = workflow_of
        self._jobs = jobs
        self._open: dict[int, int] = {}  # workflow id -> its jobs not ended, once one of them has ended
        self._reachable: dict[str, bool] = {}

    def job_changed(self, job: Job, kind: str, old: JobStatus, message: str = "") -> None:
        """A history row of `kind` was written for `job`, which moved from `old` (or stayed)."""
        name = hook_event_of(kind, old, job)
        if name is not None and self.dispatcher.wants(name):
            self.dispatcher.offer(job_event(name, job, self._workflow_name(job), self._clock.now(), message), job.id)
        if job.workflow_id is not None and (old in TERMINAL) != job.is_terminal:
            self._count_workflow(job, ended=job.is_terminal)

    def job_announced(self, kind: str, job: Job, data: dict[str, Any]) -> None:
        """An event about a job that changes no state (`job_overrun`, `job_stalled`, `progress_milestone`):
        a hook event of the same name, carrying the event's own fields as `detail`."""
        if kind in HOOK_EVENTS and self.dispatcher.wants(kind):
            if "milestone" in data:
                message = f"progress reached {data['milestone']} %"
            else:
                message = str(data.get("message") or kind.replace("_", " "))
            event = job_event(kind, job, self._workflow_name(job), self._clock.now(), message)
            event["detail"] = {k: v for k, v in data.items() if k != "job_id"}
            self.dispatcher.offer(event, job.id)

    def submitted(self, job: Job) -> None:
        if job.status == JobStatus.BLOCKED and job.requires_approval and self.dispatcher.wants("approval_needed"):
            event = job_event("approval_needed", job, self._workflow_name(job), self._clock.now())
            self.dispatcher.offer(event, job.id)

    def node_sampled(self, node: str, reachable: bool) -> None:
        was = self._reachable.get(node, True)
        self._reachable[node] = reachable
        if was and not reachable and self.dispatcher.wants("node_unreachable"):
            self.dispatcher.offer(node_event("node_unreachable", node, self._clock.now(), f"node {node} unreachable"))

    def _workflow_name(self, job: Job) -> str | None:
        if job.workflow_id is None:
            return None
        record = self._workflow_of(job.workflow_id)
        return record.name if record else None

    def _count_workflow(self, job: Job, ended: bool) -> None:
        workflow_id = job.workflow_id
        assert workflow_id is not None
        if workflow_id not in self._open:
            if not ended or not self.dispatcher.wants("workflow_finished"):
                return
            # Counted once per workflow, when its first job ends; kept up to date from then on.
            self._open[workflow_id] = sum(1 for j in self._jobs() if j.workflow_id == workflow_id and not j.is_terminal)
        else:
            self._open[workflow_id] += -1 if ended else 1
        if self._open[workflow_id] == 0:
            del self._open[workflow_id]
            record = self._workflow_of(workflow_id)
            counts: dict[str, int] = {}
            for j in self._jobs():
                if j.workflow_id == workflow_id:
                    counts[j.status.value] = counts.get(j.status.value, 0) + 1
            name = record.name if record else str(workflow_id)
            self.dispatcher.offer(workflow_event(workflow_id, name, counts, self._clock.now()), job.id)
