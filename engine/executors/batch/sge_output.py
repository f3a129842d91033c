"""Pure parsers of Grid Engine's output: qsub, qstat -xml, qacct (see `records` for what they return)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from engine.executors.batch.records import FinishedRecord, QueueEntry, single_line

_QSUB_ID = re.compile(r"^(\d+)(?:\.\d+-\d+:\d+)?$")
_SGE_FAILED = re.compile(r"^(\d+)\s*(?::\s*(.*))?$")


def parse_qsub_id(stdout: str) -> str:
    """The job id `qsub -terse` printed (`123`, or `123.1-10:1` for an array)."""
    line = single_line(stdout, "qsub -terse")
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
    cpu, peak = qacct_usage(fields)
    return FinishedRecord(fields["jobnumber"], state, code, fields.get("jobname", ""), sig, fields["failed"], cpu, peak)


_SECONDS = re.compile(r"^(\d+(?:\.\d+)?)s?$")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)([KMGTP]?)B?$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


def qacct_usage(fields: dict[str, str]) -> tuple[float | None, int | None]:
    """(CPU seconds, peak memory bytes) of an accounting record; None where SGE measured nothing.

    `cpu` is the job's CPU time (`0.512s`; older versions print no unit). The peak is `ru_maxrss`, the
    resident size of the largest process, which SGE keeps in kilobytes but prints as if bytes (`51.246KB`
    stands for about 51 MB), else `maxvmem`, the virtual size the execd sampled (0 when it sampled none).
    """
    cpu_text = fields.get("cpu", "").strip()
    cpu_m = _SECONDS.match(cpu_text)
    if cpu_text and not cpu_m:
        raise ValueError(f"qacct: job {fields.get('jobnumber')}: not a CPU time: {cpu_text!r}")
    rss = _sge_memory(fields.get("ru_maxrss", ""), fields)
    vmem = _sge_memory(fields.get("maxvmem", ""), fields)
    peak = rss * 1024 if rss else vmem or None
    return (round(float(cpu_m[1]), 3) if cpu_m else None), peak


def _sge_memory(text: str, fields: dict[str, str]) -> int:
    """SGE's printed memory (`4.746KB`, `52.676M`, `0.000B`) -> the number it stands for (0 when absent)."""
    if not text.strip():
        return 0
    m = _MEMORY.match(text.strip())
    if not m:
        raise ValueError(f"qacct: job {fields.get('jobnumber')}: not a memory size: {text!r}")
    return int(float(m[1]) * _UNITS[m[2].upper()])


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
