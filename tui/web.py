"""`jobtui --web [--listen HOST:PORT]`: the TUI in a browser, served by textual-serve.

Each browser tab gets its own `jobtui` process (textual-serve runs one per websocket) attached to the engine
of the state directory; with no engine running, this process hosts one for as long as it serves.

Access follows the TCP API's rule: a token the engine knows, or nothing. The URL printed at start carries
the owner's token (`?token=`); another user opens it with their own (`jobtui token USER`). A valid token is
checked with the engine (`me()`), traded for a session cookie (HttpOnly, SameSite=Strict) and dropped from
the address bar; the page, its assets and its websocket are served only to that cookie, and each tab's
`jobtui` presents the token it came with ($JOBTUI_TOKEN), so the engine knows who acts. Loopback by default.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import secrets
import shlex
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server

from engine.api.client import HttpClient
from engine.api.discovery import SOCKET_NAME, engine_running, shared_engine_reachable
from engine.api.tokens import read_owner_token
from engine.errors import ConfigError, EngineUnavailable, JobTuiError, NotAuthenticated
from tui.context import TOKEN_ENV, load_context, load_token

log = logging.getLogger(__name__)
DEFAULT_LISTEN = ("127.0.0.1", 8765)
COOKIE = "jobtui_web"
TOKEN_PARAM = "token"
SESSION_KEY = web.RequestKey("jobtui_token", str)
WILDCARDS = ("", "0.0.0.0", "::")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class TokenGate:
    """Which browser may use the console: one that presented a token the engine knows (checked once with
    the engine, then remembered as a random session key in a cookie)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.sessions: dict[str, str] = {}  # session key -> the token it was opened with

    async def user_of(self, token: str) -> str | None:
        """The engine's user for `token`; None when the engine does not know it."""
        client = HttpClient(self.state_dir / SOCKET_NAME, token, getpass.getuser())
        try:
            return str((await client.me()).get("user") or "") or None
        except NotAuthenticated:
            return None
        finally:
            await client.close()

    def open_session(self, token: str) -> str:
        key = secrets.token_urlsafe(32)
        self.sessions[key] = token
        return key

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        token = request.query.get(TOKEN_PARAM)
        if token is not None:
            return await self._sign_in(request, token)
        session = self.sessions.get(request.cookies.get(COOKIE, ""))
        if session is None:
            return _refused(
                401,
                "open the address that `jobtui --web` printed: it carries a token (…/?token=…). Another user "
                "opens it with their own token (the engine's owner issues it: `jobtui token USER`).",
            )
        if request.path == "/ws" and not _same_origin(request):
            return _refused(403, "the console's websocket answers only its own page.")
        request[SESSION_KEY] = session
        return await handler(request)

    async def _sign_in(self, request: web.Request, token: str) -> web.StreamResponse:
        try:
            user = await self.user_of(token)
        except JobTuiError as e:
            return _refused(503, f"the engine does not answer ({e.message}); reload this page in a moment.")
        if user is None:
            return _refused(401, "the engine does not know this token; ask its owner for one (`jobtui token USER`).")
        rest = {k: v for k, v in request.query.items() if k != TOKEN_PARAM}
        response = web.HTTPSeeOther(request.path + (f"?{urlencode(rest)}" if rest else ""))
        response.set_cookie(
            COOKIE, self.open_session(token), httponly=True, samesite="Strict", path="/", secure=request.secure
        )
        log.info("web console: a session for %s", user)
        return response


def _refused(status: int, why: str) -> web.Response:
    return web.Response(status=status, text=f"jobtui web console: {why}\n", content_type="text/plain")


def _same_origin(request: web.Request) -> bool:
    """A websocket opened by the console's own page (browsers always send Origin with one)."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


class TokenEnvironment(AppService):
    """One tab's `jobtui` process, presenting the token its browser signed in with."""

    def __init__(self, command: str, token: str, **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self.token = token

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width=width, height=height)
        environment[TOKEN_ENV] = self.token
        return environment


