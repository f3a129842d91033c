"""Builds the executor of a `kind: slurm|sge|pbs` node from its config (registered in `registry.py`)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from engine.config import ClusterNode, Config, SshNode
from engine.errors import ConfigError
from engine.executors.batch.executor import ClusterExecutor, Dialect
from engine.executors.batch.pbs import PbsDialect
from engine.executors.batch.sge import SgeDialect
from engine.executors.batch.slurm import SlurmDialect
from engine.remote.pool import SshPool, SshRunner


def cluster_root(cfg: ClusterNode, state_dir: Path, remote: bool) -> str:
    """Run directories live under `work_root`, apart per node and per state directory."""
    tag = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:8]
    root = cfg.work_root if remote else os.path.expanduser(cfg.work_root)
    return f"{root.rstrip('/')}/{cfg.name}-{tag}"


def make_dialect(cfg: ClusterNode) -> Dialect:
    """The scheduler's dialect, with the node's site-specific options."""
    if cfg.kind == "slurm":
        return SlurmDialect(sacct_args=tuple(cfg.sacct_args))
    if cfg.kind == "sge":
        return SgeDialect(parallel_env=cfg.parallel_env, gpu_resource=cfg.gpu_resource or "gpu")
    if cfg.kind == "pbs":
        return PbsDialect(flavor=cfg.pbs_flavor, gpu_resource=cfg.gpu_resource)
    raise ConfigError(
        f"node {cfg.name!r}: kind {cfg.kind!r} is not supported by this version of jobtui yet; "
        "use kind: slurm, sge or pbs, or remove the node."
    )


def make_cluster_executor(cfg: ClusterNode, config: Config, state_dir: Path, pool: SshPool) -> ClusterExecutor:
    runner = None
    if cfg.via:
        via = next(n for n in config.nodes if n.name == cfg.via)
        assert isinstance(via, SshNode)  # checked when the config was loaded
        runner = SshRunner(pool.host(via))
    return ClusterExecutor(cfg, make_dialect(cfg), cluster_root(cfg, state_dir, runner is not None), runner)
