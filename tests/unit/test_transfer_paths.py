"""Path checks for staging: nothing may leave the job's directory on the node."""

from __future__ import annotations

import os

import pytest

from engine.remote.transfer import PathEscape, check_relative, input_name, within


@pytest.mark.parametrize(
    ("path", "normal"),
    [
        ("out/result.txt", "out/result.txt"),
        ("./a//b/", "a/b"),
        ("*.dat", "*.dat"),
        ("; touch x", "; touch x"),
        ("$(rm -rf ~)", "$(rm -rf ~)"),
        ("a/./b/*.h5", "a/b/*.h5"),
        ("..foo", "..foo"),
    ],
)
def test_relative_paths_below_the_root_pass(path, normal):
    assert check_relative(path) == normal


@pytest.mark.parametrize(
    "path", ["", ".", "/etc/passwd", "~/x", "~root/x", "../x", "a/../../x", "a/..", "x\x00y", "a\nb", "./", "//"]
)
def test_escaping_or_unusable_paths_are_refused(path):
    with pytest.raises(PathEscape):
        check_relative(path)


def test_within():
    assert within("/home/u/w", "/home/u/w/a/b")
    assert within("/home/u/w", "/home/u/w")
    assert within("/home/u/w/", "/home/u/w/x/../y")
    assert not within("/home/u/w", "/home/u/w2/a")
    assert not within("/home/u/w", "/home/u/w/../v")
    assert not within("/home/u/w", "/etc/passwd")


def test_input_names_are_the_last_component():
    assert input_name("/data/run 1/mesh.inp") == "mesh.inp"
    assert input_name("/data/dir/") == "dir"
    assert input_name("; touch x") == "; touch x"
    with pytest.raises(PathEscape):
        input_name("/")
    with pytest.raises(PathEscape):
        input_name(os.sep + "..")
