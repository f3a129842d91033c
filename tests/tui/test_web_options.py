"""`jobtui --web`'s options and the command each browser tab runs (the browser itself: test_web_browser.py)."""

from __future__ import annotations

import argparse
import shlex
import socket
from pathlib import Path

import pytest

from engine.errors import ConfigError
from tui.cli import build_parser
from tui.web import DEFAULT_LISTEN, listen_address, public_address, session_command


def test_listen_defaults_to_loopback():
    assert listen_address(None) == DEFAULT_LISTEN == ("127.0.0.1", 8765)
    assert listen_address("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert listen_address("[::1]:0") == ("::1", 0)
    with pytest.raises(ConfigError, match="HOST:PORT"):
        listen_address("localhost")
    with pytest.raises(ConfigError, match="HOST:PORT"):
        listen_address("127.0.0.1:70000")


def test_public_address_names_a_reachable_host():
    assert public_address("127.0.0.1", 8765) == "http://127.0.0.1:8765"
    assert public_address("::1", 8765) == "http://[::1]:8765"
    assert public_address("0.0.0.0", 8765) == f"http://{socket.getfqdn()}:8765"


def test_each_tab_runs_jobtui_on_the_same_state_dir_without_a_secret(tmp_path):
    args = build_parser().parse_args(["--web", "--config", str(tmp_path / "c.yaml"), "--theme", "light"])
    argv = shlex.split(session_command(Path("/srv/jobs state"), args))
    assert argv[1:] == [
        "-m", "tui.cli", "--state-dir", "/srv/jobs state", "--config", str(tmp_path / "c.yaml"), "--theme", "light",
    ]  # fmt: skip
    assert not any("token" in part for part in argv)  # the tab's token travels in its environment
    assert session_command(Path("/s"), argparse.Namespace()).endswith("--state-dir /s")
