"""The scheduler's view of each configured node, built from its config."""

from __future__ import annotations

from engine.config import ClusterNode, Config, LocalNode
from engine.scheduling.capacity import local_node_state, sample_local_gpus
from engine.scheduling.plan import NodeState


def build_node_states(config: Config) -> dict[str, NodeState]:
    needs_gpu_probe = any(isinstance(n, LocalNode) and n.gpus is None for n in config.nodes)
    gpu_count = len(sample_local_gpus()) if needs_gpu_probe else 0
    states: dict[str, NodeState] = {}
    for cfg in config.nodes:
        if isinstance(cfg, LocalNode):
            states[cfg.name] = local_node_state(cfg, gpu_count)
        elif isinstance(cfg, ClusterNode):
            # The cluster's own scheduler places the job; jobtui bounds what it has queued there.
            states[cfg.name] = NodeState(
                cfg.name,
                cores=cfg.max_cores or cfg.cores or 1_000_000,
                mem_mb=cfg.memory_mb or 0,
                gpus=list(range(cfg.gpus or 0)),
                max_jobs=cfg.max_queued,
                labels=dict(cfg.labels),
                kind=cfg.kind,
                devices=None if cfg.gpus is None else list(range(cfg.gpus)),  # None: the cluster counts them
            )
        else:
            states[cfg.name] = NodeState(
                cfg.name,
                cores=cfg.cores or 1,
                mem_mb=cfg.memory_mb or 0,
                gpus=list(range(cfg.gpus or 0)),
                max_jobs=cfg.max_jobs,
                labels=dict(cfg.labels),
                kind=cfg.kind,
                devices=None if cfg.gpus is None else list(range(cfg.gpus)),  # None: known once sampled
            )
    return states
