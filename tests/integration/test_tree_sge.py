"""`jobtui tree` on a real single-node Grid Engine reached through the real sshd of the suite (`via:` an ssh node
for the test user), driven by a real `jobtui --serve` and its CLI: the run directory staged with rsync to the
node's work root, an ecalj-like tree of 3 materials x (lda -> gw1 -> gw2) filling in its placeholders, one gw1
exiting 0 without its marker, `--max-queued 2` checked against `qstat` all along, one directory stopped mid-way,
and only the `--results` files, the markers and the jobs' output brought back. Then an SSH node without a cluster,
staged by the SFTP fallback (no rsync on this side)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.clusters import RealCluster
from tests.fixtures.engine import Daemon
from tests.fixtures.sshd import TEST_USER, Sshd
from tests.waiting import wait_for_sync

pytestmark = [pytest.mark.sge, pytest.mark.sshd, pytest.mark.timeout(300)]

STEPS = ("0", "1", "2")  # lda, gw1, gw2
SCRIPT = (
    'echo "{id} bin=__binpath__ np=__maxcore__" >>runs.log\n'
    "echo result {id} >step{id}.dat\n"
    "echo scratch >scratch{id}.tmp\n"
    "echo out of {id}\n"
    "{body}"
    "{marker}"
)


def make_tree(root: Path, bodies: dict[str, dict[str, str]], no_marker: frozenset[str] = frozenset()) -> Path:
    """bodies: {material: {step: shell lines before the marker}}; each step waits for the one before; the
    `MATERIAL/STEP` of `no_marker` exits 0 without writing its marker."""
    for material, extra in bodies.items():
        where = root / material
        where.mkdir(parents=True)
        (where / "POSCAR").write_text(f"{material}\n")
        for n, step in enumerate(STEPS):
            marker = "" if f"{material}/{step}" in no_marker else f"touch qsub.finished.{step}\n"
            (where / f"qsub.{step}").write_text(SCRIPT.format(id=step, body=extra.get(step, ""), marker=marker))
            (where / f"qsub.dependency.{step}").write_text(f"qsub.finished.{STEPS[n - 1]}\n" if n else "")
    return root


def daemon_config(path: Path, sshd: Sshd, work_root: str, **cluster: Any) -> Path:
    login = sshd.node("login", work_root=work_root).model_dump(mode="json", exclude_none=True)
    nodes: list[dict[str, Any]] = [login]
    if cluster:
        nodes.append({"name": "sge", "kind": "sge", "via": "login", "work_root": f"{work_root}/cluster", **cluster})
    limits = {"max_concurrent": 10, "user_max_concurrent": 10, "team_max_concurrent": 10}
    path.write_text(json.dumps({"limits": limits, "nodes": nodes}))  # JSON is YAML
    return path


def status(cli: Daemon, run: Path) -> dict[str, dict[str, str]]:
    """{directory: {script: state}} from `tree status --json` (which also brings results back)."""
    out: dict[str, dict[str, str]] = {}
    for job in cli.cli_json("tree", "status", str(run))["jobs"]:
        out.setdefault(job["directory"], {})[job["script"]] = job["state"]
    return out


def wait_states(cli: Daemon, run: Path, want: dict[str, dict[str, str]], timeout: float = 120.0) -> None:
    def reached() -> bool:
        now = status(cli, run)
        return all(now.get(d, {}).get(s) == state for d, states in want.items() for s, state in states.items())

    wait_for_sync(reached, timeout, lambda: f"tree states {want}; now {status(cli, run)}", step=0.5)


class QueueSampler:
    """Counts the test user's jobs in SGE (queued or running) with `qstat`, again and again, in a thread."""

    def __init__(self, cluster: RealCluster) -> None:
        self.cluster = cluster
        self.seen: list[int] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                out = self.cluster.command(["qstat", "-u", TEST_USER, "-r"])
            except RuntimeError as e:
                self.errors.append(str(e))
            else:
                self.seen.append(sum(1 for line in out.splitlines() if "Full jobname:" in line))
            self._stop.wait(0.2)  # this observer's sampling period, not a wait for anything

    def __enter__(self) -> QueueSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def tree_daemon(tmp_path: Path, sshd_server: Sshd, sge_cluster: RealCluster):
    work_root = f"~/.jobtui-test/tree-{uuid.uuid4().hex[:8]}"
    config = daemon_config(tmp_path / "config.yaml", sshd_server, work_root, poll_interval=0.5, lost_grace=10.0)
    daemon = Daemon(tmp_path / "state", config).start()
    yield daemon
    daemon.cleanup()


def home() -> Path:
    return Path(pwd.getpwnam(TEST_USER).pw_dir)


