"""Parsers of scheduler output, on output recorded from the real daemons (tests/data/slurm, tests/data/sge)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.executors.batch.records import make_tag, parse_tag, slurm_reason
from engine.executors.batch.sge_output import parse_qacct, parse_qstat_xml, parse_qsub_id, sge_finished_state
from engine.executors.batch.slurm_output import (
    is_unknown_job_error,
    parse_sacct,
    parse_sbatch_id,
    parse_scontrol_job,
    parse_squeue,
    scontrol_record,
    slurm_is_active,
)
from engine.models import Reason

DATA = Path(__file__).resolve().parents[1] / "data"


def slurm(name: str) -> str:
    return (DATA / "slurm" / name).read_text()


def sge(name: str) -> str:
    return (DATA / "sge" / name).read_text()


def test_tag_round_trip_and_foreign_names():
    tag = make_tag(12, 3, "0123456789abcdef")
    assert parse_tag(tag) == (12, 3, "0123456789abcdef")
    assert parse_tag(tag + "_my_job") == (12, 3, "0123456789abcdef")
    assert parse_tag("other | name with spaces") is None
    assert parse_tag("jt-1-1-0123456789abcdefX") is None


def test_sbatch_id_is_parsed_strictly():
    assert parse_sbatch_id(slurm("sbatch_parsable.txt")) == "9"
    assert parse_sbatch_id("123;jobtui\n") == "123"  # the documented federation form
    for text in (slurm("sbatch_plain.txt"), slurm("sbatch_rejected.err"), "", "9\n10\n", "9 extra"):
        with pytest.raises(ValueError):
            parse_sbatch_id(text)


def test_squeue_mixed_states_and_a_name_holding_the_separator():
    entries = {e.job_id: e for e in parse_squeue(slurm("squeue_mixed.txt"))}
    assert entries["1"].state == "COMPLETED" and entries["1"].name == "jt-1-1-aaaaaaaaaaaaaaaa_ok"
    assert entries["5"].reason == "JobHeldUser" and slurm_is_active(entries["5"].state)
    assert entries["6"].name == "other | name with spaces"
    assert entries["7"].state == "PENDING" and entries["7"].reason == "Resources"
    assert not slurm_is_active(entries["2"].state)


def test_squeue_finished_states_map_to_reasons():
    entries = {e.job_id: e for e in parse_squeue(slurm("squeue_finished.txt"))}
    assert slurm_reason(entries["3"].state) == Reason.TIMEOUT
    assert slurm_reason(entries["4"].state) == Reason.CANCELLED
    assert slurm_reason(entries["2"].state) is None  # FAILED: judged by its exit code
    assert slurm_reason(entries["1"].state) is None


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("OUT_OF_MEMORY", Reason.OUT_OF_MEMORY),
        ("NODE_FAIL", Reason.NODE_FAILURE),
        ("PREEMPTED", Reason.PREEMPTED),
        ("CANCELLED by 0", Reason.CANCELLED),
        ("TIMEOUT", Reason.TIMEOUT),
        ("BOOT_FAIL", Reason.NODE_FAILURE),
    ],
)
def test_slurm_state_words(state, reason):
    assert slurm_reason(state) == reason
    assert not slurm_is_active(state)


def test_unknown_slurm_state_is_an_error_not_a_guess():
    with pytest.raises(ValueError):
        slurm_reason("SOMETHING_NEW")


def test_squeue_rejects_garbage():
    with pytest.raises(ValueError):
        parse_squeue(slurm("squeue_down.err"))


def test_sacct_from_the_job_completion_file():
    records = {r.job_id: r for r in parse_sacct(slurm("sacct_c.txt"))}
    assert records["2"].state == "FAILED" and records["2"].exit_code == 3
    assert records["3"].state == "TIMEOUT" and records["3"].name == "jt-3-1-cccccccccccccccc_timeout"
    assert records["4"].state == "CANCELLED"
    assert records["6"].state == ""  # filetxt mangles names with spaces; the record is kept, state unknown


def test_sacct_skips_steps_and_reads_signals():
    text = "7|job|CANCELLED by 0|0:15||\n7.batch|batch|CANCELLED|0:15||\n"
    (record,) = parse_sacct(text)
    assert record.state == "CANCELLED" and record.signal == 15


def test_scontrol_records():
    failed = scontrol_record(parse_scontrol_job(slurm("scontrol_failed.txt")))
    assert (failed.state, failed.exit_code, failed.name) == ("FAILED", 3, "jt-2-1-bbbbbbbbbbbbbbbb_fail")
    timeout = scontrol_record(parse_scontrol_job(slurm("scontrol_timeout.txt")))
    assert timeout.state == "TIMEOUT" and timeout.signal == 15 and timeout.detail == "TimeLimit"
    fields = parse_scontrol_job(slurm("scontrol_pending.txt"))
    assert fields["JobState"] == "PENDING" and fields["Reason"] == "Resources"
    assert is_unknown_job_error(slurm("scontrol_invalid.err"))
    assert is_unknown_job_error(slurm("squeue_invalid.err"))


def test_qsub_ids():
    assert parse_qsub_id(sge("qsub_terse.txt")) == "1"
    assert parse_qsub_id(sge("qsub_terse_array.txt")) == "7"
    for text in (sge("qsub_plain.txt"), sge("qsub_bad_queue.err"), ""):
        with pytest.raises(ValueError):
            parse_qsub_id(text)


def test_qstat_xml():
    entries = {e.job_id: e for e in parse_qstat_xml(sge("qstat_xml_mixed.xml"))}
    assert entries["3"].name == "jt-3-1-cccccccccccccccc_timeout" and entries["3"].state == "r"
    assert entries["5"].state == "hqw" and entries["5"].reason == "pending"
    assert entries["8"].state == "t"
    assert parse_qstat_xml(sge("qstat_xml_empty.xml")) == []
    with pytest.raises(ValueError):
        parse_qstat_xml(sge("qstat_down.err"))


def test_qacct_records_map_to_states():
    (ok,) = parse_qacct(sge("qacct_completed.txt"))
    (failed,) = parse_qacct(sge("qacct_failed.txt"))
    (timeout,) = parse_qacct(sge("qacct_timeout.txt"))
    (cancelled,) = parse_qacct(sge("qacct_cancelled.txt"))
    assert (ok.state, ok.exit_code) == ("COMPLETED", 0)
    assert (failed.state, failed.exit_code) == ("FAILED", 3)
    assert timeout.state == "TIMEOUT" and slurm_reason(timeout.state) == Reason.TIMEOUT and timeout.signal == 9
    assert cancelled.state == "CANCELLED" and cancelled.name == "jt-4-1-dddddddddddddddd_cancel"
    assert parse_qacct("") == []
    assert sge_finished_state(1, 0, "assumedly before job") == "NODE_FAIL"


def test_qacct_rejects_a_record_without_its_fields():
    with pytest.raises(ValueError):
        parse_qacct("==============\nqname all.q\n")
