"""`jobtui tree` against a real `jobtui --serve` on `--node local`: an ecalj-like tree of 3 materials x (lda ->
gw1 -> gw2) copied, filled in, submitted as one workflow and run to the end; a directory stopped while the
others go on; a script added and picked up by `resume` without rerunning anything; a script that exits 0
without its marker failing; bad input refused with one line, exit 2, nothing copied or submitted."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.fixtures.engine import Daemon
from tests.waiting import wait_for_sync

STEPS = ("0", "1", "2")  # lda, gw1, gw2
SCRIPT = 'echo "{id} bin=__binpath__ py=__pythonpath__ np=__maxcore__" >>runs.log\n{body}touch qsub.finished.{id}\n'


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("tree")
    config = base / "config.yaml"
    config.write_text("limits: {max_concurrent: 10, user_max_concurrent: 10}\n")
    daemon = Daemon(base / "state", config).start()
    yield daemon
    daemon.cleanup()


def make_tree(root: Path, materials: dict[str, dict[str, str]]) -> Path:
    """materials: {name: {step id: extra shell lines before the marker}}; each step waits for the one before."""
    for material, bodies in materials.items():
        where = root / material
        where.mkdir(parents=True)
        (where / "POSCAR").write_text(f"{material}\n")
        for n, step in enumerate(STEPS):
            (where / f"qsub.{step}").write_text(SCRIPT.format(id=step, body=bodies.get(step, "")))
            (where / f"qsub.dependency.{step}").write_text(f"qsub.finished.{STEPS[n - 1]}\n" if n else "")
    return root


def status(cli: Daemon, run: Path) -> dict[str, dict[str, str]]:
    """{directory: {script: state}} from `tree status --json`."""
    out: dict[str, dict[str, str]] = {}
    for job in cli.cli_json("tree", "status", str(run))["jobs"]:
        out.setdefault(job["directory"], {})[job["script"]] = job["state"]
    return out


def wait_states(cli: Daemon, run: Path, want: dict[str, dict[str, str]], timeout: float = 30.0) -> None:
    def reached() -> bool:
        now = status(cli, run)
        return all(now.get(d, {}).get(s) == state for d, states in want.items() for s, state in states.items())

    wait_for_sync(reached, timeout, lambda: f"tree states {want}; now {status(cli, run)}", step=0.3)


def all_done(*steps: str) -> dict[str, str]:
    return {f"qsub.{s}": "done" for s in steps}


def test_a_tree_runs_stops_one_directory_and_resumes_with_a_new_script(cli: Daemon, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "init", {"Si": {}, "GaAs": {}, "NiO": {"1": "sleep __nap__\n"}})
    sets = ["--set", "binpath=/opt/ecalj/bin", "--set", "pythonpath=/usr/bin/python3", "--set", "maxcore=16"]
    done = cli.cli("--json", "tree", "init", str(src), "--node", "local", "--name", "camp", *sets, "--set", "nap=60")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    run, workflow = Path(out["run_dir"]), out["workflow"]
    assert run.parent == tmp_path and run.name.startswith("camp-") and out["jobs"] == 9
    assert (src / "Si" / "qsub.0").read_text().startswith('echo "0 bin=__binpath__')  # the source is untouched
    assert (run / "NiO" / "qsub.1").read_text().splitlines()[1] == "sleep 60"
    assert json.loads((run / "tree.json").read_text())["workflows"] == [workflow]
    assert (run / "Si" / "POSCAR").read_text() == "Si\n"

    record = cli.cli_json("show", f"wf:{workflow}")
    assert record["workflow"]["name"] == f"tree:{run.name}" and record["workflow"]["description"] == str(run)
    names = {job["id"]: job["name"] for job in record["jobs"]}
    edges = {names[job["id"]]: [names[p["id"]] for p in job["after"]] for job in record["jobs"]}
    assert edges["GaAs/qsub.2"] == ["GaAs/qsub.1"] and edges["Si/qsub.0"] == [] and len(record["levels"]) == 3

    wait_states(cli, run, {"Si": all_done(*STEPS), "GaAs": all_done(*STEPS), "NiO": {"qsub.1": "running"}})
    assert (run / "Si" / "runs.log").read_text().splitlines() == [
        f"{s} bin=/opt/ecalj/bin py=/usr/bin/python3 np=16" for s in STEPS
    ]
    stopped = cli.cli("tree", "stop", str(run / "NiO"))
    assert stopped.returncode == 0, stopped.stderr
    assert "NiO: cancelled qsub.1" in stopped.stdout and "qsub.2" in stopped.stdout
    wait_states(cli, run, {"NiO": {"qsub.0": "done", "qsub.1": "stopped", "qsub.2": "stopped"}})

    text = cli.cli("tree", "status", str(run))
    assert text.returncode == 0, text.stderr
    assert (
        "  Si: done qsub.0 #" in text.stdout and "NiO: done qsub.0" in text.stdout and "stopped qsub.1" in text.stdout
    )
    quelist = (run / "quelist").read_text().splitlines()
    assert quelist[0].startswith("# jobtui tree status") and len(quelist) == 10
    assert any(line.startswith("NiO\tqsub.1\tstopped\tcancelled\t") for line in quelist)

    # the user fixes NiO's gw1 and adds a step to Si; resume runs both, nothing that completed runs again
    (run / "NiO" / "qsub.1").write_text(SCRIPT.format(id="1", body=""))
    (run / "Si" / "qsub.3").write_text(SCRIPT.format(id="3", body=""))
    (run / "Si" / "qsub.dependency.3").write_text("qsub.finished.2\n")
    resumed = cli.cli_json("tree", "resume", str(run))
    assert len(resumed["requeued"]) == 2 and resumed["submitted"] == 1
    assert resumed["workflow"] == workflow  # the new script joins the tree's one record (its --max-queued holds)
    assert json.loads((run / "tree.json").read_text())["workflows"] == [workflow]
    assert cli.cli_json("show", f"wf:{workflow}")["workflow"]["jobs"] == 10
    wait_states(cli, run, {"Si": all_done(*STEPS, "3"), "GaAs": all_done(*STEPS), "NiO": all_done(*STEPS)})
    assert [line.split()[0] for line in (run / "Si" / "runs.log").read_text().splitlines()] == ["0", "1", "2", "3"]
    assert "bin=/opt/ecalj/bin" in (run / "Si" / "runs.log").read_text().splitlines()[3]  # filled in on resume
    assert [line.split()[0] for line in (run / "NiO" / "runs.log").read_text().splitlines()] == ["0", "1", "1", "2"]
    again = cli.cli_json("tree", "resume", str(run))
    assert again["requeued"] == [] and again["submitted"] == 0  # nothing left to do: nothing submitted


def test_no_marker_fails_and_cancel_stops_the_whole_tree(cli: Daemon, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "t", {"bad": {}, "slow": {"0": "sleep 60\n"}})
    (src / "bad" / "qsub.0").write_text("echo forgot the marker\n")  # exits 0 without qsub.finished.0
    done = cli.cli_json("tree", "init", str(src), "--node", "local", "--only-init")
    run = Path(done["run_dir"])
    assert done["workflow"] is None and (run / "tree.json").exists()
    assert json.loads((run / "tree.json").read_text())["workflows"] == []
    resumed = cli.cli_json("tree", "resume", str(run))
    assert resumed["submitted"] == 6
    wait_states(cli, run, {"bad": {"qsub.0": "failed", "qsub.1": "stopped", "qsub.2": "stopped"},
                           "slow": {"qsub.0": "running"}})  # fmt: skip
    bad = next(j for j in cli.cli_json("tree", "status", str(run))["jobs"] if j["key"] == "bad/0")
    assert bad["status"] == "failed"
    assert bad["reason"] == "no_finished_marker", bad
    cancelled = cli.cli_json("tree", "cancel", str(run))
    assert len(cancelled["cancelled"]) == 3
    wait_states(cli, run, {"slow": {"qsub.0": "stopped", "qsub.1": "stopped", "qsub.2": "stopped"}})


def workflow_count(cli: Daemon) -> int:
    return len(cli.cli_json("workflows"))


def entries(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def bad_tree(root: Path, case: str) -> tuple[Path, list[str]]:
    src = make_tree(root / "init", {"Si": {}, "GaAs": {}})
    extra: list[str] = []
    if case == "parent":
        (src / "GaAs" / "qsub.dependency.2").write_text("../x\n")
    elif case == "absolute":
        (src / "GaAs" / "qsub.dependency.1").write_text("/tmp/x\n")
    elif case == "semicolon":
        extra = ["--set", "binpath=/opt/bin;rm -rf ~"]
    elif case == "newline":
        extra = ["--set", "binpath=/opt/bin\ntouch pwned"]
    elif case == "id":
        (src / "Si" / "qsub.1 2").write_text("true\n")
    elif case == "missing":
        (src / "Si" / "qsub.dependency.2").unlink()
    elif case == "other-file":  # another file may be waited for, but not the marker of a job the directory lacks
        (src / "Si" / "qsub.dependency.0").write_text("POSCAR\nqsub.finished.9\n")
    elif case == "node":
        extra = ["--node", "nowhere"]
    elif case == "mem":
        extra = ["--mem", "lots"]
    return src, extra


SAID = {
    "parent": "qsub.dependency.2:1: '../x' leaves this directory",
    "absolute": "qsub.dependency.1:1: '/tmp/x' is an absolute path",
    "semicolon": "--set binpath='/opt/bin;rm -rf ~': the value holds ' ', ';'",
    "newline": "--set binpath='/opt/bin\\ntouch pwned': the value holds '\\n', ' '",
    "id": "'1 2' is not a job id",
    "missing": "qsub.dependency.2: missing",
    "other-file": "qsub.dependency.0:2: qsub.finished.9 is the marker of qsub.9, which this directory does not have",
    "node": "--node 'nowhere': no such node",
    "mem": "'lots' is not a memory size",
}


@pytest.mark.parametrize("case", list(SAID))
def test_bad_input_is_one_line_exit_2_and_nothing_copied_or_submitted(cli: Daemon, tmp_path: Path, case: str) -> None:
    src, extra = bad_tree(tmp_path, case)
    before, workflows = entries(tmp_path), workflow_count(cli)
    node = [] if "--node" in extra else ["--node", "local"]
    done = cli.cli("tree", "init", str(src), *node, *extra)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and SAID[case] in done.stderr, done.stderr
    assert entries(tmp_path) == before and workflow_count(cli) == workflows


def test_an_existing_run_directory_is_never_overwritten(cli: Daemon, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "init", {"Si": {}})
    now = time.time()
    taken = [tmp_path / f"run-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now + s))}" for s in range(-1, 30)]
    for path in taken:
        path.mkdir()
        (path / "mine").write_text("keep")
    workflows = workflow_count(cli)
    done = cli.cli("tree", "init", str(src), "--node", "local", "--name", "run")
    assert done.returncode == 2 and "already exists; a tree run is never copied over another" in done.stderr
    assert done.stderr.count("\n") == 1 and workflow_count(cli) == workflows
    assert all(entries(path) == ["mine"] for path in taken)


def test_resources_asked_for_each_job_hold_for_resumed_ones_too(cli: Daemon, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "init", {"Si": {}})
    opts = ["--mem", "64M", "--timeout", "15m", "--cpus", "1"]
    done = cli.cli_json("tree", "init", str(src), "--node", "local", "--only-init", *opts)
    run = Path(done["run_dir"])
    assert json.loads((run / "tree.json").read_text())["resources"] == {"cpus": 1, "mem_mb": "64M", "timeout": "15m"}
    cli.cli_json("tree", "resume", str(run))
    state = json.loads((run / "tree.json").read_text())
    for job_id in state["jobs"].values():
        job = cli.cli_json("show", str(job_id))
        job = job["job"]
        assert job["resources"]["mem_mb"] == 64 and job["resources"]["cpus"] == 1 and job["timeout"] == 900
