"""CPU time and peak memory read from the schedulers' accounting, and the batch that shares one query among
jobs that end together.

Slurm with slurmdbd is not run here (the suite's Slurm has none), so its sample is written by hand in
`sacct --parsable2 --noheader` format: the job's line with its TotalCPU, then its steps (batch, extern, a
srun step) with theirs and their MaxRSS in Slurm's K/M/G units. SGE samples are recorded from the real daemon
(tests/data/sge); PBS samples are the hand-written ones of tests/data/pbs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.executors.batch.pbs import PbsDialect
from engine.executors.batch.pbs_output import parse_qstat_full, parse_qstat_json, pbs_finished_records
from engine.executors.batch.records import FinishedRecord
from engine.executors.batch.sge import SgeDialect
from engine.executors.batch.sge_output import parse_qacct
from engine.executors.batch.slurm import SlurmDialect
from engine.executors.batch.slurm_output import parse_sacct, slurm_duration, slurm_memory
from engine.executors.batch.usage_batch import UsageBatch

DATA = Path(__file__).resolve().parents[1] / "data"
MB = 1 << 20

SACCT_WITH_DBD = """\
4101|jt-1-1-aaaaaaaaaaaaaaaa_burn|COMPLETED|0:0|00:01.834|
4101.batch|batch|COMPLETED|0:0|00:01.812|52340K
4101.extern|extern|COMPLETED|0:0|00:00.022|1.50M
4102|jt-2-1-bbbbbbbbbbbbbbbb_mpi|FAILED|1:0||
4102.batch|batch|FAILED|1:0|01:02.500|10436K
4102.0|python|COMPLETED|0:0|1-02:03:04|2.25G
4103|jt-3-1-cccccccccccccccc_pending|CANCELLED by 0|0:0||
"""


def test_sacct_usage_takes_the_job_total_or_the_sum_of_steps_and_the_largest_step():
    burn, mpi, pending = parse_sacct(SACCT_WITH_DBD)
    assert (burn.cpu_seconds, burn.peak_memory_bytes) == (1.834, 52340 * 1024)
    assert mpi.cpu_seconds == 62.5 + 93784 and mpi.peak_memory_bytes == int(2.25 * (1 << 30))
    assert mpi.state == "FAILED" and mpi.exit_code == 1
    assert (pending.cpu_seconds, pending.peak_memory_bytes) == (None, None)


def test_sacct_from_the_job_completion_file_has_no_usage():
    records = parse_sacct((DATA / "slurm" / "sacct_c.txt").read_text())  # recorded: TotalCPU, MaxRSS empty
    assert records and all(r.cpu_seconds is None and r.peak_memory_bytes is None for r in records)


@pytest.mark.parametrize(
    "text, seconds",
    [("00:00.512", 0.512), ("12:34", 754), ("1:02:03", 3723), ("2-01:00:00", 176400), ("", None)],
)
def test_slurm_durations(text, seconds):
    assert slurm_duration(text) == seconds


@pytest.mark.parametrize("text, size", [("0", 0), ("52340K", 52340 << 10), ("1.50M", 3 << 19), ("2G", 2 << 30)])
def test_slurm_memory_sizes(text, size):
    assert slurm_memory(text) == size


def test_garbage_usage_is_an_error_naming_the_line():
    with pytest.raises(ValueError, match="4101"):
        parse_sacct("4101|job|COMPLETED|0:0|soon|52340K\n")
    with pytest.raises(ValueError, match="memory"):
        slurm_memory("lots")


def test_qacct_usage_recorded_from_the_real_daemon():
    (trivial,) = parse_qacct((DATA / "sge" / "qacct_completed.txt").read_text())
    assert trivial.cpu_seconds == 0.007
    assert trivial.peak_memory_bytes == int(4.746 * 1024) * 1024  # ru_maxrss `4.746KB`: kilobytes printed as bytes
    (burn,) = parse_qacct((DATA / "sge" / "qacct_usage.txt").read_text())
    assert burn.cpu_seconds == 0.685  # the job of tests/integration/test_cluster_usage.py: 50 MB, 0.6 s CPU
    assert burn.peak_memory_bytes == int(57.934 * 1024) * 1024  # ru_maxrss, not maxvmem `59.746MB`


def test_qacct_falls_back_to_maxvmem_and_reads_unitless_cpu():
    text = "jobnumber 9\nfailed 0\nexit_status 0\ncpu 12.5\nru_maxrss 0.000B\nmaxvmem 1.500G\n"
    (record,) = parse_qacct(text)
    assert (record.cpu_seconds, record.peak_memory_bytes) == (12.5, 3 << 29)
    (nothing,) = parse_qacct("jobnumber 9\nfailed 0\nexit_status 0\nru_maxrss 0.000B\nmaxvmem 0.000B\n")
    assert (nothing.cpu_seconds, nothing.peak_memory_bytes) == (None, None)


def test_pbs_usage_from_history_and_torque():
    pro = {
        r.job_id: r
        for r in pbs_finished_records(
            parse_qstat_json((DATA / "pbs" / "qstat_xf_json_finished.json").read_text()), "pbspro"
        )
    }
    assert (pro["1240.pbs01"].cpu_seconds, pro["1240.pbs01"].peak_memory_bytes) == (1.0, 4512 << 10)
    assert (pro["1247.pbs01"].cpu_seconds, pro["1247.pbs01"].peak_memory_bytes) == (None, None)
    fields = {"Job Id": "5.t", "job_state": "C", "exit_status": "0", "resources_used.cput": "01:00:02"}
    (torque,) = pbs_finished_records(parse_qstat_full(_torque_block(fields, "resources_used.mem = 3gb")), "torque")
    assert (torque.cpu_seconds, torque.peak_memory_bytes) == (3602.0, 3 << 30)


def _torque_block(fields: dict[str, str], extra: str) -> str:
    lines = [f"Job Id: {fields['Job Id']}"] + [f"    {k} = {v}" for k, v in fields.items() if k != "Job Id"]
    return "\n".join([*lines, f"    {extra}"]) + "\n"


def test_each_dialect_asks_several_jobs_in_one_command():
    assert SlurmDialect(("-c",)).usage_argv(["7", "9"], 60)[-2:] == ["--jobs", "7,9"]
    assert PbsDialect("pbspro").usage_argv(["7.s", "9.s"], 60) == ["qstat", "-x", "-f", "-F", "json", "7.s", "9.s"]
    assert PbsDialect("torque").usage_argv(["7.s", "9.s"], 60) == ["qstat", "-f", "-1", "7.s", "9.s"]
    assert SgeDialect().usage_argv(["7"], 60) == ["qacct", "-j", "7"]
    assert SgeDialect().usage_argv(["7", "9"], 3 * 86400 + 5) == ["qacct", "-j", "jt-*", "-d", "4"]


async def test_jobs_ending_together_share_one_query_and_a_failure_gives_no_usage():
    asked: list[tuple[list[str], float]] = []

    async def query(job_ids: list[str], age: float) -> list[FinishedRecord]:
        asked.append((job_ids, age))
        return [FinishedRecord(j, "COMPLETED", 0, cpu_seconds=float(j)) for j in job_ids if j != "3"]

    batch = UsageBatch(query)
    one, two, three = await asyncio.gather(batch.record("1", 10), batch.record("2", 30), batch.record("3", 20))
    assert asked == [(["1", "2", "3"], 30)]
    assert (one and one.cpu_seconds, two and two.cpu_seconds, three) == (1.0, 2.0, None)

    async def down(job_ids: list[str], age: float) -> list[FinishedRecord]:
        raise RuntimeError("sacct: slurmdbd unreachable")

    assert await UsageBatch(down).record("4", 1) is None
