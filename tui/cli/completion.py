"""Shell completion (bash, zsh, fish) from the argparse parser itself, with argcomplete.

argcomplete, not a static script generator (shtab knows no fish): `jobtui completion SHELL` prints the
shell's hook (argcomplete's shellcode, also shipped as `tui/completions/jobtui.SHELL`); on TAB the shell
runs `jobtui` with `_ARGCOMPLETE` set, and `tui.cli.main` answers through `complete` before anything heavy
is loaded: the parser's skeleton (cached JSON, `parser_skeleton`), the completers below, and nothing of
Textual, the engine or an HTTP client. Verbs, options and choices come from the parser, so a new verb
completes with no change here. Job ids (an argument named `id` or `ids`) and node names (`--node`) come
from the engine running on the state directory, asked over its socket with the standard library, within
`ENGINE_TIMEOUT`; with no engine, nothing is offered for them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

SHELLS = ("bash", "zsh", "fish")
ENGINE_TIMEOUT = 1.0  # seconds: a TAB that waits longer feels broken
RECENT_JOBS = 500  # job ids offered: the newest this many
ID_DESTS = ("id", "ids")
# Which jobs each verb can act on; a verb not named here takes any job.
STATUSES_FOR = {
    "cancel": {"blocked", "waiting", "starting", "running"},
    "approve": {"blocked"},
    "reject": {"blocked"},
    "requeue": {"completed", "failed", "missing", "cancelled", "skipped"},
    "priority": {"blocked", "waiting"},
    "position": {"blocked", "waiting"},
    "wait": {"blocked", "waiting", "starting", "running"},
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")


async def cmd_completion(args: argparse.Namespace) -> int:
    print(shell_code(args.shell), end="")
    return 0


def shell_code(shell: str) -> str:
    """The script that hooks `jobtui` completion into `shell`."""
    import argcomplete

    return str(argcomplete.shellcode(["jobtui"], shell=shell))


def complete(build: Callable[[], argparse.ArgumentParser]) -> int:
    """Answer the shell's completion request (argcomplete ends the process); 0 when there was none.

    The parser comes from its skeleton in the user's cache (`parser_skeleton`), built with `build` the
    first time after an install or upgrade."""
    import argcomplete
    import platformdirs

    from tui.cli.parser_skeleton import cached_parser

    parser = cached_parser(build, Path(platformdirs.user_cache_dir("jobtui")))
    attach_completers(parser)
    argcomplete.autocomplete(parser, always_complete_options=False)
    return 0


def attach_completers(parser: argparse.ArgumentParser) -> None:
    """Job ids for every verb's `id`/`ids` argument, node names for `--node`, wherever a verb has them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for verb, sub in action.choices.items():
                for arg in sub._actions:
                    if arg.dest in ID_DESTS:
                        arg.completer = JobIds(STATUSES_FOR.get(verb))
                    elif arg.dest == "node":
                        arg.completer = node_names


class JobIds:
    """Completes the ids of the engine's newest jobs in `statuses` (any status when None), each with its name."""

    def __init__(self, statuses: set[str] | None) -> None:
        self.statuses = statuses

    def __call__(self, prefix: str, parsed_args: argparse.Namespace, **_: Any) -> dict[str, str]:
        answer = ask_engine(parsed_args, f"/api/queue?include_completed=true&limit={RECENT_JOBS}")
        jobs = answer.get("jobs", []) if isinstance(answer, dict) else []
        return {
            str(job["id"]): f"{job.get('name', '')} [{job.get('status', '')}]"
            for job in jobs
            if str(job.get("id", "")).startswith(prefix)
            and (self.statuses is None or job.get("status") in self.statuses)
        }


def node_names(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> dict[str, str]:
    answer = ask_engine(parsed_args, "/api/nodes")
    nodes = answer.get("nodes", []) if isinstance(answer, dict) else []
    return {
        str(n["name"]): f"{n.get('kind', '')} {'up' if n.get('reachable') else 'down'}"
        for n in nodes
        if str(n.get("name", "")).startswith(prefix)
    }


def ask_engine(parsed_args: argparse.Namespace, path: str) -> Any:
    """GET `path` from the engine of the state directory the command line names; None when it cannot answer."""
    from engine.api.discovery import SOCKET_NAME, shared_socket
    from engine.api.tokens import read_owner_token

    shared = shared_socket()
    state_dir = completion_state_dir(parsed_args)
    sock = shared or state_dir / SOCKET_NAME
    token = _token(parsed_args) or (None if shared else read_owner_token(state_dir))
    connection = _UnixHTTPConnection(sock, ENGINE_TIMEOUT)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return json.loads(response.read()) if response.status == 200 else None
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def completion_state_dir(parsed_args: argparse.Namespace) -> Path:
    """The state directory as `tui.context` resolves it, without loading the config model: --state-dir,
    $JOBTUI_HOME, the `state_dir` of --config's file, the platform's data directory."""
    given = getattr(parsed_args, "state_dir", None)
    if given:
        return Path(given).expanduser()
    if os.environ.get("JOBTUI_HOME"):
        return Path(os.environ["JOBTUI_HOME"]).expanduser()
    config = getattr(parsed_args, "config", None)
    if config:
        try:
            import yaml

            value = (yaml.safe_load(Path(config).read_text()) or {}).get("state_dir")
            if value:
                return Path(str(value)).expanduser()
        except (OSError, ValueError, AttributeError, yaml.YAMLError):
            pass
    import platformdirs

    return Path(platformdirs.user_data_dir("jobtui"))


def _token(parsed_args: argparse.Namespace) -> str | None:
    path = getattr(parsed_args, "token", None)
    try:
        token = Path(path).read_text().strip() if path else os.environ.get("JOBTUI_TOKEN", "").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return token or None


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the engine's Unix socket, with the standard library alone (no HTTP client to load)."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("jobtui", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.socket_path))
        except OSError:
            sock.close()
            raise
        self.sock = sock
