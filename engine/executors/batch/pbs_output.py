"""Pure parsers of PBS output (PBS Pro / OpenPBS and Torque): qsub ids, `qstat -f` and `qstat -f -F json`.

Like `scheduler_output`, every function takes the text a command printed and returns plain records;
malformed input raises `ValueError`. A finished job's `Exit_status` (PBS Pro) or `exit_status` (Torque) is
turned into a Slurm-like state word (COMPLETED, FAILED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, CANCELLED) so
that every scheduler shares one reason map (`records.slurm_reason`).

Exit status conventions (PBS Pro Reference Guide, "Job Exit Status"; Torque Admin Guide, "Job Exit
Status"): 0-127 the job script's own code; 128-253 its top process died of signal X-128; 254 execve
failed; above 256 PBS killed it with signal X-256 (271 = SIGTERM, 265 = SIGKILL: qdel, or a limit on
older servers); negative: PBS's own JOB_EXEC_* codes, which differ between the two flavours.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from engine.executors.batch.records import FinishedRecord, QueueEntry, single_line

Flavor = Literal["pbspro", "torque"]

# `1234.server` or `1234.server.example.org`; `1234[].server` for an array (never submitted by jobtui)
_PBS_ID = re.compile(r"^\d+(?:\[\d*\])?\.[A-Za-z0-9][A-Za-z0-9._-]*$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")  # Job_Name, Resource_List.walltime, resources_used.mem
# T transit, Q queued, H held, W waiting, R running, E exiting, S/U suspended, B array begun,
# M moved, F finished (PBS Pro history), X expired subjob, C completed (Torque)
PBS_STATES = frozenset("TQHWRESUBMFXC")
PBS_ACTIVE = frozenset("TQHWRESUB")  # E: exiting, Exit_status may not be final yet: wait for F/C or the end
PBS_RUNNING = frozenset("RE")
PBS_FINISHED = frozenset("FC")
SUBSTATE_TERMINATED = "91"  # PBS Pro history: the job was deleted (qdel), before or while running

# Negative JOB_EXEC_* codes that name a cause (src/include/job.h in OpenPBS; Torque's pbs_job.h)
_NEGATIVE: dict[Flavor, dict[int, tuple[str, str]]] = {
    "pbspro": {
        -29: ("TIMEOUT", "JOB_EXEC_KILL_WALLTIME: exceeded its walltime"),
        -28: ("TIMEOUT", "JOB_EXEC_KILL_CPUT: exceeded its cput limit"),
        -27: ("OUT_OF_MEMORY", "JOB_EXEC_KILL_MEM: exceeded its mem limit"),
        -26: ("OUT_OF_MEMORY", "JOB_EXEC_KILL_VMEM: exceeded its vmem limit"),
        -25: ("FAILED", "JOB_EXEC_KILL_NCPUS_SUM: used more CPUs than requested"),
        -24: ("FAILED", "JOB_EXEC_KILL_NCPUS_BURST: used more CPUs than requested"),
        -20: ("NODE_FAIL", "JOB_EXEC_RERUN_MS_FAIL: lost contact with the job's first host"),
        -14: ("NODE_FAIL", "JOB_EXEC_RERUN_SIS_FAIL: lost contact with a sister host"),
    },
    "torque": {
        -11: ("TIMEOUT", "JOB_EXEC_OVERLIMIT_WT: exceeded its walltime"),
        -12: ("TIMEOUT", "JOB_EXEC_OVERLIMIT_CPUT: exceeded its cput limit"),
        -10: ("OUT_OF_MEMORY", "JOB_EXEC_OVERLIMIT_MEM: exceeded its memory limit"),
    },
}


def parse_pbs_qsub_id(stdout: str) -> str:
    """The job id `qsub` printed: `1234.server` (kept whole: `qstat`, `qdel` route by it)."""
    line = single_line(stdout, "qsub")
    if not _PBS_ID.match(line):
        raise ValueError(f"qsub: not a PBS job id: {line!r}")
    return line


def parse_qstat_full(text: str) -> list[dict[str, str]]:
    """`qstat -f` blocks (`Job Id: X` then `    key = value`, long values continued on tab-led lines)."""
    jobs: list[dict[str, str]] = []
    key = ""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("Job Id:"):
            job_id = line.partition(":")[2].strip()
            if not _PBS_ID.match(job_id):
                raise ValueError(f"qstat -f: line {number}: not a PBS job id: {line!r}")
            jobs.append({"Job Id": job_id})
            key = ""
        elif jobs and line.startswith("\t") and key:
            jobs[-1][key] += line.strip("\t\n")  # a wrapped value goes on where the last line stopped
        elif jobs and line.startswith(" ") and (" = " in line or line.endswith(" =")):
            key, _, value = line.lstrip(" ").partition(" =")
            if not _KEY.match(key):
                raise ValueError(f"qstat -f: line {number}: not an attribute: {line[:200]!r}")
            jobs[-1][key] = value.removeprefix(" ")
        else:
            raise ValueError(f"qstat -f: line {number}: unexpected {line[:200]!r}")
    return jobs


def parse_qstat_json(text: str) -> list[dict[str, str]]:
    """`qstat -f -F json` (PBS Pro) -> the same flat records as `parse_qstat_full` (`Resource_List.walltime`)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"qstat -F json: not JSON: {e}") from e
    if not isinstance(doc, dict) or not ({"Jobs", "pbs_version", "timestamp"} & doc.keys()):
        raise ValueError(f"qstat -F json: not a qstat document: {text.strip()[:200]!r}")
    jobs = doc.get("Jobs", {})  # absent when there are no jobs
    if not isinstance(jobs, dict):
        raise ValueError("qstat -F json: `Jobs` is not an object")
    records = []
    for job_id, attrs in jobs.items():
        if not _PBS_ID.match(job_id) or not isinstance(attrs, dict):
            raise ValueError(f"qstat -F json: unexpected job {job_id!r}")
        records.append({"Job Id": job_id, **_flatten(attrs)})
    return records


