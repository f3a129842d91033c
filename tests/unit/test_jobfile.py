"""Job files: the rule for YAML against a command list, and one clear error (exit 2) for every bad file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.errors import ValidationError
from tui.jobfile import is_yaml, read_job_file


@pytest.mark.parametrize(
    "text",
    [
        "- {name: a, command: echo a}\n",
        "# jobs for tonight\n\n  - name: a\n    command: echo a\n",
        "-\n  name: a\n",
        "jobs:\n  - {command: echo a}\n",
        '[{"command": ["echo", "a"]}]\n',
        '{"jobs": []}\n',
        "---\n- echo a\n",
        "name: a\n",  # a mapping, even a wrong one, is YAML (and gets a YAML error)
    ],
)
def test_yaml_is_told_by_its_first_meaningful_line(text: str) -> None:
    assert is_yaml(text)


@pytest.mark.parametrize(
    "text",
    [
        "echo a\necho b\n",
        "# comment\necho a: b\n",  # `: ` inside a command is no mapping key
        "sh -c 'echo key: value'\n",
        "'my prog' --flag\n",
        "-x\n",
        "http://example.org/run\n",
        "",
    ],
)
def test_anything_else_is_a_command_list(text: str) -> None:
    assert not is_yaml(text)


def write(tmp_path: Path, content: str | bytes, name: str = "jobs.yaml") -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def test_a_command_list_is_split_like_a_shell(tmp_path: Path) -> None:
    jobs = read_job_file(write(tmp_path, "# c\necho a: b\n\nsh -c 'echo key: value'\n", "jobs.txt"))
    assert [j["command"] for j in jobs] == [["echo", "a:", "b"], ["sh", "-c", "echo key: value"]]
    assert all(j["workdir"] == os.getcwd() for j in jobs)


def test_yaml_jobs_mappings_strings_and_workdirs(tmp_path: Path) -> None:
    text = (
        "\ufeffjobs:\n  - {name: a, command: echo a, workdir: sub}\n  - echo b\n  - {command: [true], workdir: null}\n"
    )
    jobs = read_job_file(write(tmp_path, text))
    assert jobs[0] == {"name": "a", "command": "echo a", "workdir": os.path.abspath("sub")}
    assert jobs[1] == {"command": "echo b", "workdir": os.getcwd()}
    assert jobs[2]["workdir"] == os.getcwd()


BAD = {
    "a syntax error, never read line by line": ("- name: a\n  command: [echo\n", "jobs.yaml:3: YAML error"),
    "an unclosed list": ("- name: a\n  bad: [x\n  - y\n", "jobs.yaml:4: YAML error: expected ',' or ']'"),
    "not UTF-8": (b"- name: a\n- {command: 'caf\xe9'}\n", "jobs.yaml:2: not UTF-8 text (byte 0xe9)"),
    "workdir a number": ("- command: echo\n  workdir: 5\n", "jobs.yaml:2: job 1: workdir must be a path"),
    "workdir a list": ("- {command: echo, workdir: [a]}\n", "workdir must be a path"),
    "infinite": ("- command: echo\n  timeout: .inf\n", "jobs.yaml:2: .inf is not a finite number"),
    "minus infinite": ("- command: echo\n  cpus: -.Inf\n", "-.Inf is not a finite number"),
    "not a number": ("- {command: echo, priority: .NaN}\n", ".NaN is not a finite number"),
    "nested too deep to compose": ("- " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    "nested deeper than any job": ("- command: " + "[" * 100 + "]" * 100 + "\n", "jobs.yaml:1: nested too deeply"),
    "an escape beyond Unicode": ('- echo a\n- {command: "\\U0011FFFF"}\n', "jobs.yaml:2: invalid character escape"),
    "an escape that is no escape": ('- {command: "\\Uzz"}\n', "jobs.yaml:1: YAML error"),
    "a date that is no date": ("- {command: echo, at: 2024-13-45}\n", "jobs.yaml:1: job 1: month must be in 1..12"),
    "a job that is a list": ("- [echo, a]\n", "jobs.yaml:1: job 1 is a list"),
    "a mapping without jobs": ("name: a\ncommand: echo\n", "jobs.yaml:1: a mapping without `jobs:`"),
    "jobs not a list": ("jobs: echo a\n", "jobs.yaml:1: expected a list of jobs"),
    "no jobs at all": ("# nothing\n\n", "jobs.yaml: holds no jobs"),
    "an empty YAML list": ("[]\n", "holds no jobs"),
    "a python tag": ("- !!python/object:os.system {}\n", "jobs.yaml:1: YAML error: could not determine a constructor"),
    "two documents": ("- echo a\n---\n- echo b\n", "jobs.yaml:2: YAML error"),
    "unbalanced quotes": ("echo 'a\n", "jobs.yaml:1: cannot split this command line"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_bad_file_is_one_clear_line_naming_it(tmp_path: Path, case: str) -> None:
    content, expected = BAD[case]
    with pytest.raises(ValidationError) as caught:
        read_job_file(write(tmp_path, content))
    message = caught.value.message
    assert caught.value.exit_code == 2 and "\n" not in message
    assert message.startswith(str(tmp_path / "jobs.yaml")) and expected in message, message


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read the job file"):
        read_job_file(str(tmp_path / "missing.yaml"))
    with pytest.raises(ValidationError, match="cannot read the job file"):
        read_job_file(str(tmp_path))