class WebConsole(Server):
    """textual-serve's server behind a `TokenGate`, each tab's process with its own token."""

    def __init__(self, command: str, gate: TokenGate, host: str, port: int) -> None:
        super().__init__(command, host=host, port=port, title="jobtui")
        self.gate = gate

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self.gate.middleware)
        return app

    async def on_startup(self, app: web.Application) -> None:
        """Quiet: `serve_web` says where it serves."""

    async def handle_index(self, request: web.Request) -> Any:
        # The page's websocket goes to the host the browser used (its cookie belongs to that host). The
        # index handler reads `public_url` before its first await, so no other request sees this one's.
        self.public_url = f"{request.scheme}://{request.host}"
        return await super().handle_index(request)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        websocket = web.WebSocketResponse(heartbeat=15)
        width = _int(request.query.get("width"), 80)
        height = _int(request.query.get("height"), 24)
        service: AppService | None = None
        try:
            await websocket.prepare(request)
            service = TokenEnvironment(
                self.command,
                request[SESSION_KEY],
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=websocket.close,
                download_manager=self.download_manager,
                debug=self.debug,
            )
            await service.start(width, height)
            await self._process_messages(websocket, service)
        except asyncio.CancelledError:
            await websocket.close()
        except Exception:
            log.exception("web console: a session failed")
        finally:
            if service is not None:
                await service.stop()
        return websocket


def _int(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() else default


def session_command(state_dir: Path, args: argparse.Namespace) -> str:
    """The command line of one tab's TUI: this Python, this state directory and config (no secret in it)."""
    argv = [sys.executable, "-m", "tui.cli", "--state-dir", str(state_dir)]
    if getattr(args, "config", None):
        argv += ["--config", str(args.config)]
    if getattr(args, "theme", None):
        argv += ["--theme", args.theme]
    return shlex.join(argv)


def listen_address(value: str | None) -> tuple[str, int]:
    if not value:
        return DEFAULT_LISTEN
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"--listen {value!r}: give HOST:PORT, e.g. 127.0.0.1:8765 (port 0: any free one).")
    return host, int(port)


def public_address(host: str, port: int) -> str:
    """The address a browser uses: this machine's name for a wildcard address, brackets for IPv6."""
    name = socket.getfqdn() if host in WILDCARDS else host
    return f"http://{f'[{name}]' if ':' in name else name}:{port}"


def bind(address: tuple[str, int]) -> socket.socket:
    host, port = address
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return socket.create_server((host, port), family=family)
    except (OSError, OverflowError) as e:
        raise ConfigError(
            f"--listen {host}:{port}: cannot listen there ({getattr(e, 'strerror', None) or e}); choose another "
            "address or port."
        ) from e


async def serve_web(args: argparse.Namespace) -> int:
    """Serve the console until SIGINT/SIGTERM; host an engine meanwhile if none runs on the state directory."""
    config, state_dir = load_context(args)
    token = load_token(args)
    if shared_engine_reachable():
        raise ConfigError(
            "--web serves a personal engine; a shared engine (mode: shared) knows its callers by their Unix "
            "account, which a browser does not have. Run `jobtui --web` as the engine's owner on a personal one."
        )
    sock = bind(listen_address(args.listen))
    host = None
    runner: web.AppRunner | None = None
    try:
        if not engine_running(state_dir):
            from engine.api.daemon import EngineHost

            host = EngineHost(config, state_dir)
            await host.start()
        token = token or read_owner_token(state_dir)
        if token is None:
            raise EngineUnavailable(
                f"the engine on {state_dir} runs, but its owner's token there cannot be read; give yours with "
                "--token FILE or $JOBTUI_TOKEN."
            )
        listen_host, port = sock.getsockname()[:2]
        url = public_address(listen_host, port)
        console = WebConsole(session_command(state_dir, args), TokenGate(state_dir), listen_host, port)
        runner = web.AppRunner(await console._make_app(), handle_signals=False, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        engine = "hosting the engine" if host is not None else "attached to the running engine"
        print(f"jobtui web console on {url} ({engine} of {state_dir}); Ctrl-C stops it", file=sys.stderr, flush=True)
        print(f"open: {url}/?{urlencode({TOKEN_PARAM: token})}", flush=True)  # the token: this terminal's user's
        await stop.wait()
    finally:
        if runner is not None:
            await runner.cleanup()
        sock.close()
        if host is not None:
            with contextlib.suppress(Exception):
                await host.stop()
    return 0
