"""Pure parsers of batch-scheduler output (Slurm: sbatch/squeue/sacct/scontrol; SGE: qsub/qstat/qacct).

Every function takes the text a command printed and returns plain records; none runs anything.
Malformed input raises `ValueError` naming the offending line: a parser never guesses (a job id is
never "the first number in the output"). Tested against real output recorded in tests/data/.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from engine.models import Reason

TAG_PREFIX = "jt-"
_TAG = re.compile(r"^jt-(\d+)-(\d+)-([0-9a-f]{6,32})(?:$|_)")


@dataclass(slots=True, frozen=True)
class QueueEntry:
    """One job in the scheduler's queue listing, in the scheduler's own words."""

    job_id: str
    state: str
    name: str
    reason: str = ""


@dataclass(slots=True, frozen=True)
class FinishedRecord:
    """What the scheduler's accounting says about a job that has left the queue."""

    job_id: str
    state: str
    exit_code: int | None
    name: str = ""
    signal: int | None = None
    detail: str = ""


def make_tag(job_id: int, attempt: int, launch_token: str) -> str:
    """The jobtui tag that leads a scheduler job name: `jt-<job>-<attempt>-<token>`."""
    return f"{TAG_PREFIX}{job_id}-{attempt}-{launch_token}"


def parse_tag(name: str) -> tuple[int, int, str] | None:
    """(job id, attempt, launch token) from a scheduler job name, or None if it is not ours."""
    m = _TAG.match(name)
    return (int(m[1]), int(m[2]), m[3]) if m else None


def _single_line(text: str, what: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) != 1:
        raise ValueError(f"{what}: expected one line, got {len(lines)}: {text.strip()[:200]!r}")
    return lines[0]


# -- Slurm -----------------------------------------------------------------------------------------------

SQUEUE_FORMAT = "%i|%T|%r|%j"  # the name last: it is the only field that may contain the separator
SACCT_FIELDS = "JobID,JobName,State,ExitCode"

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
SLURM_REASONS: dict[str, Reason | None] = {
    "COMPLETED": None,
    "FAILED": None,
    "TIMEOUT": Reason.TIMEOUT,
    "DEADLINE": Reason.TIMEOUT,
    "OUT_OF_MEMORY": Reason.OUT_OF_MEMORY,
    "NODE_FAIL": Reason.NODE_FAILURE,
    "BOOT_FAIL": Reason.NODE_FAILURE,
    "PREEMPTED": Reason.PREEMPTED,
    "CANCELLED": Reason.CANCELLED,
}


def parse_sbatch_id(stdout: str) -> str:
    """The job id `sbatch --parsable` printed (`123` or `123;cluster`)."""
    line = _single_line(stdout, "sbatch --parsable")
    m = _SBATCH_ID.match(line)
    if not m:
        raise ValueError(f"sbatch --parsable: not a job id: {line!r}")
    return m[1]


def slurm_state(word: str) -> str:
    """Normalise a Slurm state: `CANCELLED by 0` -> `CANCELLED`, `CANCELLED+` -> `CANCELLED`."""
    return word.strip().split(" ", 1)[0].rstrip("+")


def slurm_is_active(state: str) -> bool:
    return slurm_state(state) in SLURM_ACTIVE


def slurm_reason(state: str) -> Reason | None:
    """The jobtui reason for a finished Slurm state (None: judge by the exit code)."""
    word = slurm_state(state)
    if word in SLURM_REASONS:
        return SLURM_REASONS[word]
    raise ValueError(f"unknown Slurm job state {state!r}")


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
    """`sacct -P -n -o JobID,JobName,State,ExitCode` -> records of whole jobs (steps are skipped)."""
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("|")
        if len(parts) < 4:
            raise ValueError(f"sacct: unexpected line {line!r}")
        job_id, state, exit_text = parts[0], parts[-2], parts[-1]
        name = "|".join(parts[1:-2])
        if "." in job_id:
            continue  # a step (batch, extern, 0, ...): the job's own line carries its state
        if not _SLURM_ID.match(job_id):
            raise ValueError(f"sacct: unexpected job id in {line!r}")
        code, sig = parse_exit_pair(exit_text)
        records.append(FinishedRecord(job_id, slurm_state(state), code, name, sig or None, state.strip()))
    return records


