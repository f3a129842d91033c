"""The batched file check a remote node runs (`file_checks.MISSING_SCRIPT`), run here by a real `sh`: paths on its
stdin (spaces, quotes, `$`, `~/`, thousands of them), the missing ones back, nothing read as code; and the same
answer as the local check."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from engine.executors.file_checks import MISSING_SCRIPT, SEPARATOR, missing_here, parse_missing, paths_input


def _sh(paths: list[str], home: Path) -> set[str]:
    env = {**os.environ, "HOME": str(home)}
    argv = ["sh", "-c", MISSING_SCRIPT]
    done = subprocess.run(argv, input=paths_input(paths), capture_output=True, env=env, timeout=30, check=True)
    return parse_missing(done.stdout.decode(), paths)


def test_the_missing_files_come_back_and_no_name_runs(tmp_path: Path) -> None:
    names = ["plain", "with space", "quote'\"", "$(touch pwned)", "`touch pwned`", "a;touch pwned", "-n", "*"]
    for name in names[::2]:
        (tmp_path / name).write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x").write_text("")
    paths = [str(tmp_path / n) for n in names] + [str(tmp_path / "sub" / "x"), "~/sub/x", "~/sub/y"]
    missing = _sh(paths, tmp_path)
    assert missing == {str(tmp_path / n) for n in names[1::2]} | {"~/sub/y"}
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    assert missing_here([p for p in paths if not p.startswith("~")]) == {str(tmp_path / n) for n in names[1::2]}


def test_thousands_of_paths_in_one_go(tmp_path: Path) -> None:
    paths = [str(tmp_path / f"f{n}") for n in range(5000)]
    for path in paths[::7]:
        Path(path).write_text("")
    assert _sh(paths, tmp_path) == set(paths) - set(paths[::7])


def test_a_listing_and_the_check_in_one_answer() -> None:
    """What a cluster's combined query prints: the listing, the separator, the missing files."""
    listing, found, files = f"job 1 r\njob 2 qw\n{SEPARATOR}\n/w/a\n/w/b\n".rpartition(f"\n{SEPARATOR}\n")
    assert found and listing == "job 1 r\njob 2 qw" and parse_missing(files, ["/w/a", "/w/c"]) == {"/w/a"}
