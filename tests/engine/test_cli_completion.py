"""Shell completion: the scripts `jobtui completion SHELL` prints are valid shell, and bash, driven as it
drives a TAB (COMP_WORDS, COMP_CWORD), completes verbs, options, choices and, from a real running
engine, job ids and node names, without loading Textual, the engine or an HTTP client."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.engine import JOBTUI, ROOT, Daemon
from tui.cli.completion import SHELLS

HEAVY = ("textual", "fastapi", "uvicorn", "aiosqlite", "httpx", "pydantic", "engine.core", "engine.store")
# bash as it is on a TAB: the hook from `jobtui completion bash`, COMP_* set for the words so far
DRIVER = """
source "$1"
line="$2"
COMP_LINE="$line"; COMP_POINT=${#line}
read -ra COMP_WORDS <<< "$line"
[[ "$line" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
_python_argcomplete jobtui "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\\n' "${COMPREPLY[@]}"
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = Daemon(tmp_path_factory.mktemp("completion") / "state").start()
    yield daemon
    daemon.cleanup()


@pytest.fixture(scope="module")
def hook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hook") / "jobtui.bash"
    path.write_text(subprocess.run([*JOBTUI, "completion", "bash"], capture_output=True, text=True, check=True).stdout)
    return path


def completions(engine: Daemon, hook: Path, line: str, cache: Path) -> list[str]:
    env = {**engine.env, "PATH": f"{Path(JOBTUI[0]).parent}:{os.environ['PATH']}", "XDG_CACHE_HOME": str(cache)}
    done = subprocess.run(
        ["bash", "-c", DRIVER, "driver", str(hook), line], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [word.strip() for word in done.stdout.splitlines() if word.strip()]


@pytest.mark.parametrize("shell", SHELLS)
def test_the_script_is_valid_shell(shell: str, tmp_path: Path) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed here (scripts/ installs it for CI)")
    script = tmp_path / f"jobtui.{shell}"
    done = subprocess.run([*JOBTUI, "completion", shell], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "jobtui" in done.stdout, done.stderr
    script.write_text(done.stdout)
    check = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_the_shipped_scripts_are_what_the_verb_prints() -> None:
    for shell in SHELLS:
        printed = subprocess.run([*JOBTUI, "completion", shell], capture_output=True, text=True, check=True).stdout
        assert (ROOT / "tui" / "completions" / f"jobtui.{shell}").read_text() == printed, shell


def test_verbs_options_and_choices_complete(engine: Daemon, hook: Path, tmp_path: Path) -> None:
    assert completions(engine, hook, "jobtui ca", tmp_path) == ["cancel"]
    assert set(completions(engine, hook, "jobtui completion ", tmp_path)) == set(SHELLS)
    assert "--max-concurrent" in completions(engine, hook, "jobtui concurrency --max", tmp_path)
    assert completions(engine, hook, "jobtui list --format j", tmp_path) == ["json"]


def test_job_ids_and_nodes_come_from_the_engine(engine: Daemon, hook: Path, tmp_path: Path) -> None:
    blocked = engine.cli_json("submit", "--requires-approval", "--name", "gated", "--", "true")["ids"][0]
    done = engine.cli_json("submit", "--name", "quick", "--", "true")["ids"][0]
    assert engine.cli("wait", str(done), "--timeout", "20").returncode == 0
    assert set(completions(engine, hook, "jobtui show ", tmp_path)) >= {str(blocked), str(done)}
    assert completions(engine, hook, "jobtui approve ", tmp_path) == [str(blocked)]  # only jobs awaiting approval
    assert str(blocked) not in completions(engine, hook, "jobtui requeue ", tmp_path)  # only ended jobs
    assert completions(engine, hook, "jobtui submit --node ", tmp_path) == ["local"]
    engine.cli_json("cancel", str(blocked))


def test_without_an_engine_no_ids_and_no_error(hook: Path, tmp_path: Path) -> None:
    nowhere = Daemon(tmp_path / "no-engine")
    assert completions(nowhere, hook, "jobtui show ", tmp_path / "cache") == []


def test_a_tab_loads_nothing_heavy(engine: Daemon, tmp_path: Path) -> None:
    """The second TAB (the parser's skeleton is cached by the first) imports none of HEAVY; its time is
    printed for the record (`pytest -s`)."""
    env = {
        **engine.env,
        "_ARGCOMPLETE": "1",
        "COMP_LINE": "jobtui cancel ",
        "COMP_POINT": "14",
        "_ARGCOMPLETE_STDOUT_FILENAME": str(tmp_path / "answer"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    job_id = engine.cli_json("submit", "--requires-approval", "--", "true")["ids"][0]
    first = subprocess.run(JOBTUI, capture_output=True, env=env, timeout=60)
    assert first.returncode == 0, first.stderr
    started = time.monotonic()
    argv = [sys.executable, "-X", "importtime", *(JOBTUI if len(JOBTUI) == 1 else JOBTUI[1:])]
    second = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    took = time.monotonic() - started
    assert second.returncode == 0, second.stderr
    loaded = {line.split("|")[-1].strip() for line in second.stderr.splitlines() if line.startswith("import time:")}
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(f"{h}.") for h in HEAVY))
    assert heavy == [], heavy
    assert str(job_id) in (tmp_path / "answer").read_text().split()
    print(f"a TAB's completion (job ids from the engine) took {took * 1000:.0f} ms")
    engine.cli_json("cancel", str(job_id))


def test_fish_completes_verbs_and_ids_with_descriptions(engine: Daemon, tmp_path: Path) -> None:
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed here (scripts/install-system-packages.sh installs it for CI)")
    blocked = engine.cli_json("submit", "--requires-approval", "--name", "fishy", "--", "true")["ids"][0]
    script = ROOT / "tui" / "completions" / "jobtui.fish"
    env = {**engine.env, "PATH": f"{Path(JOBTUI[0]).parent}:{os.environ['PATH']}", "XDG_CACHE_HOME": str(tmp_path)}
    asks = f"source {script}; complete -C 'jobtui ca'; complete -C 'jobtui approve '"
    done = subprocess.run(["fish", "-c", asks], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("cancel\t") and f"{blocked}\tfishy [blocked]" in lines, lines
    engine.cli_json("cancel", str(blocked))
