"""`jobtui doctor` against this machine: its checks, table, JSON and exit code (no engine running here;
tests/engine/test_cli_doctor.py has the engine and identity checks)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.containment.mode import detect
from tests.fixtures.engine import ROOT
from tui.cli import doctor_checks, main
from tui.cli.doctor_checks import cgroups

NAMES = {"jobtui", "config", "mode", "state dir", "engine", "identity", "node local", "cgroups v2", "gpus"}
NAMES |= {"containment"}
TOOLS = {"rsync", "ssh", "tmux", "setpriv"}


@pytest.fixture(autouse=True)
def _no_outside_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JOBTUI_TOKEN", "JOBTUI_SOCKET", "JOBTUI_HOME"):
        monkeypatch.delenv(name, raising=False)


def doctor(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str, config: str | None = None) -> Any:
    """(exit code, {name: check} from --json) of `jobtui [--config C] --state-dir TMP/state doctor --json`."""
    argv = ["--state-dir", str(tmp_path / "state")]
    if config is not None:
        (tmp_path / "config.yaml").write_text(config)
        argv = ["--config", str(tmp_path / "config.yaml"), *argv]
    code = main([*argv, "doctor", "--json", *args])
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] == (code == 0)
    return code, {c["name"]: c for c in out["checks"]}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections (the kernel completes them; nobody reads)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def test_json_names_every_check_and_a_fresh_default_passes(tmp_path, capsys) -> None:
    code, checks = doctor(tmp_path, capsys)
    assert code == 0
    assert set(checks) == NAMES | TOOLS
    assert all(c["status"] in ("ok", "warn", "fail", "skip") and c["detail"] for c in checks.values())
    assert checks["config"]["status"] == "ok" and "embedded default" in checks["config"]["detail"]
    assert checks["state dir"]["status"] == "ok" and "does not exist yet" in checks["state dir"]["detail"]
    assert checks["engine"]["status"] == "warn" and "jobtui --serve" in checks["engine"]["detail"]
    assert checks["identity"]["status"] == "skip"
    assert checks["node local"] == {"name": "node local", "status": "ok", "detail": "local: this machine"}
    for tool in ("rsync", "ssh", "tmux"):  # what this machine has, as `which` finds it
        found = shutil.which(tool)
        assert checks[tool]["status"] == ("ok" if found else "warn")
        assert (found or "apt install") in checks[tool]["detail"]


def test_state_dir_mode_0755_is_flagged(tmp_path, capsys) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)
    code, checks = doctor(tmp_path, capsys)
    check = checks["state dir"]
    assert code == 0 and check["status"] == "warn"
    assert "mode 0755" in check["detail"] and f"chmod 700 {state}" in check["detail"]

    state.chmod(0o700)
    code, checks = doctor(tmp_path, capsys)
    assert checks["state dir"]["status"] == "ok" and "mode 0700" in checks["state dir"]["detail"]

    if os.geteuid() == 0:  # another user's state dir (root may give it away)
        os.chown(state, 65534, -1)
        _, checks = doctor(tmp_path, capsys)
        assert checks["state dir"]["status"] == "warn" and "not yours" in checks["state dir"]["detail"]
        _, checks = doctor(tmp_path, capsys, config="mode: shared\n")  # a shared engine's is root's
        assert checks["state dir"]["status"] == "warn" and f"chown root {state}" in checks["state dir"]["detail"]


def test_unreachable_nodes_fail_and_exit_1(tmp_path, capsys, listening_port) -> None:
    config = (
        "nodes:\n"
        "  - {name: local, kind: local}\n"
        f"  - {{name: dead, kind: ssh, host: 127.0.0.1, port: {closed_port()}}}\n"
        f"  - {{name: alive, kind: ssh, host: 127.0.0.1, port: {listening_port}, user: ann}}\n"
        "  - {name: behind, kind: slurm, via: dead}\n"
        "  - {name: through, kind: sge, via: alive}\n"
        "  - {name: here, kind: pbs}\n"
    )
    code, checks = doctor(tmp_path, capsys, config=config)
    assert code == 1
    dead = checks["node dead"]
    assert dead["status"] == "fail" and "does not answer (connection refused)" in dead["detail"]
    assert checks["node alive"]["status"] == "ok"
    assert f"ann@127.0.0.1:{listening_port} answers" in checks["node alive"]["detail"]
    assert checks["node behind"]["status"] == "fail" and "via dead" in checks["node behind"]["detail"]
    assert checks["node through"] == {
        "name": "node through",
        "status": "ok",
        "detail": "sge via alive: that node answers",
    }
    here_ok = shutil.which("qsub") and shutil.which("qstat")  # a local cluster: its commands on PATH
    assert checks["node here"]["status"] == ("ok" if here_ok else "fail")


def test_unknown_host_says_to_check_its_name(tmp_path, capsys) -> None:
    config = "nodes:\n  - {name: typo, kind: ssh, host: no-such-host.invalid}\n"
    code, checks = doctor(tmp_path, capsys, config=config)
    assert code == 1 and checks["node typo"]["status"] == "fail"
    assert "host name not found" in checks["node typo"]["detail"]


def test_a_bad_config_is_a_failed_check_not_an_error(tmp_path, capsys) -> None:
    code, checks = doctor(tmp_path, capsys, config="nodes:\n  - {name: x, kind: warp}\n")
    assert code == 1
    assert checks["config"]["status"] == "fail" and "config.yaml:2" in checks["config"]["detail"]
    assert "\n" not in checks["config"]["detail"]
    assert checks["mode"]["status"] == "skip" and checks["nodes"]["status"] == "skip"
    assert checks["state dir"]["status"] == "ok"  # the rest is still checked


def test_human_table_is_aligned_and_sanitised(tmp_path, capsys) -> None:
    config = tmp_path / "evil\x1b]0;pwned\x07.yaml"
    config.write_text("limits: [\n")  # malformed YAML: the message names the file
    code = main(["--config", str(config), "--state-dir", str(tmp_path / "state"), "doctor"])
    out = capsys.readouterr().out
    assert code == 1 and "\x1b" not in out and "\x07" not in out and "evil\\x1b]0;pwned\\x07.yaml" in out
    lines = out.splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "DETAIL"] and "fail" in lines[-1]
    column = lines[0].index("STATUS")
    assert all(line[column - 2 : column] == "  " and line[column] != " " for line in lines[1:-1])
    assert any(line.startswith("config ") and line[column:].startswith("fail") for line in lines)


def test_a_check_that_breaks_is_a_failed_check(tmp_path, capsys, monkeypatch) -> None:
    def broken(*_: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(doctor_checks, "cgroups", broken)
    monkeypatch.setattr(doctor_checks, "tools", broken)
    code, checks = doctor(tmp_path, capsys)
    assert code == 1
    assert checks["cgroups v2"]["status"] == "fail" and "RuntimeError: disk on fire" in checks["cgroups v2"]["detail"]
    assert checks["tools"]["status"] == "fail"


def test_cgroups_of_this_machine_and_of_a_v2_tree(tmp_path) -> None:
    mounted = {f[1]: f[2] for f in (line.split() for line in Path("/proc/self/mounts").read_text().splitlines())}
    real = cgroups()
    assert real.status == ("ok" if mounted.get("/sys/fs/cgroup") == "cgroup2" else "warn")
    if real.status == "warn":
        assert "not cgroup2" in real.detail and "systemd.unified_cgroup_hierarchy=1" in real.detail

    root = tmp_path / "cg"
    root.mkdir()
    mounts = tmp_path / "mounts"
    mounts.write_text(f"tmpfs {root} tmpfs rw 0 0\ncgroup2 {root} cgroup2 rw 0 0\n")
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    assert cgroups(root, mounts).status == "ok"
    (root / "cgroup.controllers").write_text("cpuset cpu io\n")
    partial = cgroups(root, mounts)
    assert partial.status == "warn" and "missing memory pids" in partial.detail
    mounts.write_text(f"tmpfs {root} tmpfs rw 0 0\n")
    assert cgroups(root, mounts).status == "warn"


def test_containment_says_which_mode_the_engine_would_use(tmp_path, capsys) -> None:
    _, checks = doctor(tmp_path, capsys, config="containment: {mode: proc}\n")
    chosen = checks["containment"]
    assert chosen["status"] == "ok" and chosen["detail"].startswith("proc: no cgroups (chosen in the config")
    _, checks = doctor(tmp_path, capsys)
    detected = detect("auto")
    assert checks["containment"]["detail"].startswith(f"{detected.kind}: ")


def test_gpus_as_this_machine_has_them(tmp_path, capsys) -> None:
    _, checks = doctor(tmp_path, capsys)
    smi = shutil.which("nvidia-smi")
    gpus = checks["gpus"]
    assert gpus["status"] in ("ok", "warn") and ("nvidia-smi at" if smi else "nvidia-smi not on PATH") in gpus["detail"]
    if not smi and "GPU(s)" not in gpus["detail"]:  # no GPU here: a local node that claims some is flagged
        _, checks = doctor(tmp_path, capsys, config="nodes:\n  - {name: local, kind: local, gpus: 2}\n")
        assert checks["gpus"]["status"] == "warn" and "NVML sees no GPU" in checks["gpus"]["detail"]


def test_mode_and_setpriv(tmp_path, capsys, monkeypatch) -> None:
    root = os.geteuid() == 0
    _, checks = doctor(tmp_path, capsys, config="mode: shared\n")
    assert checks["mode"]["status"] == ("ok" if root else "warn") and "shared" in checks["mode"]["detail"]
    assert checks["setpriv"]["status"] == ("ok" if shutil.which("setpriv", path=doctor_checks.SYSTEM_PATH) else "fail")

    monkeypatch.setattr(doctor_checks, "SYSTEM_PATH", str(tmp_path / "empty"))  # setpriv nowhere
    code, checks = doctor(tmp_path, capsys, config="mode: shared\n")
    assert code == 1 and checks["setpriv"]["status"] == "fail" and "util-linux" in checks["setpriv"]["detail"]
    code, checks = doctor(tmp_path, capsys)  # personal mode does not need it
    assert checks["setpriv"]["status"] == "warn"
    _, checks = doctor(tmp_path, capsys)
    assert checks["mode"]["status"] == ("warn" if root else "ok") and "personal" in checks["mode"]["detail"]


def test_doctor_loads_no_textual_and_prints_no_traceback(tmp_path) -> None:
    (tmp_path / "bad.yaml").write_text("nodes: {\n")
    probe = (
        "import sys\nfrom tui.cli import main\n"
        f"code = main(['--config', {str(tmp_path / 'bad.yaml')!r}, '--state-dir', {str(tmp_path)!r}, 'doctor'])\n"
        "assert 'textual' not in sys.modules, 'doctor loaded Textual'\nsys.exit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stderr == "" and "Traceback" not in done.stdout and "config " in done.stdout


def test_gpus_counted_through_nvml(tmp_path, monkeypatch) -> None:
    """NVML as a GPU machine's: the count; NVML failing where nvidia-smi exists: a warning."""

    class NVMLError(Exception):
        pass

    calls: list[str] = []
    fake = types.SimpleNamespace(
        NVMLError=NVMLError,
        nvmlInit=lambda: calls.append("init"),
        nvmlDeviceGetCount=lambda: 2,
        nvmlShutdown=lambda: calls.append("shutdown"),
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    check = doctor_checks.gpus(None)
    assert (
        check.status == "ok"
        and check.detail.startswith("2 NVIDIA GPU(s) through NVML")
        and calls == ["init", "shutdown"]
    )

    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    smi.write_text("#!/bin/sh\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(smi.parent))

    def no_driver() -> None:
        raise NVMLError("Driver Not Loaded")

    fake.nvmlInit = no_driver
    check = doctor_checks.gpus(None)
    assert check.status == "warn" and "Driver Not Loaded" in check.detail and f"nvidia-smi at {smi}" in check.detail
