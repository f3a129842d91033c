"""The config file: defaults, strict validation whose errors name file, line and field, state-dir precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import Config, LocalNode, load_config, resolve_state_dir
from engine.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jobtui.yaml"
    path.write_text(text)
    return path


def refused(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.exit_code == 2
    return str(info.value)


def test_no_file_means_the_embedded_defaults() -> None:
    config = load_config(None)
    assert config.limits.max_concurrent == 5
    assert config.limits.user_max_concurrent == 2
    assert config.limits.team_max_concurrent == 10
    assert config.limits.fair_share is False
    assert config.nodes == [LocalNode(name="local")]
    assert config.owner_role == "admin"


def test_empty_file_is_the_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "# nothing here\n")) == Config()


def test_a_valid_file_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
limits:
  max_concurrent: 8
  fair_share: true
users:
  ann: {role: lead, team: fem}
nodes:
  - {name: ws1, kind: local, cores: 4, labels: {os: linux}}
""",
    )
    config = load_config(path)
    assert config.limits.max_concurrent == 8 and config.limits.fair_share is True
    assert config.limits.user_max_concurrent == 2  # untouched keys keep their defaults
    assert config.role_of("ann", owner="root") == "lead" and config.team_of("ann") == "fem"
    assert config.role_of("root", owner="root") == "admin"
    assert config.role_of("stranger", owner="root") == "researcher"
    assert config.nodes[0].labels == {"os": "linux"}


def test_unknown_key_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "limits:\n  max_concurrent: 3\n  max_concurent: 4\n")
    message = refused(path)
    assert f"{path}:3" in message
    assert "limits.max_concurent" in message
    assert "unknown key" in message


def test_wrong_type_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "nodes:\n  - name: a\n    kind: local\n    cores: many\n")
    message = refused(path)
    assert f"{path}:4" in message and "nodes.0.cores" in message and "integer" in message


def test_negative_limit_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "limits:\n  max_concurrent: 4\n  user_max_concurrent: -1\n")
    message = refused(path)
    assert f"{path}:3" in message and "limits.user_max_concurrent" in message and "greater than" in message


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "limits:\n  max_concurrent: 3\n bad: [\n")
    message = refused(path)
    assert f"{path}:3" in message and "malformed YAML" in message


def test_every_problem_is_listed(tmp_path: Path) -> None:
    path = write(tmp_path, "limits:\n  max_concurrent: 0\nusers:\n  ann: {role: boss}\n")
    message = refused(path)
    assert f"{path}:2" in message and "limits.max_concurrent" in message
    assert f"{path}:4" in message and "users.ann.role" in message


def test_bad_progress_regex_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "progress_patterns:\n  - name: x\n    regex: '(['\n    marker: x\n")
    message = refused(path)
    assert f"{path}:3" in message and "progress_patterns.0.regex" in message and "regular expression" in message


def test_duplicate_node_names_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "nodes:\n  - {name: a, kind: local}\n  - {name: a, kind: local}\n")
    assert "repeated: a" in refused(path)


def test_via_must_name_an_ssh_node(tmp_path: Path) -> None:
    path = write(tmp_path, "nodes:\n  - {name: a, kind: local}\n  - {name: c, kind: slurm, via: a}\n")
    assert "must name an ssh node" in refused(path)


def test_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "- a\n- b\n")
    assert f"{path}:1" in refused(path)


def test_missing_file_says_so(tmp_path: Path) -> None:
    message = refused(tmp_path / "nope.yaml")
    assert "nope.yaml" in message and "cannot read" in message


def test_state_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = Config(state_dir=tmp_path / "from-config")
    monkeypatch.setenv("JOBTUI_HOME", str(tmp_path / "from-env"))
    assert resolve_state_dir(tmp_path / "from-cli", config) == tmp_path / "from-cli"
    assert resolve_state_dir(None, config) == tmp_path / "from-env"
    monkeypatch.delenv("JOBTUI_HOME")
    assert resolve_state_dir(None, config) == tmp_path / "from-config"
    fallback = resolve_state_dir(None, Config())
    assert fallback.name == "jobtui" and fallback.is_absolute()


def test_state_dir_expands_the_home_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOBTUI_HOME", raising=False)
    assert resolve_state_dir(Path("~/x"), Config()) == Path.home() / "x"
    assert resolve_state_dir(None, Config(state_dir=Path("~/y"))) == Path.home() / "y"