def _flatten(attrs: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in attrs.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def pbs_entries(records: list[dict[str, str]], user: str | None = None) -> list[QueueEntry]:
    """Queue entries (state: PBS's letter) of `user`'s jobs, or of every job when `user` is None."""
    entries = []
    for fields in records:
        state = fields.get("job_state", "")
        if state not in PBS_STATES or len(state) != 1:
            raise ValueError(f"qstat: job {fields['Job Id']} has an unknown job_state {state!r}")
        owner = fields.get("Job_Owner", "").partition("@")[0]
        if user is not None and owner != user:
            continue
        entries.append(QueueEntry(fields["Job Id"], state, fields.get("Job_Name", ""), fields.get("comment", "")))
    return entries


def exit_status(fields: dict[str, str]) -> int | None:
    """`Exit_status` (PBS Pro) or `exit_status` (Torque); None when the job never reported one."""
    text = fields.get("Exit_status", fields.get("exit_status"))
    if text is None:
        return None
    if not re.fullmatch(r"-?\d+", text.strip()):
        raise ValueError(f"qstat: job {fields['Job Id']}: not an exit status: {text!r}")
    return int(text)


def pbs_finished_records(records: list[dict[str, str]], flavor: Flavor) -> list[FinishedRecord]:
    """Records of the jobs that have finished (F, C); queued, running and moved jobs are left out."""
    return [pbs_record(f, flavor) for f in records if f.get("job_state") in PBS_FINISHED]


def pbs_record(fields: dict[str, str], flavor: Flavor) -> FinishedRecord:
    """A finished job's record, its exit status turned into a Slurm-like state word."""
    code = exit_status(fields)
    state, signal, detail = pbs_finished_state(code, flavor, fields)
    cpu, peak = pbs_usage(fields)
    return FinishedRecord(fields["Job Id"], state, code, fields.get("Job_Name", ""), signal, detail, cpu, peak)


_MEMORY = re.compile(r"^(\d+)([kmgtp]?)(b|w)?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def pbs_usage(fields: dict[str, str]) -> tuple[float | None, int | None]:
    """(CPU seconds, peak memory bytes) from `resources_used.cput` and `resources_used.mem`; None if absent."""
    cput, mem = fields.get("resources_used.cput", "").strip(), fields.get("resources_used.mem", "").strip()
    m = _MEMORY.match(mem)
    if mem and not m:
        raise ValueError(f"qstat: job {fields['Job Id']}: not a memory size: {mem!r}")
    peak = int(m[1]) * _UNITS[m[2].lower()] * (8 if (m[3] or "").lower() == "w" else 1) if m else None
    return (float(hms_seconds(cput)) if cput else None), peak


def pbs_finished_state(code: int | None, flavor: Flavor, fields: dict[str, str]) -> tuple[str, int | None, str]:
    """(state word, signal, detail) for a finished PBS job."""
    if code is not None and code < 0 and code in _NEGATIVE[flavor]:
        state, why = _NEGATIVE[flavor][code]
        return state, None, f"Exit_status {code}: {why}"
    if fields.get("substate") == SUBSTATE_TERMINATED and flavor == "pbspro":
        return "CANCELLED", None, "deleted (substate 91)"
    if code is None:
        return "CANCELLED", None, "no exit status: deleted before it ran"
    if code < 0:
        return "NODE_FAIL", None, f"Exit_status {code}: PBS could not run the job (JOB_EXEC_* code)"
    if code == 0:
        return "COMPLETED", None, ""
    if code < 128:
        return "FAILED", None, ""
    if code < 254:
        return "FAILED", code - 128, f"Exit_status {code}: killed by signal {code - 128}"
    if code in (254, 255, 256):
        return "NODE_FAIL", None, f"Exit_status {code}: the job script could not be executed"
    if walltime_exceeded(fields):
        return "TIMEOUT", code - 256, f"Exit_status {code}: killed by PBS at its walltime"
    return "FAILED", code - 256, f"Exit_status {code}: killed by PBS with signal {code - 256}"


def walltime_exceeded(fields: dict[str, str]) -> bool:
    """resources_used.walltime reached Resource_List.walltime (how a 271/265 kill is told from qdel)."""
    used, limit = fields.get("resources_used.walltime"), fields.get("Resource_List.walltime")
    if not used or not limit:
        return False
    return hms_seconds(used) >= hms_seconds(limit)


def hms_seconds(text: str) -> int:
    """PBS's `[[H:]M:]S` duration -> seconds."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a PBS duration: {text!r}")
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return seconds


def is_unknown_pbs_job(stderr: str) -> bool:
    """The answer for a job the server no longer knows (no history, or kept too long): look elsewhere."""
    return "Unknown Job Id" in stderr or "Job has finished" in stderr
