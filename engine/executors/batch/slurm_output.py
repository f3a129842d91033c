"""Pure parsers of Slurm's output: sbatch, squeue, sacct, scontrol (see `records` for what they return)."""

from __future__ import annotations

import re
from dataclasses import replace

from engine.executors.batch.records import FinishedRecord, QueueEntry, single_line, slurm_state

SQUEUE_FORMAT = "%i|%T|%r|%j"  # the name last: it is the only field that may contain the separator
SACCT_FIELDS = "JobID,JobName,State,ExitCode,TotalCPU,MaxRSS"  # the name: the only field with `|`

_SBATCH_ID = re.compile(r"^(\d+)(?:;[A-Za-z0-9_.-]+)?$")
_SLURM_ID = re.compile(r"^\d+(?:_(?:\d+|\[[0-9,\-%]+\]))?(?:\+\d+)?$")
SLURM_ACTIVE = frozenset(
    {
        "PENDING",
        "RUNNING",
        "SUSPENDED",
        "COMPLETING",
        "CONFIGURING",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
        "RESV_DEL_HOLD",
        "SPECIAL_EXIT",
    }
)


def parse_sbatch_id(stdout: str) -> str:
    """The job id `sbatch --parsable` printed (`123` or `123;cluster`)."""
    line = single_line(stdout, "sbatch --parsable")
    m = _SBATCH_ID.match(line)
    if not m:
        raise ValueError(f"sbatch --parsable: not a job id: {line!r}")
    return m[1]


def slurm_is_active(state: str) -> bool:
    return slurm_state(state) in SLURM_ACTIVE


def parse_squeue(text: str) -> list[QueueEntry]:
    """`squeue -h -o '%i|%T|%r|%j'` lines -> entries."""
    entries = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("|", 3)
        if len(parts) != 4 or not _SLURM_ID.match(parts[0]) or not parts[1].isupper():
            raise ValueError(f"squeue: unexpected line {line!r}")
        entries.append(QueueEntry(parts[0], parts[1], parts[3], parts[2]))
    return entries


def parse_exit_pair(text: str) -> tuple[int, int]:
    """Slurm's `ExitCode=3:0` value -> (exit code, signal)."""
    m = re.fullmatch(r"(\d+):(\d+)", text.strip())
    if not m:
        raise ValueError(f"not a Slurm exit code: {text!r}")
    return int(m[1]), int(m[2])


def parse_sacct(text: str) -> list[FinishedRecord]:
    """`sacct -P -n -o JobID,JobName,State,ExitCode,TotalCPU,MaxRSS` -> records of whole jobs.

    A job's own line carries its state and exit code; its steps (batch, extern, 0, ...) only add to its usage:
    the job's TotalCPU when it has one, else the sum of its steps'; the largest MaxRSS of any step. Empty
    usage fields (no slurmdbd, or `jobacct_gather/none`) leave the usage unknown.
    """
    records: list[FinishedRecord] = []
    steps: dict[str, list[tuple[float | None, int | None]]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("|")
        if len(parts) < 6:
            raise ValueError(f"sacct: unexpected line {line!r}")
        job_id, state, exit_text, cpu_text, rss_text = parts[0], *parts[-4:]
        try:
            usage = (slurm_duration(cpu_text), slurm_memory(rss_text))
        except ValueError as e:
            raise ValueError(f"sacct: {e} in {line!r}") from None
        if "." in job_id:
            steps.setdefault(job_id.split(".", 1)[0], []).append(usage)
            continue
        if not _SLURM_ID.match(job_id):
            raise ValueError(f"sacct: unexpected job id in {line!r}")
        code, sig = parse_exit_pair(exit_text)
        name = "|".join(parts[1:-4])
        record = FinishedRecord(job_id, slurm_state(state), code, name, sig or None, state.strip(), *usage)
        records.append(record)
    return [_with_steps(record, steps.get(record.job_id, [])) for record in records]


def _with_steps(record: FinishedRecord, steps: list[tuple[float | None, int | None]]) -> FinishedRecord:
    cpus = [cpu for cpu, _ in steps if cpu is not None]
    peaks = [peak for _, peak in steps if peak is not None]
    cpu = record.cpu_seconds if record.cpu_seconds is not None else (round(sum(cpus), 3) if cpus else None)
    if record.peak_memory_bytes is not None:
        peaks.append(record.peak_memory_bytes)
    return replace(record, cpu_seconds=cpu, peak_memory_bytes=max(peaks) if peaks else None)


_DURATION = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)([KMGTP]?)$")
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


def slurm_duration(text: str) -> float | None:
    """Slurm's `[D-][HH:]MM:SS[.mmm]` (TotalCPU) -> seconds; None when empty."""
    if not text.strip():
        return None
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"not a Slurm duration: {text!r}")
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
    return round(((days * 24 + hours) * 60 + minutes) * 60 + seconds, 3)


def slurm_memory(text: str) -> int | None:
    """Slurm's memory figure (MaxRSS: `52340K`, `1.50G`, `0`) -> bytes; None when empty."""
    if not text.strip():
        return None
    m = _MEMORY.match(text.strip())
    if not m:
        raise ValueError(f"not a Slurm memory size: {text!r}")
    return int(float(m[1]) * _UNITS[m[2]])


_SCONTROL_KEY = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_/:]*)=")


def parse_scontrol_job(text: str) -> dict[str, str]:
    """One `scontrol show job -o JID` line -> its key=value fields (values may hold spaces)."""
    line = single_line(text, "scontrol show job -o")
    keys = list(_SCONTROL_KEY.finditer(line))
    if not keys or keys[0].group(1) != "JobId":
        raise ValueError(f"scontrol: not a job record: {line[:200]!r}")
    fields = {}
    for i, m in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(line)
        fields[m.group(1)] = line[m.end() : end].strip()
    return fields


def scontrol_record(fields: dict[str, str]) -> FinishedRecord:
    """A finished-job record from `parse_scontrol_job` fields."""
    code, sig = parse_exit_pair(fields.get("ExitCode", "0:0"))
    return FinishedRecord(
        fields["JobId"],
        slurm_state(fields.get("JobState", "")),
        code,
        fields.get("JobName", ""),
        sig or None,
        fields.get("Reason", ""),
    )


def is_unknown_job_error(stderr: str) -> bool:
    """Slurm's answer for a job it no longer knows: finished, look elsewhere — not an error."""
    return "Invalid job id specified" in stderr
