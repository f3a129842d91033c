"""Reading a file of jobs: a YAML list, or one command per line as GNU parallel reads them."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

from engine.errors import ValidationError


def read_job_file(name: str) -> list[dict[str, Any]]:
    """A YAML list of jobs (or `{jobs: [...]}`), or one command per line as GNU parallel reads them."""
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text()
    except OSError as e:
        raise ValidationError(f"{name}: cannot read the job file ({e.strerror}); check the path.") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict) and "jobs" in data:
        data = data["jobs"]
    if isinstance(data, list) and all(isinstance(item, dict) for item in data):
        return [{**item, "workdir": os.path.abspath(item.get("workdir") or ".")} for item in data]
    jobs = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            jobs.append({"command": shlex.split(line), "workdir": os.getcwd()})
        except ValueError as e:
            raise ValidationError(f"{name}:{number}: cannot split this command line ({e}); check its quotes.") from e
    return jobs