def test_a_tree_staged_through_sshd_runs_on_sge_with_its_cap_a_stop_and_results_back(
    tree_daemon: Daemon, sge_cluster: RealCluster, tmp_path: Path
) -> None:
    cli = tree_daemon
    src = make_tree(
        tmp_path / "init", {"Si": {}, "GaAs": {}, "NiO": {"1": "sleep 60\n"}}, no_marker=frozenset({"GaAs/1"})
    )
    sets = ["--set", "binpath=/opt/ecalj/bin", "--set", "maxcore=4"]
    with QueueSampler(sge_cluster) as sampler:
        out = cli.cli_json(
            "tree", "init", str(src), "--node", "sge", "--name", "camp", *sets,
            "--results", "*.dat", "--max-queued", "2",
        )  # fmt: skip
        run = Path(out["run_dir"])
        state = json.loads((run / "tree.json").read_text())
        remote = Path(state["remote_dir"])
        assert state["staged_by"] == "rsync"
        # <the cluster's work_root>/trees/<run dir name> on the login node
        assert remote == home() / ".jobtui-test" / remote.parts[-4] / "cluster" / "trees" / run.name
        # the copy on the node is the filled-in run directory, owned by the node's user
        assert (remote / "Si" / "qsub.0").read_text() == (run / "Si" / "qsub.0").read_text()
        assert "bin=/opt/ecalj/bin np=4" in (remote / "Si" / "qsub.0").read_text()
        assert (remote / "NiO" / "POSCAR").stat().st_uid == pwd.getpwnam(TEST_USER).pw_uid

        wait_states(cli, run, {"NiO": {"qsub.0": "done", "qsub.1": "running"}})
        stopped = cli.cli("tree", "stop", str(run / "NiO"))
        assert stopped.returncode == 0, stopped.stderr
        final = {
            "Si": {f"qsub.{s}": "done" for s in STEPS},
            "GaAs": {"qsub.0": "done", "qsub.1": "failed", "qsub.2": "stopped"},
            "NiO": {"qsub.0": "done", "qsub.1": "stopped", "qsub.2": "stopped"},
        }
        wait_states(cli, run, final, timeout=180)
    assert not sampler.errors, sampler.errors[:3]
    assert len(sampler.seen) > 20 and max(sampler.seen) == 2, sampler.seen  # the cap, reached, never passed

    jobs = {job["key"]: job for job in cli.cli_json("tree", "status", str(run))["jobs"]}
    assert jobs["GaAs/1"]["reason"] == "no_finished_marker", jobs["GaAs/1"]
    assert jobs["GaAs/2"]["status"] == "skipped" and jobs["NiO/2"]["status"] in ("cancelled", "skipped")
    ran = (remote / "GaAs" / "runs.log").read_text().split()
    assert ran[::3] == ["0", "1"]  # gw2 never started
    assert (remote / "Si" / "runs.log").read_text().splitlines()[2] == "2 bin=/opt/ecalj/bin np=4"

    # results back: the *.dat files, the markers and the output; nothing else; nothing local deleted
    (run / "Si" / "notes.txt").write_text("mine\n")
    cli.cli_json("tree", "sync", str(run))
    for step in STEPS:
        assert (run / "Si" / f"step{step}.dat").read_text() == f"result {step}\n"
        assert (run / "Si" / f"qsub.finished.{step}").exists()
        assert (run / "Si" / f"jobtui.{step}.stdout").read_text() == f"out of {step}\n"
        assert not (run / "Si" / f"scratch{step}.tmp").exists() and (remote / "Si" / f"scratch{step}.tmp").exists()
    assert (run / "GaAs" / "step1.dat").exists() and not (run / "GaAs" / "qsub.finished.1").exists()
    assert not (run / "GaAs" / "step2.dat").exists() and not (run / "GaAs" / "runs.log").exists()
    assert (run / "NiO" / "qsub.finished.0").exists() and not (run / "NiO" / "qsub.finished.1").exists()
    assert (run / "Si" / "notes.txt").read_text() == "mine\n" and (run / "Si" / "POSCAR").read_text() == "Si\n"
    local = sorted(p.name for p in (run / "Si").iterdir())
    kinds = ("qsub.{}", "qsub.dependency.{}", "qsub.finished.{}", "step{}.dat", "jobtui.{}.stdout")
    assert set(local) == {"POSCAR", "notes.txt", *(k.format(s) for k in kinds for s in STEPS)}, local
    again = cli.cli_json("tree", "sync", str(run))
    assert again["jobs"] == [] and again["fetched"] == []  # every ended job was brought back once


