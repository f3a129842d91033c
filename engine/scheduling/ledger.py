"""The ledger of what running jobs hold: slots per user and team, licence tokens, and each node's
cores, memory and GPUs. It is the one owner of this accounting; the scheduler reads it.
"""

from __future__ import annotations

from engine.config import Config
from engine.models import Attempt, Job
from engine.scheduling.node_states import build_node_states
from engine.scheduling.plan import NodeState, Usage


class Ledger:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.usage = Usage()
        self.nodes: dict[str, NodeState] = build_node_states(config)

    def occupy(self, job: Job, attempt: Attempt) -> None:
        self._count(job, +1)
        node = self.nodes[attempt.node]
        node.running += 1
        node.used_cores += job.resources.cpus
        node.used_mem_mb += job.resources.mem_mb
        node.gpus = [g for g in node.gpus if g not in attempt.gpus]
        node.used_gpus += job.resources.gpus

    def release(self, job: Job, attempt: Attempt) -> None:
        node = self.nodes.get(attempt.node)
        if node is None:
            return
        self._count(job, -1)
        node.running -= 1
        node.used_cores -= job.resources.cpus
        node.used_mem_mb -= job.resources.mem_mb
        node.gpus = sorted(node.gpus + list(attempt.gpus))
        node.used_gpus -= job.resources.gpus

    def _count(self, job: Job, sign: int) -> None:
        u = self.usage
        u.total += sign
        u.by_user[job.user] = u.by_user.get(job.user, 0) + sign
        if job.team:
            u.by_team[job.team] = u.by_team.get(job.team, 0) + sign
        if job.workflow_id is not None:
            u.by_workflow[job.workflow_id] = u.by_workflow.get(job.workflow_id, 0) + sign
        for name, tokens in job.resources.licenses.items():
            u.licenses[name] = u.licenses.get(name, 0) + sign * tokens

    def adopt_capacity(self, node: str, sample: dict, held_gpus: set[int]) -> None:
        """Sampled cores, memory and GPUs stand in for what the config leaves unset (None)."""
        state = self.nodes[node]
        state.sample = sample
        cfg = next(n for n in self.config.nodes if n.name == node)
        if cfg.cores is None and sample.get("cores"):
            state.cores = sample["cores"]
        if cfg.memory_mb is None and sample.get("memory_mb"):
            state.mem_mb = sample["memory_mb"]
        if cfg.gpus is None and sample.get("gpus") is not None:
            state.devices = [g["index"] for g in sample["gpus"]]
            state.gpus = [g for g in state.devices if g not in held_gpus]
