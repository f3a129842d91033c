"""Workflow files (engine/workflows/schema.py): the seed's own sample, the mapping onto JobSpec, the job types,
edges and conditions, environment expansion, and one located error (file, line, field) per bad input."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.errors import ValidationError
from engine.service.jobspec import JobSpec, batch_order, parse_specs
from engine.workflows.graph import analyze
from engine.workflows.sample import DEFAULT_NAME, sample_workflow
from engine.workflows.schema import Workflow, WorkflowError, expand, parse_workflow
from tui.jobfile import read_job_file, read_jobs, read_workflow_file

SAMPLES = Path(__file__).resolve().parents[2] / "sample_configs"
ALLOWED_PROGRAMS = {"sh", "python3", "sleep", "echo", "true", "false", "seq", "cat", "date", "touch"}
HEAD = "name: w\njobs:\n"  # lines 1 and 2: a job's `- id:` is on line 3


def write(tmp_path: Path, text: str, name: str = "wf.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None, **options: Any) -> Workflow:
    path = write(tmp_path, text)
    return parse_workflow(path.read_bytes(), str(path), env=env or {}, **options)


def problem(tmp_path: Path, text: str, **options: Any) -> str:
    with pytest.raises(WorkflowError) as caught:
        load(tmp_path, text, **options)
    assert caught.value.exit_code == 2 and caught.value.title == "Bad workflow file"
    return caught.value.message


# ---------------------------------------------------------------- the seed's sample and ours


def test_the_seeds_own_sample_parses_unchanged() -> None:
    path = SAMPLES / "workflow-seed.yaml"
    data = path.read_bytes()
    workflow = parse_workflow(data, str(path), env={})
    assert (workflow.name, workflow.version, workflow.description) == (
        "CI/CD Pipeline",
        "1.0.0",
        "Build and deployment pipeline",
    )
    assert workflow.digest == hashlib.sha256(data).hexdigest()
    assert (workflow.settings.max_retries, workflow.settings.timeout) == (3, 3600.0)
    build, test, deploy = workflow.to_job_specs()
    assert build.command == ["sh", "-c", "make build"] and build.name == "Build Application" and build.key == "build"
    assert (build.retries, build.retry_delay, build.backoff_factor) == (2, 1.0, 2.0)  # 3 attempts: 2 retries
    assert (build.timeout, build.mem_mb) == (300.0, 1024)  # the smaller of timeout 300, max_execution_time 600
    assert build.env == {"NODE_ENV": "production"} and build.tags == ["build", "compile"] and build.after == []
    assert test.command == [str(SAMPLES / "scripts" / "test.sh")] and test.after == ["build"]
    assert (test.retries, test.timeout) == (3, 600.0)  # global max_retries
    assert deploy.command == ["sh", "-c", "kubectl apply -f deployment.yaml"] and deploy.after == ["test"]
    assert all(spec.workdir == str(SAMPLES) for spec in (build, test, deploy))
    batch_order([build, test, deploy])


def test_the_seeds_sample_is_a_job_file_too() -> None:
    loaded = read_jobs(str(SAMPLES / "workflow-seed.yaml"), env={})
    assert loaded.workflow is not None and loaded.workflow.name == "CI/CD Pipeline"
    specs = parse_specs(loaded.jobs, "workflow-seed.yaml")  # what the engine's submit validates
    assert [s.key for s in specs] == ["build", "test", "deploy"] and specs[2].after == ["test"]


def test_our_sample_is_the_create_text_and_runs_with_sh_and_python3() -> None:
    path = SAMPLES / "workflow-ci.yaml"
    assert path.read_text() == sample_workflow()
    assert "#" in path.read_text()
    workflow = parse_workflow(path.read_bytes(), str(path), env={})
    assert workflow.name == DEFAULT_NAME and len(workflow.jobs) == 14
    specs = workflow.to_job_specs()
    for spec in specs:
        assert spec.command[0] in ALLOWED_PROGRAMS and shutil.which(spec.command[0]), spec.command
    batch_order(specs)
    by_key = {s.key: s for s in specs}
    assert by_key["rollback_staging"].after_when == {"smoke_tests": "failure"}
    assert by_key["cleanup"].after_when == {"package": "any", "smoke_tests": "any"}
    assert by_key["install_deps"].retries == 2 and by_key["build_backend"].cpus == 4
    assert by_key["package"].command[:2] == ["python3", "job.py"] and by_key["package"].env == {"VERSION": "1.0.0"}
    assert by_key["package"].python is not None and "manifest" in by_key["package"].python.code
    result = analyze(workflow.graph())
    assert (len(result.levels), result.max_parallelism, len(result.critical_path)) == (9, 3, 9)


def test_the_sample_is_named_as_asked_whatever_the_name_holds(tmp_path: Path) -> None:
    for name in ['My "quoted" pipeline: #1', "two\nlines", "café ☕"]:
        path = write(tmp_path, sample_workflow(name))
        assert parse_workflow(path.read_bytes(), str(path), env={}).name == name


def test_a_json_workflow_reads_like_yaml(tmp_path: Path) -> None:
    document = {
        "name": "j",
        "version": 2,
        "jobs": [
            {"id": "a", "command": ["echo", "a"], "timeout": 5},
            {"id": "b", "command": "echo b", "dependencies": [{"a": "any"}], "requires_approval": True},
        ],
    }
    workflow = load(tmp_path, json.dumps(document))
    a, b = workflow.to_job_specs()
    assert workflow.version == "2" and a.command == ["echo", "a"] and a.timeout == 5.0
    assert b.after == ["a"] and b.after_when == {"a": "any"} and b.requires_approval


# ---------------------------------------------------------------- mapping onto JobSpec


def test_names_default_to_ids_and_the_workflow_name_to_the_file(tmp_path: Path) -> None:
    workflow = load(tmp_path, "jobs:\n  - {id: build, command: make}\n  - {id: t, name: Tests, command: make test}\n")
    assert workflow.name == "wf" and [j.name for j in workflow.jobs] == ["build", "Tests"]
    assert [s.name for s in workflow.to_job_specs()] == ["build", "Tests"]


def test_resources_retries_and_timeouts_map_onto_the_spec(tmp_path: Path) -> None:
    text = HEAD + (
        "  - id: a\n"
        "    command: x\n"
        "    resource_limits: {max_memory_mb: 2G, max_cpu_percent: 250, max_execution_time: 10m}\n"
        "    retry_config: {max_attempts: 1, initial_delay: 30s, max_delay: 2m, backoff_factor: 3}\n"
        "  - {id: b, command: x, cpus: 2, gpus: 1, resource_limits: {max_cpu_percent: 800}, timeout: 1h}\n"
        "  - {id: c, command: x, node: 'gpu*', labels: {team: cfd}, licenses: [abaqus], priority: 70,\n"
        "     inputs: [in.dat], outputs: ['*.out'], working_directory: run}\n"
    )
    a, b, c = load(tmp_path, "global_config: {timeout: 2h, max_retries: 4}\n" + text).to_job_specs()
    assert (a.mem_mb, a.cpus, a.timeout) == (2048, 3, 600.0)  # 250 % -> 3 cores
    assert (a.retries, a.retry_delay, a.max_delay, a.backoff_factor) == (0, 30.0, 120.0, 3.0)
    assert (b.cpus, b.gpus, b.timeout, b.retries) == (2, 1, 3600.0, 4)  # cpus wins; global retries
    assert (c.node, c.labels, c.licenses, c.priority, c.timeout) == ("gpu*", {"team": "cfd"}, ["abaqus"], 70, 7200.0)
    assert (c.inputs, c.outputs, c.workdir) == (["in.dat"], ["*.out"], str(tmp_path / "run"))


def test_the_smallest_concurrency_limit_is_the_workflows(tmp_path: Path) -> None:
    text = (
        "global_config: {max_concurrent_jobs: 8}\n"
        + HEAD
        + ("  - {id: a, command: x, resource_limits: {max_concurrent_jobs: 3}}\n  - {id: b, command: x}\n")
    )
    assert load(tmp_path, text).settings.max_concurrent_jobs == 3


# ---------------------------------------------------------------- job types


def test_a_shell_string_runs_with_sh_and_a_list_is_the_argv(tmp_path: Path) -> None:
    text = HEAD + "  - {id: a, command: \"echo 'hi' && ls\"}\n  - {id: b, command: [ls, -l, 'my file']}\n"
    a, b = load(tmp_path, text).to_job_specs()
    assert a.command == ["sh", "-c", "echo 'hi' && ls"]
    assert b.command == ["ls", "-l", "my file"]


def test_a_script_is_its_absolute_path_then_its_args(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    script = tmp_path / "bin" / "go.sh"
    script.write_text("#!/bin/sh\necho $1\n")
    script.chmod(0o755)
    text = HEAD + "  - {id: a, job_type: script, script_path: ./bin/go.sh, args: [one, '2']}\n"
    (spec,) = load(tmp_path, text).to_job_specs()
    assert spec.command == [str(script), "one", "2"]
    assert subprocess.run(spec.command, capture_output=True, text=True, check=True).stdout == "one\n"


def test_python_code_is_kept_for_the_engine_and_a_script_path_runs_as_written(tmp_path: Path) -> None:
    (tmp_path / "tool.py").write_text("import sys\nprint('tool', sys.argv[1])\n")
    text = HEAD + (
        "  - id: code\n"
        "    job_type: python\n"
        "    command: |\n"
        "      import sys\n"
        "      print('code', sys.argv[1:])\n"
        "    args: [x]\n"
        "  - {id: other, job_type: python, command: 'print(1)', interpreter: python3.11}\n"
        "  - {id: file, job_type: python, script_path: tool.py, args: [y], interpreter: "
        + json.dumps(sys.executable)
        + "}\n"
    )
    code, other, file = load(tmp_path, text).to_job_specs()
    assert code.python is not None and code.python.code == "import sys\nprint('code', sys.argv[1:])\n"
    assert (code.python.interpreter, code.python.args) == (None, ["x"])
    assert code.command == ["python3", "job.py", "x"]  # shown; the engine writes job.py and runs it
    assert other.python is not None and other.command == ["python3.11", "job.py"]
    assert file.python is None and file.command == [sys.executable, str(tmp_path / "tool.py"), "y"]
    assert subprocess.run(file.command, capture_output=True, text=True).stdout == "tool y\n"
    assert parse_specs([code.model_dump(mode="json", exclude_defaults=True)]) == [code]  # as a client sends it


def test_python_code_is_at_most_128_kib(tmp_path: Path) -> None:
    big = "x = 1\n" * (128 * 1024 // 6 + 1)
    document = {"name": "w", "jobs": [{"id": "big", "job_type": "python", "command": big}]}
    message = problem(tmp_path, json.dumps(document))
    assert "job 'big'" in message and "longer than 131072 bytes" in message


def test_an_http_job_keeps_its_request_and_shows_it_as_its_command(tmp_path: Path) -> None:
    server = "http://127.0.0.1:8123"
    text = HEAD + (
        f"  - {{id: get, job_type: http, command: {server}/ok, timeout: 30}}\n"
        "  - id: post\n"
        "    job_type: http\n"
        f"    http: {{method: post, url: {server}/items, body: {{n: 1}}, expected_status: 201, timeout: 5,"
        " retries: 2}\n"
    )
    get, post = load(tmp_path, text).to_job_specs()
    assert get.http is not None and (get.http.method, get.http.url) == ("GET", f"{server}/ok")
    assert post.http is not None and post.http.body == '{"n": 1}' and post.http.expected_status == [201]
    assert post.http.headers == {"Content-Type": "application/json"} and post.retries == 2
    assert post.http.timeout == 5
    assert get.command == ["http", "GET", f"{server}/ok"] and post.command == ["http", "POST", f"{server}/items"]
    assert parse_specs([post.model_dump(mode="json", exclude_defaults=True)]) == [post]  # as a client sends it


# ---------------------------------------------------------------- edges and conditions


def test_edges_as_ids_as_one_key_mappings_and_as_a_mapping(tmp_path: Path) -> None:
    text = HEAD + (
        "  - {id: a, command: x}\n"
        "  - {id: b, command: x}\n"
        "  - {id: c, command: x, dependencies: [a, {b: failure}]}\n"
        "  - {id: d, command: x, after: {a: success, c: any}}\n"
    )
    workflow = load(tmp_path, text)
    c, d = workflow.to_job_specs()[2:]
    assert (c.after, c.after_when) == (["a", "b"], {"b": "failure"})
    assert (d.after, d.after_when) == (["a", "c"], {"c": "any"})
    assert dict(workflow.job("d").after) == {"a": "success", "c": "any"}


def test_skip_if_failed_makes_an_any_edge_a_success_edge(tmp_path: Path) -> None:
    text = HEAD + (
        "  - {id: a, command: x}\n"
        "  - {id: b, command: x}\n"
        "  - {id: c, command: x, after: {a: any, b: any}, conditions: {skip_if_failed: [a]}}\n"
    )
    c = load(tmp_path, text).to_job_specs()[2]
    assert c.after == ["a", "b"] and c.after_when == {"b": "any"}


CONDITIONAL = HEAD + (
    "  - {id: build, command: x}\n"
    "  - id: deploy\n"
    "    command: x\n"
    "    dependencies: [build]\n"
    "    environment: {TARGET: '${DEPLOY_TO:-staging}'}\n"
    "    conditions: {only_if: {TARGET: production}}\n"
    "  - {id: verify, command: x, dependencies: [deploy]}\n"
    "  - {id: alarm, command: x, dependencies: [{verify: failure}]}\n"
    "  - {id: report, command: x, after: {build: success, verify: any}}\n"
)


def test_only_if_decides_from_the_environment_and_takes_success_and_failure_children(tmp_path: Path) -> None:
    running = load(tmp_path, CONDITIONAL, env={"DEPLOY_TO": "production"})
    assert running.skipped == {} and len(running.to_job_specs()) == 5
    workflow = load(tmp_path, CONDITIONAL, env={})
    assert workflow.skipped == {
        "deploy": "only_if: TARGET is 'staging', not 'production'",
        "verify": "its dependency 'deploy' does not run",
        "alarm": "its dependency 'verify' does not run",
    }
    specs = workflow.to_job_specs()
    assert [s.key for s in specs] == ["build", "report"]
    assert (specs[1].after, specs[1].after_when) == (["build"], {})  # the `any` edge to verify is dropped
    batch_order(specs)


def test_only_if_branch_asks_for_the_branch_only_when_a_job_needs_it(tmp_path: Path) -> None:
    asked: list[int] = []

    def branch() -> str:
        asked.append(1)
        return "dev"

    load(tmp_path, HEAD + "  - {id: a, command: x}\n", branch=branch)
    assert asked == []
    text = HEAD + "  - {id: a, command: x, conditions: {only_if_branch: main}}\n  - {id: b, command: x}\n"
    workflow = load(tmp_path, text, branch=branch)
    assert workflow.skipped == {"a": "only_if_branch: the branch is 'dev', not 'main'"} and asked == [1]
    assert load(tmp_path, text, branch="main").skipped == {}
    assert "the branch is unknown" in load(tmp_path, text, branch=None).skipped["a"]


# ---------------------------------------------------------------- environment


@pytest.mark.parametrize(
    "text,expected",
    [
        ("$HOME/x", "/home/ann/x"),
        ("${HOME}x", "/home/annx"),
        ("a$HOME.b", "a/home/ann.b"),
        ("[$UNSET]", "[]"),  # unset: empty, as in a shell
        ("${UNSET:-dflt}", "dflt"),
        ("${EMPTY:-dflt}", "dflt"),
        ("${HOME:-dflt}", "/home/ann"),
        ("$$HOME costs $$5", "$HOME costs $5"),
        ("$5 $ $(whoami) `id` ;rm", "$5 $ $(whoami) `id` ;rm"),  # no shell: nothing else is special
    ],
)
def test_environment_values_expand_from_the_given_environment(text: str, expected: str) -> None:
    assert expand(text, {"HOME": "/home/ann", "EMPTY": ""}) == expected


@pytest.mark.parametrize("text", ["${HOME", "${1A}", "${A:+x}", "${}"])
def test_a_bad_expansion_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        expand(text, {})


def test_environment_values_are_the_text_written_and_expanded_from_the_submitter(tmp_path: Path) -> None:
    text = HEAD + (
        "  - id: a\n"
        "    command: x\n"
        "    environment:\n"
        "      PATH: /opt/bin:$PATH\n"
        "      VERSION: 1.10\n"
        "      DEBUG: false\n"
        "      ANSWER: yes\n"
        "      MODE: 0755\n"
        "      NOTHING:\n"
        "      OWN: $OWN-$VERSION\n"  # the submitter's variables only, not each other
    )
    (spec,) = load(tmp_path, text, env={"PATH": "/usr/bin", "OWN": "me"}).to_job_specs()
    assert spec.env == {
        "PATH": "/opt/bin:/usr/bin",
        "VERSION": "1.10",
        "DEBUG": "false",
        "ANSWER": "yes",
        "MODE": "0755",
        "NOTHING": "",
        "OWN": "me-",
    }


# ---------------------------------------------------------------- bad input: file, line and field

BAD = {
    "a cycle, named by its path": (
        HEAD + "  - id: a\n    command: x\n    dependencies: [c]\n"
        "  - {id: b, command: x, dependencies: [a]}\n  - {id: c, command: x, dependencies: [b]}\n",
        "wf.yaml:5: job 'a': field 'dependencies': dependency cycle: a -> b -> c -> a",
    ),
    "a job after itself": (
        HEAD + "  - {id: a, command: x}\n  - {id: b, command: x, after: [b]}\n",
        "wf.yaml:4: job 'b': field 'after': dependency cycle: b -> b",
    ),
    "an unknown dependency": (
        HEAD + "  - id: a\n    command: x\n  - id: b\n    command: x\n    dependencies:\n      - a\n      - buidl\n",
        "wf.yaml:9: job 'b': field 'dependencies.1': depends on 'buidl', which is no job of this workflow",
    ),
    "an id given twice": (
        HEAD + "  - id: a\n    command: x\n  - id: a\n    command: y\n",
        "wf.yaml:5: job 'a': field 'id': the id 'a' is already used by the job at line 3",
    ),
    "a condition on a job that is no parent": (
        HEAD + "  - id: a\n    command: x\n  - id: b\n    command: x\n    conditions:\n      skip_if_failed: [a]\n",
        "wf.yaml:8: job 'b': field 'conditions.skip_if_failed.0': names 'a', which is not a dependency",
    ),
    "skip_if_failed on a failure edge": (
        HEAD + "  - {id: a, command: x}\n  - {id: b, command: x, after: {a: failure},"
        " conditions: {skip_if_failed: [a]}}\n",
        "wf.yaml:4: job 'b': field 'conditions.skip_if_failed.0': 'a' is a `failure` dependency",
    ),
    "an unknown job type": (
        HEAD + "  - id: a\n    job_type: shell\n    command: x\n",
        "wf.yaml:4: job 'a': field 'job_type': unknown job type 'shell'; use one of command, script, python, http",
    ),
    "an http job that is not http": (
        HEAD + "  - id: a\n    job_type: http\n    command: ftp://example.org/file\n",
        "wf.yaml:5: job 'a': field 'command': 'ftp://example.org/file' is not an http(s) URL",
    ),
    "an http block with a file URL": (
        HEAD + "  - id: a\n    job_type: http\n    http:\n      url: file:///etc/passwd\n",
        "wf.yaml:6: job 'a': field 'http.url': 'file:///etc/passwd' is not an http(s) URL",
    ),
    "a missing script": (
        HEAD + "  - id: a\n    job_type: script\n    script_path: scripts/nope.sh\n",
        "wf.yaml:5: job 'a': field 'script_path': 'scripts/nope.sh': no such file",
    ),
    "a job list entry among workflow jobs": (
        HEAD + "  - id: a\n    command: x\n  - name: b\n    command: y\n",
        "wf.yaml:5: job #2: has no `id`: this file mixes a workflow",
    ),
    "a command string among workflow jobs": (
        HEAD + "  - {id: a, command: x}\n  - echo b\n",
        "wf.yaml:4: job #2: has no `id`: this file mixes a workflow",
    ),
    "a misspelt key": (
        HEAD + "  - id: a\n    command: x\n  - id: b\n    command: x\n    dependancies: [a]\n",
        "wf.yaml:7: job 'b': field 'dependancies': unknown key; did you mean 'dependencies'?",
    ),
    "a misspelt retry key": (
        HEAD + "  - id: a\n    command: x\n    retry_config:\n      max_attempt: 3\n",
        "wf.yaml:6: job 'a': field 'retry_config.max_attempt': unknown key; did you mean 'max_attempts'?",
    ),
    "an unknown global key": (
        "global_config:\n  max_parallel: 2\n" + HEAD + "  - {id: a, command: x}\n",
        "wf.yaml:2: field 'global_config.max_parallel': unknown key",
    ),
    "dependencies and after both": (
        HEAD + "  - {id: a, command: x}\n  - id: b\n    command: x\n    dependencies: [a]\n    after: [a]\n",
        "wf.yaml:7: job 'b': field 'after': give `dependencies:` or `after:`, not both",
    ),
    "a condition that is no condition": (
        HEAD + "  - {id: a, command: x}\n  - id: b\n    command: x\n    after: {a: afterok}\n",
        "wf.yaml:6: job 'b': field 'after.a': 'afterok' is not a condition; use success (afterok)",
    ),
    "an id of digits": (
        HEAD + "  - id: '123'\n    command: x\n",
        "wf.yaml:3: job '123': field 'id': '123' is only digits",
    ),
    "a command job without a command": (
        HEAD + "  - id: a\n    name: nothing\n",
        "wf.yaml:3: job 'a': field 'command': a command job needs `command:`",
    ),
    "a script job with a command": (
        HEAD + "  - id: a\n    job_type: script\n    command: x\n",
        "wf.yaml:5: job 'a': field 'command': a script job takes no `command`",
    ),
    "a priority out of range": (
        HEAD + "  - id: a\n    command: x\n    priority: 500\n",
        "wf.yaml:5: job 'a': field 'priority': Input should be less than or equal to 100",
    ),
    "a memory that is no size": (
        HEAD + "  - id: a\n    command: x\n    resource_limits: {max_memory_mb: lots}\n",
        "wf.yaml:5: job 'a': field 'resource_limits.max_memory_mb': 'lots' is not a memory size",
    ),
    "an unclosed expansion": (
        HEAD + "  - id: a\n    command: x\n    environment:\n      A: ${B\n",
        "wf.yaml:6: job 'a': field 'environment.A': `${` without its closing `}`",
    ),
    "a variable name that is none": (
        HEAD + "  - id: a\n    command: x\n    environment: {1A: x}\n",
        "wf.yaml:5: job 'a': field 'environment': '1A' is not an environment variable name",
    ),
    "no jobs": ("name: w\njobs: []\n", "wf.yaml:2: field 'jobs': a workflow needs at least one job"),
    "no jobs key": ("name: w\n", "wf.yaml:1: field 'jobs': required; add it"),
    "a list, not a mapping": ("- id: a\n  command: x\n", "wf.yaml:1: workflow: a workflow is a mapping"),
    "a timeout that is not finite": (
        HEAD + "  - id: a\n    command: x\n    timeout: .inf\n",
        "wf.yaml:5: .inf is not a finite number",
    ),
    "a YAML syntax error": (HEAD + "  - id: a\n    command: [x\n", "wf.yaml:5: YAML error"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_bad_workflow_names_the_file_the_line_and_the_field(tmp_path: Path, case: str) -> None:
    text, expected = BAD[case]
    message = problem(tmp_path, text)
    assert message.startswith(str(tmp_path / "wf.yaml")), message
    assert f"{tmp_path}/{expected}" in message, message


def test_every_problem_is_reported_at_once_in_line_order_and_nothing_is_queued(tmp_path: Path) -> None:
    text = (
        "global_config: {max_retry: 1}\n"
        + HEAD
        + (
            "  - {id: a, comand: x}\n"  # line 4: a schema error in one job ...
            "  - {id: b, command: x, after: [a, nope]}\n"  # ... does not hide the others' problems
            "  - {id: c, job_type: http, command: 'ftp://x'}\n"
        )
    )
    lines = problem(tmp_path, text).splitlines()
    assert [line.removeprefix(f"{tmp_path}/") for line in lines] == [
        "wf.yaml:1: field 'global_config.max_retry': unknown key; did you mean 'max_retries'?",
        "wf.yaml:4: job 'a': field 'comand': unknown key; did you mean 'command'?",
        "wf.yaml:5: job 'b': field 'after.1': depends on 'nope', which is no job of this workflow",
        "wf.yaml:6: job 'c': field 'command': 'ftp://x' is not an http(s) URL; write e.g. https://example.org/health",
        "Nothing was queued; fix these and try again.",
    ]


def test_a_script_must_be_executable(tmp_path: Path) -> None:
    (tmp_path / "go.sh").write_text("echo\n")
    message = problem(tmp_path, HEAD + "  - {id: a, job_type: script, script_path: go.sh}\n")
    assert f"wf.yaml:3: job 'a': field 'script_path': {tmp_path}/go.sh is not executable" in message


def test_a_cycle_can_be_read_for_analysis_only(tmp_path: Path) -> None:
    text = HEAD + "  - {id: a, command: x, after: [b]}\n  - {id: b, command: x, after: [a]}\n"
    assert load(tmp_path, text, allow_cycles=True).cycle == ("a", "b", "a")


# ---------------------------------------------------------------- job files: the workflow shape


def test_a_job_file_that_is_a_workflow_gives_specs_and_the_workflow(tmp_path: Path) -> None:
    text = HEAD + "  - {id: a, command: echo a}\n  - {id: b, command: [echo, b], after: {a: any}}\n"
    path = write(tmp_path, text)
    loaded = read_jobs(str(path), env={})
    assert loaded.workflow is not None and loaded.workflow.digest == hashlib.sha256(text.encode()).hexdigest()
    assert loaded.jobs == [
        {"command": ["sh", "-c", "echo a"], "name": "a", "key": "a", "workdir": str(tmp_path)},
        {
            "command": ["echo", "b"],
            "name": "b",
            "key": "b",
            "after": ["a"],
            "after_when": {"a": "any"},
            "workdir": str(tmp_path),
        },
    ]
    assert read_job_file(str(path)) == loaded.jobs
    assert [s.key for s in parse_specs(loaded.jobs)] == ["a", "b"]


def test_a_job_list_stays_a_job_list(tmp_path: Path) -> None:
    path = write(tmp_path, "name: batch\njobs:\n  - {name: a, command: echo a, key: a}\n  - echo b\n")
    loaded = read_jobs(str(path))
    assert loaded.workflow is None
    assert loaded.jobs == [
        {"name": "a", "command": "echo a", "key": "a", "workdir": os.getcwd()},
        {"command": "echo b", "workdir": os.getcwd()},
    ]


def test_global_config_over_a_job_list_is_a_mixed_file(tmp_path: Path) -> None:
    path = write(tmp_path, "global_config: {max_retries: 2}\njobs:\n  - {name: a, command: echo a}\n")
    with pytest.raises(ValidationError, match=r"wf.yaml:3: job #1: has no `id`: this file mixes"):
        read_jobs(str(path))


def test_workflow_jobs_in_a_bare_list_are_told_where_they_belong(tmp_path: Path) -> None:
    path = write(tmp_path, "- echo a\n- id: b\n  command: echo b\n")
    with pytest.raises(ValidationError, match=r"wf.yaml:2: job 2 has an `id`, as a workflow's jobs do"):
        read_jobs(str(path))


def test_read_workflow_file_refuses_a_job_list(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match="not a workflow"):
        read_workflow_file(str(write(tmp_path, "- echo a\n")))


def test_a_workflow_where_every_job_is_skipped_queues_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "  - {id: a, command: x, conditions: {only_if: {GO: 'yes'}}}\n")
    with pytest.raises(WorkflowError, match="every job is skipped"):
        read_jobs(str(path), env={})


# ---------------------------------------------------------------- JobSpec's new fields


def test_jobspec_conditions_must_name_dependencies_and_http_must_be_http() -> None:
    assert JobSpec(command=["x"], after=["a", 5], after_when={"5": "failure"}).after_when == {"5": "failure"}
    with pytest.raises(ValueError, match="after_when names 'b', which is not in `after`"):
        JobSpec(command=["x"], after=["a"], after_when={"b": "any"})
    with pytest.raises(ValueError, match="Input should be 'success', 'failure' or 'any'"):
        JobSpec(command=["x"], after=["a"], after_when={"a": "afterok"})
    with pytest.raises(ValueError, match="is not an http"):
        JobSpec(command=["x"], http={"url": "gopher://example.org"})
    with pytest.raises(ValueError, match="not an HTTP method"):
        JobSpec(command=["x"], http={"url": "https://example.org", "method": "FETCH"})
