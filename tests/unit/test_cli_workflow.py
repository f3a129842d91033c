"""`jobtui analyze` and `jobtui create` (tui/cli/workflow_verbs.py), run in-process: no engine needed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine.workflows.sample import sample_workflow
from tui.cli import main
from tui.cli.verbs import BY_NAME

SAMPLES = Path(__file__).resolve().parents[2] / "sample_configs"
CI = str(SAMPLES / "workflow-ci.yaml")
CYCLIC = "name: loop\njobs:\n  - {id: a, command: x, after: [c]}\n  - {id: b, command: x, after: [a]}\n" + (
    "  - {id: c, command: x, after: [b]}\n"
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_verbs_are_in_the_table() -> None:
    assert {"analyze", "create"} <= set(BY_NAME)


def test_analyze_prints_the_properties_levels_and_critical_path(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "analyze", CI)
    assert code == 0
    assert "workflow          Sample CI/CD" in out and "jobs              14" in out
    assert "valid DAG         yes" in out and "execution levels  9" in out and "max parallelism   3" in out
    assert "critical path     9 jobs, 1h36m (9 from timeouts)" in out  # 5,760 s of timeouts
    assert "  Level 2: lint, build_frontend, build_backend\n" in out
    assert "  Level 8: rollback_staging, cleanup\n" in out
    assert "  setup -> install_deps -> build_backend -> test_unit_backend -> integration_tests" in out


def test_analyze_json_carries_the_workflow_and_the_analysis(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "analyze", "--json", CI)
    data = json.loads(out)
    assert code == 0 and data["workflow"]["name"] == "Sample CI/CD" and len(data["workflow"]["digest"]) == 64
    assert data["jobs"] == 14 and data["valid"] and data["execution_levels"] == 9 and data["max_parallelism"] == 3
    assert data["levels"][0] == ["setup"] and data["critical_path"]["seconds"] == 5760.0
    assert data["critical_path"]["jobs"][-1] == "rollback_staging"
    assert {"from": "smoke_tests", "to": "rollback_staging", "when": "failure"} in data["edges"]
    assert data["workflow"]["settings"]["max_concurrent_jobs"] == 4


def test_analyze_draws_dot_and_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    code, dot, _ = run(capsys, "analyze", CI, "--dot")
    assert code == 0 and dot.startswith('digraph "Sample CI/CD" {')
    assert '"install_deps" -> "build_frontend";' in dot
    assert '"smoke_tests" -> "cleanup" [style=dashed, label="any"];' in dot
    code, mermaid, _ = run(capsys, "analyze", CI, "--mermaid")
    assert code == 0 and mermaid.startswith("flowchart LR\n")
    assert "  setup --> install_deps\n" in mermaid and "  smoke_tests -.->|failure| rollback_staging\n" in mermaid


def test_analyze_weighs_past_run_times_when_given(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    durations = tmp_path / "durations.json"
    durations.write_text(json.dumps({"Build the frontend": 9000, "test_unit_frontend": 60}))
    code, out, _ = run(capsys, "analyze", "--json", CI, "--durations", str(durations))
    data = json.loads(out)
    assert code == 0 and data["critical_path"]["jobs"][2] == "build_frontend"
    assert data["weights"]["build_frontend"] == {"seconds": 9000.0, "source": "history"}
    assert data["weights"]["build_backend"]["source"] == "timeout"
    durations.write_text("{build: soon}")
    code, _, err = run(capsys, "analyze", CI, "--durations", str(durations))
    assert code == 2 and "'build': 'soon' is not a number of seconds" in err


def test_analyze_shows_a_cycle_and_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text(CYCLIC)
    code, out, _ = run(capsys, "analyze", str(path))
    assert code == 1 and re.search(r"valid DAG +no: dependency cycle a -> b -> c -> a\n", out)
    code, out, _ = run(capsys, "analyze", "--json", str(path))
    assert code == 1 and json.loads(out)["cycle"] == ["a", "b", "c", "a"] and not json.loads(out)["valid"]


def test_analyze_refuses_a_bad_file_with_its_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: w\njobs:\n  - id: a\n    job_type: shell\n    command: x\n")
    code, out, err = run(capsys, "analyze", str(path))
    assert code == 2 and out == ""
    assert f"jobtui: Bad workflow file: {path}:4: job 'a': field 'job_type': unknown job type 'shell'" in err
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("- echo a\n")
    code, _, err = run(capsys, "analyze", str(jobs))
    assert code == 2 and "not a workflow" in err


def test_analyze_takes_one_output_format(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "analyze", "--json", "--dot", CI)
    assert code == 2 and "give one of them" in err


def test_create_writes_the_sample_and_never_overwrites(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "pipeline.yaml"
    code, out, _ = run(capsys, "create", "--name", 'My "Pipeline"', "--output", str(target))
    assert code == 0 and f"wrote the sample workflow to {target}" in out
    assert target.read_text() == sample_workflow('My "Pipeline"')
    code, out, _ = run(capsys, "analyze", "--json", str(target))
    assert code == 0 and json.loads(out)["workflow"]["name"] == 'My "Pipeline"'
    target.write_text("mine\n")
    code, _, err = run(capsys, "create", "--output", str(target))
    assert code == 2 and "already exists" in err and "never overwrites" in err
    assert target.read_text() == "mine\n"


def test_create_without_output_prints_the_sample(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "create")
    assert code == 0 and out == sample_workflow()
