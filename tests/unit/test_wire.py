"""The wire contract's pure parts: one row schema from a record or a job, JSON-safe shapes, and the ways a
stream's size is read with its bytes (a local file, the SSH read script, a cluster's run files)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import pytest

from engine.errors import ValidationError
from engine.executors import ssh_scripts as scripts
from engine.executors.base import Output, read_file
from engine.executors.batch.run_files import LocalFiles, RemoteFiles
from engine.models import Actor, Job, JobStatus, Progress, Reason
from engine.service.auth import ROLES_FOR, capabilities
from engine.testing import FakeRunner
from engine.wire import (
    CAPABILITIES,
    ROW_COLUMNS,
    JobRow,
    check_columns,
    gpu_holders_of,
    me_result,
    node_record,
    record_row,
    row_from_record,
    row_from_values,
    snapshot_result,
    table_row,
    wait_result,
)


def job(i: int, status: JobStatus = JobStatus.RUNNING) -> Job:
    return Job(
        id=i,
        name=f"job-{i}",
        command=["true"],
        user="ann",
        team="ml",
        status=status,
        reason=Reason.EXIT_CODE if status == JobStatus.FAILED else None,
        node="n1",
        attempts=2,
        progress=Progress(percent=42.0, step=3, total=7, text="epoch 3", eta_seconds=12.5),
        tags=["a", "b"],
        created_at=100.0,
        started_at=110.0,
    )


def test_a_job_and_its_record_make_the_same_row() -> None:
    for status in (JobStatus.RUNNING, JobStatus.FAILED, JobStatus.WAITING):
        j = job(7, status)
        assert len(table_row(j)) == len(ROW_COLUMNS)
        assert table_row(j) == record_row(j.to_dict()) == record_row(orjson.loads(orjson.dumps(j.to_dict())))
        row = row_from_values(orjson.loads(orjson.dumps(table_row(j))))
        assert row == row_from_record(j.to_dict())
        assert isinstance(row, JobRow) and row.tags == ("a", "b") and row.status == status.value
    check_columns(list(ROW_COLUMNS))
    with pytest.raises(ValidationError, match="columns differ"):
        check_columns([*ROW_COLUMNS, "extra"])


def test_answers_are_plain_json_with_string_keys() -> None:
    node = node_record(
        name="n1", kind="local", cores=8, used_cores=2, mem_mb=1024, used_mem_mb=0, running=1, reachable=True,
        labels={"site": "a"}, gpu_holders={1: 9, 0: 4},
    )  # fmt: skip
    assert node["gpu_holders"] == {"0": 4, "1": 9} and gpu_holders_of(node) == {0: 4, 1: 9}
    snap = snapshot_result(
        instance="x", seq=3, total=1, jobs=[job(1)], view="rows", limits=dict.fromkeys(
            ("max_concurrent", "user_max_concurrent", "team_max_concurrent"), 2) | {"fair_share": False},
        nodes=[node],
    )  # fmt: skip
    assert orjson.loads(orjson.dumps(snap)) == snap  # what crosses the socket is what stays in the process
    with pytest.raises(ValidationError, match="unknown snapshot view"):
        snapshot_result(instance="x", seq=0, total=0, jobs=[], view="wide", limits=snap["limits"], nodes=[])
    waited = wait_result(False, {5, 2}, {5: "running", 2: "waiting"}, [7])
    assert waited == {"done": False, "pending": [2, 5], "statuses": {"2": "waiting", "5": "running"}, "blocked": [7]}
    assert orjson.loads(orjson.dumps(waited)) == waited


def test_capabilities_name_every_rule_and_me_reports_them() -> None:
    assert tuple(ROLES_FOR) == CAPABILITIES
    me = me_result(Actor("lee", "lead", "ml"), [], [], 0, None, capabilities(Actor("lee", "lead", "ml")))
    assert [k for k, v in me["capabilities"].items() if v] == ["submit", "cancel_own", "priority", "requeue"]
    assert not any(capabilities(Actor("vic", "viewer")).values())
    assert all(capabilities(Actor("root", "admin")).values())


def test_a_local_file_is_read_with_its_size(tmp_path: Path) -> None:
    path = tmp_path / "stdout"
    path.write_bytes(b"hello world\n")
    assert read_file(str(path), 6, 3) == Output(b"wor", 12)
    assert read_file(str(path), 50, 3) == Output(b"", 12)
    assert read_file(str(tmp_path / "missing"), 0, 3) == Output(b"", 0)


async def test_run_files_read_with_their_size_here_and_through_a_runner(tmp_path: Path) -> None:
    path = tmp_path / "run dir" / "stdout"
    path.parent.mkdir()
    path.write_bytes(bytes(range(256)) * 4)  # not text: base64 must carry it intact

    def run_here(argv: list[str]) -> tuple[int, str, str]:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return done.returncode, done.stdout, done.stderr

    remote = RemoteFiles(FakeRunner(run_here))
    for files in (LocalFiles(), remote):
        assert await files.read_sized(str(path), 1000, 100) == Output(path.read_bytes()[1000:1024], 1024)
        assert await files.read_sized(str(path), 0, 5) == Output(bytes(range(5)), 1024)
        assert await files.read_sized(str(path), 2000, 5) == Output(b"", 1024)
        assert await files.read_sized(str(path.parent / "absent"), 0, 5) == Output(b"", 0)


def test_the_ssh_read_script_prints_the_size_then_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "a file"
    path.write_bytes(b"0123456789")

    def read(offset: int, limit: int, target: Path = path) -> tuple[bytes, int]:
        argv = ["/bin/sh", "-c", scripts.READ_SIZED, "jobtui-read", str(target), str(offset + 1), str(limit)]
        done = subprocess.run(argv, capture_output=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return scripts.parse_sized_read(done.stdout, offset)

    assert read(0, 4) == (b"0123", 10)
    assert read(8, 100) == (b"89", 10)
    assert read(10, 5) == (b"", 10)
    assert read(20, 5) == (b"", 10)
    assert read(0, 5, tmp_path / "absent") == (b"", 0)


class _HereHost:
    """Stands in for an `SshHost`: runs each command on this machine, and counts the round trips."""

    where = "here"

    def __init__(self) -> None:
        self.runs: list[list[str]] = []

    async def run(self, argv: list[str], timeout: float | None = None) -> tuple[int, bytes, bytes]:
        self.runs.append(argv)
        done = subprocess.run(argv, capture_output=True, timeout=30)
        return done.returncode, done.stdout, done.stderr


async def test_the_ssh_executor_reads_a_size_with_the_bytes_in_one_round_trip(tmp_path: Path) -> None:
    from engine.config import SshNode
    from engine.executors.ssh import SshExecutor
    from engine.models import Attempt

    executor = SshExecutor(SshNode(name="n1", kind="ssh", host="n1.invalid", work_root=str(tmp_path)), tmp_path)
    host = _HereHost()
    executor.host = host  # type: ignore[assignment]
    executor.use_agent = False  # the sh scripts' path (a node without the agent): this host only runs commands
    run_dir = tmp_path / "runs" / "1" / "1"
    run_dir.mkdir(parents=True)
    (run_dir / "stdout").write_bytes(b"0123456789")
    attempt = Attempt(1, 1, "n1", str(run_dir), "token")

    assert await executor.read_sized(attempt, "stdout", 2, 3) == Output(b"234", 10)
    assert len(host.runs) == 1  # the size came with the bytes
    assert await executor.read_sized(attempt, "stderr", 0, 3) == Output(b"", 0)
    executor._sizes[str(run_dir / "stdout")] = 10  # what a poll reported: the bytes are read as before
    assert await executor.read_sized(attempt, "stdout", 8, 5) == Output(b"89", 10)
    assert host.runs[-1][2] == scripts.READ
