"""What `jobtui run` does besides following: `--tag` selection, the `-o` results file, and the hints it prints.

- `select_tagged`: the jobs having any of the tags (`--tag`, repeatable), with their ancestors (`--with-deps`),
  or alone: then their dependencies on jobs left out are dropped, and the notes say which. A tag no job has is
  an error, before anything is queued.
- `write_results`: the run's per-job results as JSON, written to a temporary file in the same directory and
  renamed over the target (a reader sees the old file or the whole new one, never a part).
- `job_keys`: which submitted job came from which spec (its `key`, a workflow's job id).
- `follow_hint`: how to follow the jobs further, as commands to copy.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import tempfile
from pathlib import Path
from typing import Any

from engine.errors import JobTuiError, ValidationError
from engine.service.jobspec import batch_order, parse_specs
from engine.wire import workflow_status

RESULT_FIELDS = (
    "id",
    "key",
    "name",
    "status",
    "attempts",
    "started_at",
    "finished_at",
    "exit_code",
    "reason",
    "message",
)


def _label(spec: dict[str, Any], index: int) -> str:
    return str(spec.get("key") or spec.get("name") or f"#{index + 1}")


def _parents(spec: dict[str, Any], keys: dict[str, int]) -> list[str]:
    """The keys of `spec`'s dependencies within the batch."""
    after = spec.get("after")
    return [dep for dep in after if isinstance(dep, str) and dep in keys] if isinstance(after, list) else []


def select_tagged(
    specs: list[dict[str, Any]], tags: list[str], with_deps: bool, where: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """The specs having any of `tags` (plus their ancestors `with_deps`), in file order, and notes for stderr."""
    present: set[str] = set()
    for spec in specs:
        present.update(str(t) for t in spec.get("tags") or [])
    unknown = [t for t in tags if t not in present]
    if unknown:
        known = ", ".join(sorted(present)) or "none"
        raise ValidationError(
            f"--tag {', '.join(unknown)}: no job of {where} has this tag (tags there: {known}); nothing was queued."
        )
    wanted = set(tags)
    keys = {str(s["key"]): i for i, s in enumerate(specs) if s.get("key")}
    chosen = {i for i, s in enumerate(specs) if wanted & {str(t) for t in s.get("tags") or []}}
    tagged = len(chosen)
    if with_deps:
        pending = list(chosen)
        while pending:
            for parent in _parents(specs[pending.pop()], keys):
                if keys[parent] not in chosen:
                    chosen.add(keys[parent])
                    pending.append(keys[parent])
    selected: list[dict[str, Any]] = []
    dropped: list[str] = []
    for i, spec in enumerate(specs):
        if i not in chosen:
            continue
        gone = [p for p in _parents(spec, keys) if keys[p] not in chosen]
        if gone:
            dropped.append(f"{_label(spec, i)} no longer waits for {', '.join(gone)}")
            after = [dep for dep in spec["after"] if dep not in gone]
            spec = {**spec, "after": after}
            if isinstance(spec.get("after_when"), dict):
                spec["after_when"] = {k: v for k, v in spec["after_when"].items() if k not in gone}
        selected.append(spec)
    label = "--tag " + ", ".join(tags)
    notes = [f"{label}: running {len(selected)} of {len(specs)} jobs"]
    if with_deps and len(selected) > tagged:
        notes[0] += f" ({tagged} tagged, {len(selected) - tagged} of their dependencies)"
    if dropped:
        notes.append(
            f"{label}: dropped the dependencies on jobs left out (add --with-deps to run those too): "
            + "; ".join(dropped)
        )
    return selected, notes


def check_output_path(path: Path) -> None:
    """Refuse, before anything runs, a results file that could not be written at the end."""
    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ValidationError(f"-o {path}: is a directory; name a file to write the results to.")
    if not directory.is_dir():
        raise ValidationError(f"-o {path}: the directory {directory} does not exist; create it or name another file.")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ValidationError(f"-o {path}: cannot write in {directory}; name a file in a directory of yours.")


def write_results(path: Path, document: dict[str, Any]) -> None:
    """`document` as JSON at `path`, atomically: a temporary file in the same directory, renamed over it."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temporary, 0o666 & ~mask)  # as a file the user made (mkstemp makes it 0600)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def results_document(
    jobs: list[dict[str, Any]], keys: dict[int, str | None], source: str, workflow: str | None
) -> dict[str, Any]:
    """What `-o FILE` holds: the file, the workflow's name, whether the run succeeded (every job completed, or
    was skipped by a condition alone: `wire.workflow_status`, as the exit status), and per job its end."""
    records = []
    for job in sorted(jobs, key=lambda j: j["id"]):
        record = {field: job.get(field) for field in RESULT_FIELDS}
        record["key"] = keys.get(job["id"])
        records.append(record)
    return {
        "file": source,
        "workflow": workflow,
        "ok": workflow_status((j["status"], j["reason"]) for j in records) == "completed",
        "jobs": records,
    }


def job_keys(specs: list[dict[str, Any]], submitted: list[dict[str, Any]]) -> dict[int, str | None]:
    """Job id -> the key of the spec it came from. The engine numbers a batch's jobs in `batch_order`, so
    the jobs by id follow that order; where they do not (another engine), no key is claimed."""
    try:
        parsed = parse_specs(specs)
        order = batch_order(parsed)
    except JobTuiError:
        return {}
    jobs = sorted(submitted, key=lambda j: j["id"])
    if len(jobs) != len(order):
        return {}
    pairs = list(zip(jobs, order, strict=True))
    if any(job["command"] != parsed[i].command for job, i in pairs):
        return {}
    return {job["id"]: parsed[i].key for job, i in pairs}


def command_prefix(args: argparse.Namespace) -> str:
    """`jobtui` with the options that chose this engine (`--config`, `--state-dir`), for commands to copy."""
    words = ["jobtui"]
    for flag, name in (("--config", "config"), ("--state-dir", "state_dir"), ("--token", "token")):
        value = getattr(args, name, None)
        if value is not None:
            words += [flag, str(value)]
    return shlex.join(words)


def follow_hint(prefix: str, ids: list[int]) -> str:
    """`jobtui wait IDS` or `jobtui list`, for the jobs `ids`."""
    ids = sorted(ids)
    if len(ids) <= 8:
        which = " ".join(map(str, ids))
    elif ids[-1] - ids[0] + 1 == len(ids):
        which = f"$(seq {ids[0]} {ids[-1]})"
    else:
        which = "--all"
    return f"`{prefix} wait {which}` or `{prefix} list`"
