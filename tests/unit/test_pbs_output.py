"""PBS parsers (PBS Pro / OpenPBS and Torque), on hand-written samples in the documented formats (tests/data/pbs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.executors.batch.pbs_output import (
    exit_status,
    hms_seconds,
    is_unknown_pbs_job,
    parse_pbs_qsub_id,
    parse_qstat_full,
    parse_qstat_json,
    pbs_entries,
    pbs_finished_records,
    pbs_finished_state,
    pbs_record,
)
from engine.executors.batch.records import parse_tag, slurm_reason
from engine.models import Reason

DATA = Path(__file__).resolve().parents[1] / "data" / "pbs"


def pbs(name: str) -> str:
    return (DATA / name).read_text()


def test_qsub_ids_are_parsed_strictly():
    assert parse_pbs_qsub_id(pbs("qsub.txt")) == "1234.pbs01"
    assert parse_pbs_qsub_id(pbs("qsub_torque.txt")) == "5678.torque01.example.org"
    assert parse_pbs_qsub_id("77[].pbs01\n") == "77[].pbs01"  # an array, as PBS prints it
    bad = (
        pbs("qsub_rejected.err"),
        "",
        "1234\n",
        "1234.pbs01\n1235.pbs01\n",
        "Job 1234.pbs01 submitted",
        "1234.pbs01 extra",
        ".pbs01",
        "abc.pbs01",
    )
    for text in bad:
        with pytest.raises(ValueError):
            parse_pbs_qsub_id(text)


def test_json_listing_keeps_the_users_jobs_with_their_states():
    records = parse_qstat_json(pbs("qstat_f_json_mixed.json"))
    assert len(records) == 5
    entries = {e.job_id: e for e in pbs_entries(records, "ann")}
    assert set(entries) == {"1234.pbs01", "1235.pbs01", "1237.pbs01", "1238.pbs01"}  # bob's 1236 left out
    assert entries["1234.pbs01"].state == "Q" and entries["1234.pbs01"].reason.startswith("Not Running")
    assert parse_tag(entries["1235.pbs01"].name) == (2, 1, "bbbbbbbbbbbbbbbb")
    assert entries["1237.pbs01"].state == "H" and entries["1238.pbs01"].state == "E"
    assert len(pbs_entries(records)) == 5  # no user: every job


def test_json_records_are_flat():
    (queued, running, *_) = parse_qstat_json(pbs("qstat_f_json_mixed.json"))
    assert queued["Resource_List.select"] == "1:ncpus=4:mem=4096mb"
    assert queued["Variable_List.PBS_O_WORKDIR"] == "/home/ann"
    assert running["resources_used.walltime"] == "00:10:02" and running["substate"] == "42"


def test_json_listing_without_jobs_and_garbage():
    assert parse_qstat_json(pbs("qstat_f_json_empty.json")) == []
    for text in (pbs("qstat_down.err"), "", "[]", '{"other": 1}', '{"Jobs": []}', '{"Jobs": {"x": {}}}'):
        with pytest.raises(ValueError):
            parse_qstat_json(text)


def test_text_listing_joins_wrapped_values():
    records = {r["Job Id"]: r for r in parse_qstat_full(pbs("qstat_f_pbspro.txt"))}
    assert records["1234.pbs01"]["Variable_List"].endswith(
        "PBS_O_WORKDIR=/home/ann,PBS_O_SYSTEM=Linux,PBS_O_QUEUE=workq,PBS_O_HOST=login01.example.org"
    )
    assert records["1234.pbs01"]["comment"].endswith("(R: 4 A: 2 T: 64)")
    assert records["1234.pbs01"]["Submit_arguments"] == ""
    assert records["1235.pbs01"]["Job_Name"] == "jt-2-1-bbbbbbbbbbbbbbbb_a_long_readable_name_that_is_wrapped_by_qstat"
    entries = pbs_entries(list(records.values()), "ann")
    assert [(e.job_id, e.state) for e in entries] == [("1234.pbs01", "Q"), ("1235.pbs01", "R")]


def test_torque_listing():
    records = parse_qstat_full(pbs("qstat_f1_torque.txt"))
    entries = {e.job_id.split(".")[0]: e.state for e in pbs_entries(records, "ann")}
    assert entries == {"5678": "Q", "5679": "R", "5680": "C", "5681": "C", "5682": "C", "5683": "C"}
    assert parse_qstat_full("") == []


@pytest.mark.parametrize(
    "text",
    [
        "garbage\n",
        "    job_state = R\n",
        "Job Id: 1.s\n    two words = x\n",
        "Job Id: not-an-id\n",
        "Job Id: 1.s\nno indent = x\n",
        "\tcontinued\n",
    ],
)
def test_text_listing_rejects_what_it_does_not_know(text):
    with pytest.raises(ValueError):
        parse_qstat_full(text)


def test_unknown_job_state_is_an_error():
    with pytest.raises(ValueError):
        pbs_entries([{"Job Id": "1.s", "job_state": "Z", "Job_Owner": "ann@h"}], "ann")
    with pytest.raises(ValueError):
        pbs_entries([{"Job Id": "1.s", "job_state": "RQ", "Job_Owner": "ann@h"}], "ann")


def test_pbspro_history_maps_to_states_and_reasons():
    records = pbs_finished_records(parse_qstat_json(pbs("qstat_xf_json_finished.json")), "pbspro")
    by_id = {r.job_id.split(".")[0]: r for r in records}
    assert "1249" not in by_id  # still running: not a finished record
    want = {
        "1240": ("COMPLETED", None),
        "1241": ("FAILED", None),
        "1242": ("TIMEOUT", Reason.TIMEOUT),
        "1243": ("CANCELLED", Reason.CANCELLED),
        "1244": ("CANCELLED", Reason.CANCELLED),
        "1245": ("OUT_OF_MEMORY", Reason.OUT_OF_MEMORY),
        "1246": ("FAILED", None),
        "1247": ("TIMEOUT", Reason.TIMEOUT),
        "1248": ("NODE_FAIL", Reason.NODE_FAILURE),
    }
    for job, (state, reason) in want.items():
        assert by_id[job].state == state, job
        assert slurm_reason(by_id[job].state) == reason, job
    assert by_id["1241"].exit_code == 3 and by_id["1240"].exit_code == 0
    assert by_id["1246"].signal == 9 and by_id["1246"].exit_code == 137
    assert "JOB_EXEC_KILL_WALLTIME" in by_id["1242"].detail
    assert by_id["1244"].exit_code is None and by_id["1243"].name == "jt-13-1-dddddddddddddddd_cancel"


def test_torque_completed_jobs_map_to_states():
    records = pbs_finished_records(parse_qstat_full(pbs("qstat_f1_torque.txt")), "torque")
    by_id = {r.job_id.split(".")[0]: r for r in records}
    assert set(by_id) == {"5680", "5681", "5682", "5683"}
    assert by_id["5680"].state == "COMPLETED"
    assert by_id["5681"].state == "TIMEOUT" and "OVERLIMIT_WT" in by_id["5681"].detail
    assert by_id["5682"].state == "FAILED" and by_id["5682"].signal == 15  # 271 before its walltime: SIGTERM
    assert by_id["5683"].state == "TIMEOUT" and by_id["5683"].signal == 9  # 265 at its walltime


@pytest.mark.parametrize(
    ("code", "flavor", "state", "signal"),
    [
        (0, "pbspro", "COMPLETED", None),
        (1, "torque", "FAILED", None),
        (143, "pbspro", "FAILED", 15),
        (254, "pbspro", "NODE_FAIL", None),
        (271, "pbspro", "FAILED", 15),
        (-29, "pbspro", "TIMEOUT", None),
        (-29, "torque", "NODE_FAIL", None),
        (-11, "torque", "TIMEOUT", None),
        (-11, "pbspro", "NODE_FAIL", None),
        (-10, "torque", "OUT_OF_MEMORY", None),
        (-26, "pbspro", "OUT_OF_MEMORY", None),
        (-25, "pbspro", "FAILED", None),
        (-1, "pbspro", "NODE_FAIL", None),
        (None, "torque", "CANCELLED", None),
    ],
)
def test_exit_status_conventions(code, flavor, state, signal):
    got_state, got_signal, _ = pbs_finished_state(code, flavor, {})
    assert (got_state, got_signal) == (state, signal)


def test_deleted_outranks_the_exit_code_but_not_a_named_limit():
    assert pbs_finished_state(0, "pbspro", {"substate": "91"})[0] == "CANCELLED"
    assert pbs_finished_state(-29, "pbspro", {"substate": "91"})[0] == "TIMEOUT"
    assert pbs_finished_state(0, "torque", {"substate": "91"})[0] == "COMPLETED"  # Torque's substates differ


def test_exit_status_fields():
    assert exit_status({"Job Id": "1.s", "Exit_status": "-29"}) == -29
    assert exit_status({"Job Id": "1.s", "exit_status": "0"}) == 0
    assert exit_status({"Job Id": "1.s"}) is None
    with pytest.raises(ValueError):
        exit_status({"Job Id": "1.s", "Exit_status": "ok"})
    record = pbs_record({"Job Id": "1.s", "job_state": "F", "Exit_status": "2", "Job_Name": "n"}, "pbspro")
    assert (record.state, record.exit_code, record.name) == ("FAILED", 2, "n")


def test_durations_and_unknown_jobs():
    assert hms_seconds("01:02:03") == 3723 and hms_seconds("05:00") == 300 and hms_seconds("42") == 42
    with pytest.raises(ValueError):
        hms_seconds("1:2:3:4")
    assert is_unknown_pbs_job(pbs("qstat_unknown.err"))
    assert not is_unknown_pbs_job(pbs("qstat_down.err"))