def test_a_tree_on_an_ssh_node_is_staged_by_sftp_without_rsync(
    tmp_path: Path, sshd_server: Sshd, request: pytest.FixtureRequest
) -> None:
    config = daemon_config(tmp_path / "config.yaml", sshd_server, f"~/.jobtui-test/tree-{uuid.uuid4().hex[:8]}")
    cli = Daemon(tmp_path / "state", config).start()
    request.addfinalizer(cli.cleanup)
    src = make_tree(tmp_path / "init", {"Si": {}, "GaAs": {}}, no_marker=frozenset({"GaAs/2"}))
    bare = tmp_path / "bin"  # a PATH with ssh but no rsync: the CLI falls back to the SFTP transfer
    bare.mkdir()
    (bare / "ssh").symlink_to("/usr/bin/ssh")
    env = {**cli.env, "PATH": str(bare)}

    argv = cli.argv("--json", "tree", "init", str(src), "--node", "login", "--results", "step*.dat,POSCAR")
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    run = Path(json.loads(done.stdout)["run_dir"])
    state = json.loads((run / "tree.json").read_text())
    assert state["staged_by"] == "sftp" and Path(state["remote_dir"]).is_relative_to(home())
    remote = Path(state["remote_dir"])
    wait_states(cli, run, {"Si": {f"qsub.{s}": "done" for s in STEPS}, "GaAs": {"qsub.2": "failed"}}, timeout=60)
    assert (remote / "Si" / "runs.log").exists() and os.stat(remote / "Si" / "runs.log").st_uid != 0
    assert [(run / "Si" / f"step{s}.dat").read_text() for s in STEPS] == [f"result {s}\n" for s in STEPS]
    assert (run / "GaAs" / "step2.dat").exists() and not (run / "GaAs" / "qsub.finished.2").exists()
    assert not (run / "Si" / "runs.log").exists() and not (run / "Si" / "scratch0.tmp").exists()
    assert (run / "GaAs" / "jobtui.2.stdout").read_text() == "out of 2\n"

    # a step added to Si: `resume` copies it to the node (rsync now, newer files there kept) and runs only it
    (run / "Si" / "qsub.3").write_text(SCRIPT.format(id="3", body="", marker="touch qsub.finished.3\n"))
    (run / "Si" / "qsub.dependency.3").write_text("qsub.finished.2\n")
    resumed = cli.cli_json("tree", "resume", str(run))
    assert resumed["submitted"] == 1 and resumed["requeued"] == []
    assert json.loads((run / "tree.json").read_text())["staged_by"] == "rsync"
    wait_states(cli, run, {"Si": {"qsub.3": "done"}}, timeout=60)
    assert (run / "Si" / "step3.dat").read_text() == "result 3\n" and (run / "Si" / "qsub.finished.3").exists()
    assert (remote / "Si" / "runs.log").read_text().split()[::3] == ["0", "1", "2", "3"]  # nothing ran twice


def states_no_sync(cli: Daemon, run: Path) -> dict[str, dict[str, str]]:
    """{directory: {script: state}} from `tree status --no-sync --json`: nothing brought back by the CLI."""
    out: dict[str, dict[str, str]] = {}
    for job in cli.cli_json("tree", "status", "--no-sync", str(run))["jobs"]:
        out.setdefault(job["directory"], {})[job["script"]] = job["state"]
    return out


