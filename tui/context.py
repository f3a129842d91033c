"""Resolving the config file and state directory from the command line and environment."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.config import Config, load_config, resolve_state_dir


def load_context(args: argparse.Namespace) -> tuple[Config, Path]:
    config = load_config(getattr(args, "config", None))
    return config, resolve_state_dir(getattr(args, "state_dir", None), config)
