"""The wheel a user installs (`pipx install .` builds the same) carries what jobtui needs besides its code:
the themes, the sample configs, the completion scripts, the licence, and complete metadata."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = "jobtui-{version}.data/data/share/jobtui"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0 and "No matching distribution found for setuptools" in done.stderr:
        pytest.skip("building a wheel needs setuptools from the package index, which cannot be reached here")
    assert done.returncode == 0, done.stderr
    (path,) = out.glob("jobtui-*.whl")
    return zipfile.ZipFile(path)


def _metadata(wheel: zipfile.ZipFile) -> tuple[str, dict[str, list[str]]]:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    message = Parser().parsestr(wheel.read(name).decode())
    fields: dict[str, list[str]] = {}
    for key, value in message.items():
        fields.setdefault(key, []).append(value)
    return name.removesuffix(".dist-info/METADATA").split("-")[1], fields


def test_the_wheel_ships_themes_sample_configs_and_completions(wheel: zipfile.ZipFile) -> None:
    version, _ = _metadata(wheel)
    names = set(wheel.namelist())
    data = DATA.format(version=version)
    for theme in (ROOT / "themes").glob("*.yaml"):
        assert f"{data}/themes/{theme.name}" in names, theme.name
    samples = [p for p in (ROOT / "sample_configs").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert samples
    for sample in samples:
        assert f"{data}/sample_configs/{sample.relative_to(ROOT / 'sample_configs')}" in names, sample
    for shell in ("bash", "zsh", "fish"):
        assert f"tui/completions/jobtui.{shell}" in names, shell
    assert "tui/app.tcss" in names


def test_the_metadata_is_complete(wheel: zipfile.ZipFile) -> None:
    _, fields = _metadata(wheel)
    assert fields["License-Expression"] == ["MIT"] and fields["License-File"] == ["LICENSE"]
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel.namelist())
    assert fields["Author"] == ["the jobtui developers"]
    classifiers = fields["Classifier"]
    assert "Environment :: Console" in classifiers and "Operating System :: POSIX :: Linux" in classifiers
    assert any(c.startswith("Programming Language :: Python :: 3.") for c in classifiers)
    assert fields["Requires-Python"] == [">=3.11"] and fields["Summary"][0]
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "jobtui = tui.cli:main" in wheel.read(entry_points).decode()
