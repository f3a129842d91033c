"""`success_file`: a job completes only if it leaves that file in its working directory (the job-tree marker,
`qsub.finished.{id}`); exiting 0 without it fails it with the reason `no_finished_marker`, and its dependents are
skipped. Local node here (the check is one stat after the exit); SSH and cluster nodes in tests/integration."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ValidationError
from engine.executors.base import no_finished_marker
from engine.executors.wrapper import parse_exit_file, parse_exit_record
from engine.models import JobStatus, Reason
from tests.fixtures.engine import Rig


async def test_exit_0_with_the_file_completes(rig: Rig, tmp_path: Path) -> None:
    job = await rig.submit_one(
        ["sh", "-c", 'touch qsub.finished.3; test "$JOBTUI_SUCCESS_FILE" = qsub.finished.3'],
        workdir=str(tmp_path),
        success_file="qsub.finished.3",
    )
    await rig.wait_terminal(job.id)
    assert job.status == JobStatus.COMPLETED, job.message
    assert job.reason is None and job.exit_code == 0
    assert job.extra["success_file"] == "qsub.finished.3"


async def test_a_file_below_the_working_directory_counts(rig: Rig, tmp_path: Path) -> None:
    job = await rig.submit_one(
        ["sh", "-c", "mkdir -p out && touch out/done"], workdir=str(tmp_path), success_file="./out/done"
    )
    await rig.wait_terminal(job.id)
    assert job.status == JobStatus.COMPLETED, job.message


async def test_exit_0_without_the_file_fails_and_skips_its_dependent(rig: Rig, tmp_path: Path) -> None:
    parent, child = await rig.submit(
        {"command": ["true"], "key": "p", "name": "gw1", "workdir": str(tmp_path), "success_file": "qsub.finished.3"},
        {"command": ["true"], "after": ["p"], "name": "gw2"},
    )
    await rig.wait_terminal(child.id)
    assert parent.status == JobStatus.FAILED
    assert parent.reason == Reason.NO_FINISHED_MARKER and parent.exit_code == 0
    assert parent.message == f"exited 0 but qsub.finished.3 was not written in {tmp_path}"
    assert child.status == JobStatus.SKIPPED and child.reason == Reason.DEPENDENCY_FAILED
    assert child.attempts == 0
    (attempt,), _ = await rig.history(parent.id)  # as saved in the store
    assert (attempt.reason, attempt.exit_code, attempt.message) == ("no_finished_marker", 0, parent.message)


async def test_a_failed_exit_keeps_its_own_reason(rig: Rig, tmp_path: Path) -> None:
    """exit 1 is an exit-code failure whether or not the file is there: the marker is only asked of an exit 0."""
    job = await rig.submit_one(
        ["sh", "-c", "touch qsub.finished.1; exit 1"], workdir=str(tmp_path), success_file="qsub.finished.1"
    )
    await rig.wait_terminal(job.id)
    assert job.status == JobStatus.FAILED and job.reason == Reason.EXIT_CODE and job.exit_code == 1


async def test_a_missing_marker_is_retried_by_the_jobs_policy(rig: Rig, tmp_path: Path) -> None:
    """Like an exit-code failure: the second attempt writes the file (it counts its tries) and completes."""
    script = 'n=$(cat tries 2>/dev/null || echo 0); n=$((n+1)); echo $n >tries; [ "$n" -lt 2 ] || touch marker'
    job = await rig.submit_one(
        ["sh", "-c", script], workdir=str(tmp_path), success_file="marker", retries=1, retry_delay=0
    )
    await rig.wait_terminal(job.id)
    assert job.status == JobStatus.COMPLETED and job.attempts == 2
    attempts, _ = await rig.history(job.id)
    assert [a.reason for a in attempts] == ["no_finished_marker", None]


async def test_the_file_survives_a_restart_of_the_engine(engine_factory, state_dir: Path, tmp_path: Path) -> None:
    """Where to look is kept in the attempt's run directory: an engine started after the job ended still checks."""
    first = await engine_factory()
    job = await first.submit_one(["sleep", "0.6"], workdir=str(tmp_path), success_file="never")
    await first.wait_status(job.id, JobStatus.RUNNING)
    await first.engine.stop()
    second = await engine_factory()
    again = await second.wait_terminal(job.id)
    assert again.status == JobStatus.FAILED and again.reason == Reason.NO_FINISHED_MARKER
    assert again.extra["success_file"] == "never"  # persisted with the job


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/tmp/qsub.finished.1", "absolute"),
        ("~/done", "absolute"),
        ("../qsub.finished.1", "'..'"),
        ("out/../../x", "'..'"),
        ("done\x00", "NUL"),
        ("two\nlines", "line break"),
        ("", "names no file"),
        ("./", "names no file"),
        ("x" * 5000, "longer than"),
    ],
    ids=["absolute", "home", "up", "up-below", "nul", "newline", "empty", "dot", "long"],
)
async def test_bad_success_files_are_refused_with_nothing_stored(rig: Rig, path: str, why: str) -> None:
    with pytest.raises(ValidationError) as refused:
        await rig.submit_one(["true"], success_file=path)
    assert why in str(refused.value) and "success_file" in str(refused.value)
    assert list(rig.engine.jobs()) == []


async def test_an_http_job_has_no_success_file(rig: Rig) -> None:
    with pytest.raises(ValidationError, match="http job writes no files"):
        await rig.submit({"http": {"url": "https://example.org/"}, "success_file": "done"})


def test_exit_lines_with_and_without_the_marker() -> None:
    assert parse_exit_record(b"0\n") == (0, None)
    assert parse_exit_record(b"0 +\n") == (0, None)
    assert parse_exit_record(b"0 - /w/a b/qsub.finished.2\n") == (0, "/w/a b/qsub.finished.2")
    assert parse_exit_record(b"0 - /w/x") is None  # cut short: not yet written
    assert parse_exit_file(b"0 - /w/x\n") == 0 and parse_exit_file(b"7\n") == 7
    assert no_finished_marker("/w/./sub/done").message == "exited 0 but done was not written in /w/sub"


def test_submit_success_file_option_reaches_the_spec(tmp_path: Path) -> None:
    """`jobtui submit --success-file PATH -- CMD`: the option becomes the spec's `success_file`."""
    import argparse

    from engine.service.jobspec import JobSpec
    from tui.cli.job_verbs import _spec_from_args
    from tui.cli.verbs import _submit

    parser = argparse.ArgumentParser()
    _submit(parser)
    args = parser.parse_args(["--success-file", "qsub.finished.1", "--workdir", str(tmp_path), "--", "true"])
    spec = JobSpec.model_validate(_spec_from_args(args))
    assert spec.success_file == "qsub.finished.1" and spec.command == ["true"]
    assert JobSpec.model_validate(_spec_from_args(parser.parse_args(["--", "true"]))).success_file is None
