"""Builds the executor for each configured node."""

from __future__ import annotations

from pathlib import Path

from engine.config import ClusterNode, Config, LocalNode, SshNode
from engine.errors import ConfigError
from engine.executors.base import Executor
from engine.executors.batch.dialects import make_cluster_executor
from engine.executors.exit_journal import ExitJournal
from engine.executors.local import LocalExecutor
from engine.executors.ssh import SshExecutor
from engine.remote.pool import SshPool


def make_executors(config: Config, state_dir: Path) -> dict[str, Executor]:
    executors: dict[str, Executor] = {}
    pool = SshPool()  # one connection per SSH endpoint, shared by every node that names it
    runs = state_dir / "runs"
    journal = ExitJournal(runs)  # one per runs directory: local nodes share its files and their generations
    for node in config.nodes:
        if isinstance(node, LocalNode):
            executors[node.name] = LocalExecutor(node.name, runs, config.containment, journal)
        elif isinstance(node, SshNode):
            executors[node.name] = SshExecutor(node, state_dir, pool)
        elif isinstance(node, ClusterNode):
            executors[node.name] = make_cluster_executor(node, config, state_dir, pool)
        else:
            raise ConfigError(
                f"node {node.name!r}: kind {node.kind!r} is not supported by this version of jobtui yet; "
                "remove the node from the config or use kind: local or ssh."
            )
    return executors