def test_a_file_dependency_on_sge_and_results_back_as_each_job_ends(
    tree_daemon: Daemon, sge_cluster: RealCluster, tmp_path: Path
) -> None:
    """Si's gw waits for a file its lda writes (rst/chg.dat: not a marker, so no edge), looked for by the cluster
    poller; every job's `--results` files, markers and output come back by the engine as it ends (GaAs's lda
    fails: its results come back too), with no `tree sync` and no syncing `tree status`, and nothing else does."""
    cli = tree_daemon
    src = tmp_path / "init"
    si, gaas = src / "Si", src / "GaAs"
    for where in (si, gaas):
        where.mkdir(parents=True)
        (where / "POSCAR").write_text(f"{where.name}\n")
    lda = "echo 0 >>runs.log\nsleep 2\nmkdir -p rst\necho chg >rst/chg.dat\necho result 0 >step0.dat\n"
    (si / "qsub.0").write_text(lda + "echo scratch >scratch0.tmp\necho out of 0\ntouch qsub.finished.0\n")
    (si / "qsub.dependency.0").write_text("")
    gw = "echo 1 >>runs.log\ncat rst/chg.dat >step1.dat\necho scratch >scratch1.tmp\necho out of 1\n"
    (si / "qsub.1").write_text(gw + "touch qsub.finished.1\n")
    (si / "qsub.dependency.1").write_text("rst/chg.dat\n")  # the file alone: no qsub.finished.0
    (gaas / "qsub.0").write_text("echo result 0 >step0.dat\necho scratch >scratch0.tmp\necho broken >&2\nexit 3\n")
    (gaas / "qsub.dependency.0").write_text("")

    out = cli.cli_json("tree", "init", str(src), "--node", "sge", "--name", "files", "--results", "*.dat")
    run = Path(out["run_dir"])
    remote = Path(json.loads((run / "tree.json").read_text())["remote_dir"])
    jobs = {job["key"]: job for job in cli.cli_json("tree", "status", "--no-sync", str(run))["jobs"]}
    gw_id = jobs["Si/1"]["id"]

    def gw_events() -> dict[str, str]:
        return {e["kind"]: e["message"] for e in cli.get(f"/api/jobs/{gw_id}").json()["events"]}

    wait_for_sync(lambda: "waiting_for_files" in gw_events(), 60, lambda: f"Si/qsub.1 to wait: {gw_events()}")
    assert gw_events()["waiting_for_files"] == f"waiting for rst/chg.dat in {remote / 'Si'}"
    final = {"Si": {"qsub.0": "done", "qsub.1": "done"}, "GaAs": {"qsub.0": "failed"}}
    wait_for_sync(
        lambda: states_no_sync(cli, run) == final,
        120,
        lambda: f"{final}; now {states_no_sync(cli, run)}; {cli._log_tail()}",
    )
    assert (remote / "Si" / "runs.log").read_text().split() == ["0", "1"]
    kinds = [e["kind"] for e in cli.get(f"/api/jobs/{gw_id}").json()["events"]]
    assert kinds.index("waiting_for_files") < kinds.index("files_found") < kinds.index("starting"), kinds

    # results back by the engine as each job ended: the *.dat files, the markers and the output, nothing else
    expected = {
        "Si": {"step0.dat", "step1.dat", "qsub.finished.0", "qsub.finished.1", "jobtui.0.stdout", "jobtui.1.stdout"},
        "GaAs": {"step0.dat", "jobtui.0.stderr"},
    }

    def came_back() -> bool:
        return all((run / d / name).exists() for d, names in expected.items() for name in names)

    wait_for_sync(came_back, 60, lambda: f"results in {run}: {sorted(p.name for p in run.rglob('*'))}", step=0.2)
    assert (run / "Si" / "step1.dat").read_text() == "chg\n" and (run / "Si" / "jobtui.1.stdout").read_text() == (
        "out of 1\n"
    )
    assert (run / "GaAs" / "jobtui.0.stderr").read_text() == "broken\n"
    scripts = {"Si": {"qsub.0", "qsub.1", "qsub.dependency.0", "qsub.dependency.1"}, "GaAs": {"qsub.0",
               "qsub.dependency.0"}}  # fmt: skip
    for directory, names in expected.items():
        local = {p.name for p in (run / directory).iterdir()}
        assert local == {"POSCAR", *scripts[directory], *names}, local  # no rst/, runs.log or scratch files
    assert "synced" not in json.loads((run / "tree.json").read_text())  # the CLI brought nothing back
    copied = cli.get(f"/api/jobs/{gw_id}").json()
    assert copied["job"]["extra"]["copied_back"] == 1 and "results_copied" in [e["kind"] for e in copied["events"]]


def test_an_ssh_node_that_sees_the_run_directory_gets_no_copy(
    tmp_path: Path, sshd_server: Sshd, request: pytest.FixtureRequest
) -> None:
    """No --shared-fs: the node (this machine, through sshd, as the test user) reads the run directory's tree.json
    at the same path and may write there, so `init` stages nothing and the jobs run in the run directory itself."""
    config = daemon_config(tmp_path / "config.yaml", sshd_server, f"~/.jobtui-test/tree-{uuid.uuid4().hex[:8]}")
    cli = Daemon(tmp_path / "state", config).start()
    request.addfinalizer(cli.cleanup)
    public = Path(tempfile.mkdtemp(prefix="jobtui-tree-shared-"))  # pytest's own tmp dirs are 0700: not shared
    request.addfinalizer(lambda: shutil.rmtree(public, ignore_errors=True))
    public.chmod(0o755)
    src = make_tree(public / "init", {"Si": {}})
    for path in [public / "init", *(public / "init").rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
    argv = cli.argv("--json", "tree", "init", str(src), "--node", "login")
    done = subprocess.run(argv, capture_output=True, text=True, env=cli.env, timeout=60, umask=0)  # a shared group
    assert done.returncode == 0, done.stderr
    run = Path(json.loads(done.stdout)["run_dir"])
    state = json.loads((run / "tree.json").read_text())
    assert state["shared_fs"] is True and "remote_dir" not in state, state
    wait_states(cli, run, {"Si": {f"qsub.{s}": "done" for s in STEPS}}, timeout=60)
    assert (run / "Si" / "runs.log").stat().st_uid == pwd.getpwnam(TEST_USER).pw_uid  # run there, by the node
    assert (run / "Si" / "qsub.finished.2").exists()
