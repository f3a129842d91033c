"""Builds the executor for each configured node."""

from __future__ import annotations

from pathlib import Path

from engine.config import Config, LocalNode
from engine.errors import ConfigError
from engine.executors.base import Executor
from engine.executors.local import LocalExecutor


def make_executors(config: Config, state_dir: Path) -> dict[str, Executor]:
    executors: dict[str, Executor] = {}
    for node in config.nodes:
        if isinstance(node, LocalNode):
            executors[node.name] = LocalExecutor(node.name, state_dir / "runs")
        else:
            raise ConfigError(
                f"node {node.name!r}: kind {node.kind!r} is not supported by this version of jobtui yet; "
                "remove the node from the config or use kind: local."
            )
    return executors