_SCONTROL_KEY = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_/:]*)=")


def parse_scontrol_job(text: str) -> dict[str, str]:
    """One `scontrol show job -o JID` line -> its key=value fields (values may hold spaces)."""
    line = _single_line(text, "scontrol show job -o")
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


# -- SGE -------------------------------------------------------------------------------------------------

_QSUB_ID = re.compile(r"^(\d+)(?:\.\d+-\d+:\d+)?$")
_SGE_FAILED = re.compile(r"^(\d+)\s*(?::\s*(.*))?$")


def parse_qsub_id(stdout: str) -> str:
    """The job id `qsub -terse` printed (`123`, or `123.1-10:1` for an array)."""
    line = _single_line(stdout, "qsub -terse")
    m = _QSUB_ID.match(line)
    if not m:
        raise ValueError(f"qsub -terse: not a job id: {line!r}")
    return m[1]


def parse_qstat_xml(text: str) -> list[QueueEntry]:
    """`qstat -xml` -> entries (running and pending); state is SGE's letters (`r`, `qw`, `Eqw`, `dr`)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise ValueError(f"qstat -xml: not XML: {e}") from e
    entries = []
    for job in root.iter("job_list"):
        number = job.findtext("JB_job_number")
        if not number or not number.isdigit():
            raise ValueError("qstat -xml: a job_list without a job number")
        letters = (job.findtext("state") or "").strip()
        entries.append(QueueEntry(number, letters, job.findtext("JB_name") or "", job.get("state", "")))
    return entries


def sge_is_error_state(letters: str) -> bool:
    """`Eqw`: the job will not run until an administrator clears the error."""
    return "E" in letters


def parse_qacct(text: str) -> list[FinishedRecord]:
    """`qacct -j ...` -> one record per accounting entry (a job id appears again if it was rerun)."""
    records = []
    for block in re.split(r"^=+\s*$", text, flags=re.MULTILINE):
        fields = {}
        for line in block.splitlines():
            key, _, value = line.partition(" ")
            if key:
                fields[key] = value.strip()
        if not fields:
            continue
        if "jobnumber" not in fields or "exit_status" not in fields or "failed" not in fields:
            raise ValueError(f"qacct: a record without jobnumber/failed/exit_status: {block.strip()[:200]!r}")
        records.append(_qacct_record(fields))
    return records


def _qacct_record(fields: dict[str, str]) -> FinishedRecord:
    m = _SGE_FAILED.match(fields["failed"])
    exit_m = re.match(r"^(\d+)", fields["exit_status"])
    if not m or not exit_m:
        raise ValueError(f"qacct: unexpected failed/exit_status: {fields['failed']!r} {fields['exit_status']!r}")
    failed, why = int(m[1]), (m[2] or "").strip()
    code = int(exit_m[1])
    state = sge_finished_state(failed, code, why)
    sig = code - 128 if code > 128 and failed else None
    return FinishedRecord(fields["jobnumber"], state, code, fields.get("jobname", ""), sig, fields["failed"])


def sge_finished_state(failed: int, exit_status: int, why: str) -> str:
    """A Slurm-like state word for an SGE accounting record, so both share one reason map."""
    if failed == 0:
        return "COMPLETED" if exit_status == 0 else "FAILED"
    if failed == 37 or "h_rt" in why or "s_rt" in why:
        return "TIMEOUT"
    if failed == 100 and exit_status in (137, 143):
        return "CANCELLED"  # killed by qdel (or a limit SGE did not name)
    if failed in (1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 26, 27, 28):
        return "NODE_FAIL"  # the job could not be started or set up on the execution host
    return "FAILED"
