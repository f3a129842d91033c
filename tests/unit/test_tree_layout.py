"""Job trees, the pure parts: scanning a tree (order, edges, every bad input with its file:line), placeholder
values (shell metacharacters refused) and the specs a tree becomes."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ValidationError
from engine.service.jobspec import batch_order, parse_specs
from engine.trees import placeholders
from engine.trees.layout import scan
from engine.trees.specs import tree_specs


def write_tree(root: Path, layout: dict[str, dict[str, str]]) -> Path:
    """{directory: {file name: text}}; directory '.' is the root itself."""
    for directory, files in layout.items():
        where = root / directory
        where.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (where / name).write_text(text)
    return root


def chain(*ids: str) -> dict[str, str]:
    files = {}
    for n, job_id in enumerate(ids):
        files[f"qsub.{job_id}"] = f"echo {job_id}\ntouch qsub.finished.{job_id}\n"
        files[f"qsub.dependency.{job_id}"] = f"qsub.finished.{ids[n - 1]}\n" if n else ""
    return files


def test_order_edges_and_the_root(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"b": chain("0", "2", "10"), "a": chain("lda", "gw.1"), ".": chain("9")})
    (tmp_path / "data").mkdir()  # no scripts: not a directory of the tree
    tree = scan(tmp_path)
    assert [j.key for j in tree.jobs] == ["./9", "a/gw.1", "a/lda", "b/0", "b/2", "b/10"]  # names as text; 10 after 2
    assert [j.after for j in tree.jobs] == [(), ("lda",), (), (), ("0",), ("2",)]
    assert (
        tree.directories == [".", "a", "b"]
        and tree.path(tree.jobs[1]) == root / "a"
        and tree.path(tree.jobs[0]) == root
    )


def test_an_empty_dependency_file_and_blank_lines(tmp_path: Path) -> None:
    write_tree(tmp_path, {"m": {"qsub.1": "", "qsub.dependency.1": "\n\n", "qsub.2": "",
                                "qsub.dependency.2": "\nqsub.finished.1\n\nqsub.finished.1\n"}})  # fmt: skip
    assert [j.after for j in scan(tmp_path).jobs] == [(), ("1",)]


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("../x", "leaves this directory"),
        ("../m/qsub.finished.1", "leaves this directory"),
        ("/etc/passwd", "absolute path"),
        ("~/x", "absolute path"),
        ("qsub.finished.1\rrm -rf x", "control character"),
        ("qsub.finished.1\x00", "control character"),
        ("sub/../../x", "leaves this directory"),
        ("./", "names no file"),
        ("qsub.finished.7", "does not have"),
        ("qsub.finished.2", "its own marker"),
        ("qsub.finished.a b", "not a job id"),
    ],
)
def test_bad_dependency_lines_name_the_file_and_line(tmp_path: Path, line: str, said: str) -> None:
    write_tree(tmp_path, {"m": {"qsub.1": "", "qsub.dependency.1": "", "qsub.2": "",
                                "qsub.dependency.2": f"qsub.finished.1\n{line}\n"}})  # fmt: skip
    with pytest.raises(ValidationError) as e:
        scan(tmp_path)
    assert f"{tmp_path / 'm' / 'qsub.dependency.2'}:2:" in e.value.message and said in e.value.message
    assert "\n" not in e.value.message


def test_other_files_are_waited_for_below_the_directory(tmp_path: Path) -> None:
    """A line that is not the marker of a job of the directory is a file the job waits for on the node (its
    `wait_for_files`), normalised, once each; the markers stay edges."""
    deps = "qsub.finished.1\nPOSCAR\n./sub//ctrl.dat\nPOSCAR\nsub/qsub.finished.1\n"
    write_tree(tmp_path, {"m": {"qsub.1": "", "qsub.dependency.1": "", "qsub.2": "", "qsub.dependency.2": deps}})
    tree = scan(tmp_path)
    assert [(j.after, j.files) for j in tree.jobs] == [
        ((), ()),
        (("1",), ("POSCAR", "sub/ctrl.dat", "sub/qsub.finished.1")),
    ]
    specs = tree_specs(tree, "local")
    assert "wait_for_files" not in specs[0]
    assert specs[1]["wait_for_files"] == ["POSCAR", "sub/ctrl.dat", "sub/qsub.finished.1"] and specs[1]["after"] == [
        "m/1"
    ]
    batch_order(parse_specs(specs))  # the engine's own checks pass


@pytest.mark.parametrize("name", ["qsub.a b", "qsub.1;rm", "qsub.x$y", "qsub.1~", "qsub.é"])
def test_an_id_that_is_not_a_number_or_a_name_is_refused(tmp_path: Path, name: str) -> None:
    write_tree(tmp_path, {"m": {name: "", f"qsub.dependency.{name[5:]}": ""}})
    with pytest.raises(ValidationError, match="is not a job id"):
        scan(tmp_path)


def test_a_missing_dependency_file_a_cycle_and_an_empty_tree(tmp_path: Path) -> None:
    write_tree(tmp_path / "t1", {"m": {"qsub.1": ""}})
    with pytest.raises(ValidationError, match=r"qsub.dependency.1: missing; every qsub.1 needs"):
        scan(tmp_path / "t1")
    write_tree(tmp_path / "t2", {"m": {"qsub.1": "", "qsub.dependency.1": "qsub.finished.2", "qsub.2": "",
                                       "qsub.dependency.2": "qsub.finished.1"}})  # fmt: skip
    with pytest.raises(ValidationError, match=r"dependency cycle qsub.1 -> qsub.2 -> qsub.1"):
        scan(tmp_path / "t2")
    (tmp_path / "t3" / "m").mkdir(parents=True)
    with pytest.raises(ValidationError, match="no qsub"):
        scan(tmp_path / "t3")
    with pytest.raises(ValidationError, match="not a directory"):
        scan(tmp_path / "absent")


def test_a_stray_dependency_file_is_a_warning(tmp_path: Path) -> None:
    write_tree(tmp_path, {"m": {"qsub.1": "", "qsub.dependency.1": "", "qsub.dependency.5": ""}})
    assert [w.endswith("no qsub.5 beside it; ignored.") for w in scan(tmp_path).warnings] == [True]


# -- placeholders ---------------------------------------------------------------------------------------------


def test_placeholder_values_are_checked() -> None:
    ok = placeholders.parse_sets(["binpath=/opt/ecalj/bin", "maxcore=16", "host=user@hpc:~/w,x+y%z=1"])
    assert ok == {"binpath": "/opt/ecalj/bin", "maxcore": "16", "host": "user@hpc:~/w,x+y%z=1"}
    for bad in ["binpath=/x;rm -rf ~", "binpath=a\nb", "binpath=$(id)", "binpath=`id`", "binpath=a b",
                "binpath=a|b", "binpath=a>b", "binpath=*", "binpath=a\x00", "binpath=", "binpath='x'"]:  # fmt: skip
        with pytest.raises(ValidationError, match="unquoted, so only letters") as e:
            placeholders.parse_sets([bad])
        assert "\n" not in e.value.message.replace(repr(bad.partition("=")[2]), "")
    for bad in ["novalue", "1x=2", "=v"]:
        with pytest.raises(ValidationError, match="write NAME=VALUE"):
            placeholders.parse_sets([bad])
    with pytest.raises(ValidationError, match="whole number"):
        placeholders.parse_sets(["maxcore=lots"])
    with pytest.raises(ValidationError, match="twice"):
        placeholders.parse_sets(["a=1", "a=2"])


def test_substitute_and_warnings(tmp_path: Path) -> None:
    script = tmp_path / "qsub.1"
    script.write_text("__binpath__/lmf -np __maxcore__ __pythonpath__ __binpath__\n")
    values = {"binpath": "/b", "maxcore": "8", "nowhere": "x"}
    assert placeholders.unused(values, [script]) == [
        "--set nowhere: __nowhere__ appears in no qsub script; nothing replaced.",
        "__pythonpath__ appears in the scripts but no --set pythonpath=... was given; it is left as is.",
    ]
    assert placeholders.substitute(script, values)
    assert script.read_text() == "/b/lmf -np 8 __pythonpath__ /b\n"
    assert not placeholders.substitute(script, values)


# -- specs -------------------------------------------------------------------------------------------------------


def test_the_tree_as_specs(tmp_path: Path) -> None:
    write_tree(tmp_path, {"si": chain("0", "1"), "gaas": chain("0")})
    specs = tree_specs(scan(tmp_path), "local")
    assert [s["key"] for s in specs] == ["gaas/0", "si/0", "si/1"]
    si1 = specs[2]
    assert si1["name"] == "si/qsub.1" and si1["tags"] == ["si"] and si1["node"] == "local"
    assert si1["workdir"] == str((tmp_path / "si").resolve()) and si1["after"] == ["si/0"]
    assert si1["command"] == ["sh", "qsub.1"] and si1["success_file"] == "qsub.finished.1"
    batch_order(parse_specs(specs))  # the engine's own checks pass
    later = tree_specs(scan(tmp_path), "local", {"si/0": 41}, {"si/1"})
    assert [(s["key"], s["after"]) for s in later] == [("si/1", [41])]
