"""Which engine this process works with: config and state directory from the command line, then attach or host."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.api.client import EngineClient
from engine.api.discovery import attach, engine_running
from engine.config import Config, load_config, resolve_state_dir


def load_context(args: argparse.Namespace) -> tuple[Config, Path]:
    config = load_config(getattr(args, "config", None))
    return config, resolve_state_dir(getattr(args, "state_dir", None), config)


async def host_or_attach(config: Config, state_dir: Path) -> tuple[EngineClient, Any]:
    """Attach to the engine running on `state_dir`, or host one in this process (returned second)."""
    if engine_running(state_dir):
        return attach(state_dir), None
    from engine.api.daemon import EngineHost

    host = EngineHost(config, state_dir)
    await host.start()
    return host.client(), host
