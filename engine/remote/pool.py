"""asyncssh connection pool: one connection per host, shared by every job on it.

A `SshHost` owns the connection to one endpoint. A single connector task opens it (and re-opens it
after a drop) with capped exponential back-off and at most `max_connects_per_minute` new connections a
minute; keepalive detects a dead link. Concurrent channels are capped at `max_channels` (sshd refuses
the 11th session of a connection at once). Host keys are always verified against known_hosts; an
unknown or changed key is refused before any command runs. A host down longer than
`unreachable_after` is reported to the listeners as unreachable, and as reachable when it is back.

`SshHost.script` runs a POSIX-sh script on a few long-lived remote `/bin/sh` processes fed on stdin
(at most `SHELLS`, each holding one channel slot), which saves opening a channel and starting a login
shell per command. The script and its data travel on stdin, never on a command line; each answer ends
with a random marker, so a reply is never confused with the next one. Without a free slot it falls back
to one `/bin/sh -s` channel per script. `open_process` gives a node agent (`agent.NodeAgent`) a slot of
its own for as long as it runs, only while the shells and a one-shot command still have theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import shlex
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import asyncssh

from engine.config import SshNode
from engine.errors import JobTuiError
from engine.remote.commands import CommandResult

log = logging.getLogger(__name__)

BACKOFF_START = 0.5
KEEPALIVE_COUNT_MAX = 3
CHANNEL_RETRIES = 6
SHELLS = 2  # long-lived remote shells per host (each holds a channel slot)
SHELL_REQUESTS = 2000  # a shell is replaced after this many scripts (its job table only grows)
# asyncssh's defaults, AES-GCM first: about a quarter of ChaCha20-Poly1305's CPU per packet in asyncssh
# (which builds new cipher objects for every ChaCha20 packet), and as strong.
CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)


class SshUnreachable(JobTuiError):
    """The host cannot be reached now; the caller may try again later."""

    title = "Node unreachable"


class SshRefused(JobTuiError):
    """The host answered but refused us (host key, authentication): retrying will not help."""

    title = "SSH connection refused"


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_script(env: dict[str, str]) -> bytes:
    """POSIX-sh `export NAME=value` lines (values quoted with shlex) for a remote shell to source."""
    lines = ["# jobtui environment\n"]  # never empty: an empty stdin would not be closed
    for name, value in env.items():
        if not _ENV_NAME.match(name):
            raise JobTuiError(f"environment variable name {name!r} is not valid; use letters, digits and _.")
        lines.append(f"export {name}={shlex.quote(value)}\n")
    return "".join(lines).encode()


def endpoint(cfg: SshNode) -> str:
    user = f"{cfg.user}@" if cfg.user else ""
    return f"{user}{cfg.host}:{cfg.port}"


def known_hosts_file(cfg: SshNode) -> Path:
    return (cfg.known_hosts or Path("~/.ssh/known_hosts")).expanduser()


def host_key_error(cfg: SshNode, cause: Exception) -> SshRefused:
    """A host-key refusal that says whether the key is unknown or changed, and how to trust it."""
    path = known_hosts_file(cfg)
    target = cfg.host if cfg.port == 22 else f"[{cfg.host}]:{cfg.port}"
    scan = f"ssh-keyscan -p {cfg.port} {shlex.quote(cfg.host)} >> {shlex.quote(str(path))}"
    known = False
    with contextlib.suppress(Exception):
        known = bool(asyncssh.read_known_hosts(str(path)).match(cfg.host, "", cfg.port)[0])
    if known:
        msg = (
            f"node {cfg.host}: the host key of {target} CHANGED and does not match {path}; no command was run. "
            f"If the host was reinstalled on purpose, check its new key, then run "
            f"`ssh-keygen -R {shlex.quote(target)} -f {shlex.quote(str(path))}` and `{scan}`."
        )
    else:
        msg = (
            f"node {cfg.host}: the host key of {target} is not in {path}; no command was run. "
            f"Check the key with the host's admin, then trust it: `{scan}`."
        )
    return SshRefused(msg, title="SSH host key not trusted")


def connect_options(cfg: SshNode) -> dict[str, Any]:
    """Keyword arguments for `asyncssh.connect`: host keys always checked, ~/.ssh/config honoured."""
    path = known_hosts_file(cfg)
    if not path.is_file():
        raise SshRefused(
            f"node {cfg.host}: no known_hosts file at {path}, so its host key cannot be verified. Create it with "
            f"`ssh-keyscan -p {cfg.port} {shlex.quote(cfg.host)} >> {shlex.quote(str(path))}` after checking the key.",
            title="SSH host key not trusted",
        )
    options: dict[str, Any] = {
        "known_hosts": str(path),
        "keepalive_interval": cfg.keepalive_interval,
        "keepalive_count_max": KEEPALIVE_COUNT_MAX,
        "connect_timeout": min(15.0, max(2.0, cfg.unreachable_after / 2)),
        "config": [str(cfg.ssh_config.expanduser())] if cfg.ssh_config else (),
    }
    if not cfg.ssh_config:  # a node's ssh_config chooses its own ciphers
        options["encryption_algs"] = list(CIPHERS)
    fields = cfg.model_fields_set
    if "port" in fields or not cfg.ssh_config:
        options["port"] = cfg.port  # an explicit port wins over ~/.ssh/config; otherwise the config's
    if cfg.user:
        options["username"] = cfg.user
    if cfg.key_file:
        options["client_keys"] = [str(cfg.key_file.expanduser())]
    return options


class ConnectLimiter:
    """At most `per_minute` new connections in any 60-second window."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._times: deque[float] = deque()

    def delay(self) -> float:
        """Seconds to wait before the next connection may be opened (0 when it may open now)."""
        now = self.clock()
        while self._times and now - self._times[0] >= 60.0:
            self._times.popleft()
        if len(self._times) < self.per_minute:
            return 0.0
        return 60.0 - (now - self._times[0])

    def record(self) -> None:
        self._times.append(self.clock())


class _ShellGone(Exception):
    """The shell closed before the script was sent: another one may run it."""


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # a caller that was cancelled meanwhile never reads it


class _Shell:
    """One long-lived remote `/bin/sh` reading scripts on stdin, one script at a time."""

    def __init__(self, conn: asyncssh.SSHClientConnection, proc: Any, prelude: str, release: Callable[[], None]):
        self.conn = conn
        self.proc = proc
        self.prelude = prelude
        self.lock = asyncio.Lock()
        self.uses = 0
        self.closed = False
        self._release = release
        self._drain = asyncio.get_running_loop().create_task(self._drain_stderr())

    async def _drain_stderr(self) -> None:
        with contextlib.suppress(Exception):
            while chunk := await self.proc.stderr.read(65536):
                log.debug("remote shell stderr: %r", chunk[:500])

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self.proc.close()
        self._drain.cancel()
        self._release()


def backoff(attempt: int, cap: float) -> float:
    """Capped exponential back-off before connection attempt `attempt + 1`."""
    return min(cap, BACKOFF_START * 2**attempt)


class SshHost:
    """The one shared connection to an SSH endpoint (see module docstring)."""

    def __init__(self, cfg: SshNode) -> None:
        self.cfg = cfg
        self.where = f"node {cfg.name} ({endpoint(cfg)})"
        self.connects = 0  # connections opened successfully
        self.listeners: list[tuple[str, Any]] = []
        self.channels = asyncio.Semaphore(cfg.max_channels)
        self._limiter = ConnectLimiter(cfg.max_connects_per_minute)
        self._cap = max(1.0, min(30.0, cfg.unreachable_after))
        self._conn: asyncssh.SSHClientConnection | None = None
        self._connector: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        self._last_error: Exception | None = None
        self._down_since: float | None = None
        self._reported_down = False
        self._closed = False
        self._shells: list[_Shell] = []
        self._opening = 0
        self._turn = 0
        self._pinned = 0  # channel slots held by long-lived processes other than the shells (node agents)

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def add_listener(self, node: str, listener: Any) -> None:
        self.listeners.append((node, listener))

    async def connection(self, timeout: float = 10.0) -> asyncssh.SSHClientConnection:
        """The live connection; waits up to `timeout` for the connector to (re)open it."""
        if self._conn is not None:
            return self._conn
        self._ensure_connector()
        deadline = time.monotonic() + timeout
        async with self._changed:
            while self._conn is None:
                if isinstance(self._last_error, SshRefused):
                    raise self._last_error
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise SshUnreachable(f"{self.where} is unreachable: {self._last_error or 'not connected yet'}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), left)
            return self._conn

    @contextlib.asynccontextmanager
    async def channel(self, timeout: float = 10.0) -> AsyncIterator[asyncssh.SSHClientConnection]:
        """The connection, holding one of the `max_channels` channel slots."""
        async with self.channels:
            yield await self.connection(timeout)

    async def run(
        self, argv: list[str], *, input: bytes | None = None, timeout: float | None = None
    ) -> tuple[int, bytes, bytes]:
        """Run argv (joined with shlex) on the host; (exit status, stdout, stderr) as bytes.

        A refused channel (sshd frees a session slot a moment after the channel closes, and other
        clients may hold some) is retried briefly; a dropped link raises SshUnreachable.
        """
        command = shlex.join(argv)
        for attempt in range(CHANNEL_RETRIES):
            async with self.channel() as conn:
                try:
                    result = await conn.run(command, input=input, encoding=None, timeout=timeout)
                except asyncssh.ProcessError as e:  # only raised on timeout here (check=False)
                    raise SshUnreachable(f"{self.where}: `{argv[0]}` did not answer within {timeout:g} s") from e
                except asyncssh.ChannelOpenError as e:  # the connection lives; the server refused a channel
                    if attempt == CHANNEL_RETRIES - 1:
                        raise SshUnreachable(f"{self.where}: could not open a channel: {e}") from e
                    error = e
                except (asyncssh.Error, OSError) as e:
                    self._lost(conn, e)
                    raise SshUnreachable(f"{self.where}: the link dropped while running `{argv[0]}`: {e}") from e
                else:
                    status = result.exit_status if result.exit_status is not None else -1
                    # encoding=None: asyncssh hands back the output as bytes, never str
                    out, err = cast("bytes | None", result.stdout), cast("bytes | None", result.stderr)
                    return status, bytes(out or b""), bytes(err or b"")
            log.debug("%s: channel refused (%s), retrying", self.where, error)
            await asyncio.sleep(0.02 * 2**attempt)
        raise AssertionError("unreachable")

    async def script(self, prelude: str, body: str, timeout: float = 30.0) -> bytes:
        """Run `body` (POSIX sh, after `prelude`'s definitions) on the host; what it printed to stdout.

        `body` must print only newline-terminated records. A dropped link or a script that does not
        answer within `timeout` raises SshUnreachable; it is never sent twice.
        """
        nonce = secrets.token_hex(12)
        text = f"{body}\necho; echo 'E {nonce}'\n".encode()
        marker = f"\nE {nonce}\n".encode()
        for _ in range(3):
            shell = await self._shell(prelude, timeout)
            if shell is None:
                break
            task = asyncio.get_running_loop().create_task(self._exchange(shell, text, marker, timeout))
            task.add_done_callback(_retrieve)
            try:
                return await asyncio.shield(task)
            except _ShellGone:
                continue
        status, out, err = await self.run(["/bin/sh", "-s"], input=prelude.encode() + text, timeout=timeout)
        at = out.rfind(marker)
        if at < 0:
            raise SshUnreachable(
                f"{self.where}: a remote script ended early (exit {status}): {err.decode(errors='replace')[:200]}"
            )
        return out[:at]

    async def _shell(self, prelude: str, timeout: float) -> _Shell | None:
        """An idle shell, a new one if a slot is free, else the next busy one; None: run one-shot."""
        self._shells = [s for s in self._shells if not s.closed]
        live = [s for s in self._shells if s.prelude == prelude]
        for shell in live:
            if not shell.lock.locked():
                return shell
        limit = min(SHELLS, self.cfg.max_channels - 1 - self._pinned)  # always leave a slot for one-shot commands
        if len(self._shells) + self._opening < limit and not self.channels.locked():
            opened = await self._open_shell(prelude, timeout)
            if opened is not None:
                return opened
        if not live:
            return None
        self._turn += 1
        return live[self._turn % len(live)]

    async def open_process(self, command: str, timeout: float) -> tuple[Any, Callable[[], None]] | None:
        """A long-lived process (`command`, bytes in and out) holding one channel slot until `release()`;
        None when that would leave no slot for one-shot commands and the shells, or the server refuses."""
        if self.cfg.max_channels - self._pinned - SHELLS < 2:
            return None
        self._pinned += 1  # counted at once: the shells leave it free from now on
        try:
            await self.channels.acquire()
        except BaseException:
            self._pinned -= 1
            raise
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._pinned -= 1
                self.channels.release()

        try:
            conn = await self.connection(timeout)
            proc = await conn.create_process(command, encoding=None)
        except asyncssh.ChannelOpenError as e:
            release()
            log.debug("%s: no channel for a long-lived process (%s)", self.where, e)
            return None
        except (asyncssh.Error, OSError) as e:
            release()
            raise SshUnreachable(f"{self.where}: could not start a remote process: {e}") from e
        except BaseException:
            release()
            raise
        return proc, release

    async def _open_shell(self, prelude: str, timeout: float) -> _Shell | None:
        self._opening += 1
        try:
            await self.channels.acquire()
            try:
                conn = await self.connection(timeout)
                proc = await conn.create_process("exec /bin/sh", encoding=None)
            except asyncssh.ChannelOpenError as e:
                self.channels.release()
                log.debug("%s: no channel for a remote shell (%s); running one-shot", self.where, e)
                return None
            except BaseException:
                self.channels.release()
                raise
            proc.stdin.write(prelude.encode())
            shell = _Shell(conn, proc, prelude, self.channels.release)
            self._shells.append(shell)
            return shell
        except (asyncssh.Error, OSError) as e:
            raise SshUnreachable(f"{self.where}: could not start a remote shell: {e}") from e
        finally:
            self._opening -= 1

    async def _exchange(self, shell: _Shell, text: bytes, marker: bytes, timeout: float) -> bytes:
        async with shell.lock:
            if shell.closed:
                raise _ShellGone()
            shell.uses += 1
            try:
                shell.proc.stdin.write(text)
                reply = await asyncio.wait_for(shell.proc.stdout.readuntil(marker), timeout)
            except TimeoutError as e:
                shell.close()
                raise SshUnreachable(f"{self.where}: a remote script did not answer within {timeout:g} s") from e
            except asyncio.IncompleteReadError as e:
                shell.close()
                raise SshUnreachable(f"{self.where}: the remote shell ended while running a script") from e
            except (asyncssh.Error, OSError) as e:
                shell.close()
                self._lost(shell.conn, e)
                raise SshUnreachable(f"{self.where}: the link dropped while running a script: {e}") from e
            if shell.uses >= SHELL_REQUESTS:
                shell.close()
            return reply[: -len(marker)]

    def _drop_shells(self, conn: asyncssh.SSHClientConnection | None = None) -> None:
        for shell in self._shells:
            if conn is None or shell.conn is conn:
                shell.close()

    async def close(self) -> None:
        self._closed = True
        self._drop_shells()
        if self._connector:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self._conn is not None:
            self._conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.wait_closed(), 2.0)
            self._conn = None

    # -- the connector -------------------------------------------------------------------------------

    def _ensure_connector(self) -> None:
        if (self._connector is None or self._connector.done()) and not self._closed:
            self._connector = asyncio.get_running_loop().create_task(self._connect_loop())

    async def _connect_loop(self) -> None:
        """Open the connection, retrying with capped back-off; then watch it until it closes."""
        failures = 0
        while not self._closed:
            wait = self._limiter.delay()
            if wait > 0:
                await asyncio.sleep(wait)
            self._limiter.record()
            try:
                conn = await self._open()
            except SshRefused as e:
                await self._set_error(e)
            except (asyncssh.Error, OSError, TimeoutError) as e:
                await self._set_error(e)
            else:
                failures = 0
                await self._set_up(conn)
                await self._watch(conn)
                continue
            self._check_down()
            await asyncio.sleep(backoff(failures, self._cap))
            failures += 1

    async def _open(self) -> asyncssh.SSHClientConnection:
        options = connect_options(self.cfg)
        try:
            return await asyncssh.connect(self.cfg.host, **options)
        except asyncssh.HostKeyNotVerifiable as e:
            raise host_key_error(self.cfg, e) from e
        except asyncssh.PermissionDenied as e:
            raise SshRefused(
                f"{self.where}: authentication failed ({e.reason}); check `user` and `key_file` for this node.",
                title="SSH authentication failed",
            ) from e

    async def _watch(self, conn: asyncssh.SSHClientConnection) -> None:
        await conn.wait_closed()
        self._drop_shells(conn)
        if self._conn is conn:
            self._lost(conn, ConnectionError("connection closed"))

    async def _set_up(self, conn: asyncssh.SSHClientConnection) -> None:
        self.connects += 1
        self._conn = conn
        self._last_error = None
        self._down_since = None
        log.info("%s: connected (connection #%d)", self.where, self.connects)
        if self._reported_down:
            self._reported_down = False
            self._notify(True)
        async with self._changed:
            self._changed.notify_all()

    async def _set_error(self, error: Exception) -> None:
        log.warning("%s: cannot connect: %s", self.where, error)
        self._last_error = error
        if self._down_since is None:
            self._down_since = time.monotonic()
        async with self._changed:
            self._changed.notify_all()

    def _lost(self, conn: asyncssh.SSHClientConnection, error: Exception) -> None:
        """Forget a connection that failed; the connector opens a new one."""
        self._drop_shells(conn)
        if self._conn is not conn:
            return
        log.warning("%s: connection lost: %s", self.where, error)
        self._conn = None
        self._last_error = error
        self._down_since = time.monotonic()
        conn.abort()

    def _check_down(self) -> None:
        since = self._down_since
        if since is not None and not self._reported_down and time.monotonic() - since >= self.cfg.unreachable_after:
            self._reported_down = True
            self._notify(False)

    def _notify(self, reachable: bool) -> None:
        for node, listener in self.listeners:
            try:
                why = "" if reachable or self._last_error is None else f"{self.where}: {self._last_error}"
                listener.node_changed(node, reachable, reason=why)
            except Exception:  # a listener's bug must not stop the connector
                log.exception("listener failed for node %s", node)


class SshPool:
    """One `SshHost` per endpoint, shared by every node and job that uses it."""

    def __init__(self) -> None:
        self._hosts: dict[tuple[Any, ...], SshHost] = {}

    def host(self, cfg: SshNode) -> SshHost:
        key = (cfg.host, cfg.port, cfg.user, str(cfg.key_file), str(cfg.known_hosts), str(cfg.ssh_config))
        if key not in self._hosts:
            self._hosts[key] = SshHost(cfg)
        return self._hosts[key]

    @property
    def connects(self) -> int:
        return sum(h.connects for h in self._hosts.values())

    async def close(self) -> None:
        for host in self._hosts.values():
            await host.close()


class SshRunner:
    """`engine.commands.CommandRunner` that runs argv on an SSH host (one shlex-joined command line)."""

    def __init__(self, host: SshHost) -> None:
        self.host = host
        self.where = host.where

    async def run(
        self,
        argv: list[str],
        *,
        input: bytes | None = None,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
    ) -> CommandResult:
        if env:  # sent on stdin, never on the command line
            if input is not None:
                raise ValueError("SshRunner cannot send both env and input")
            argv, input = ["/bin/sh", "-c", '. /dev/stdin; exec "$@"', "jobtui-env", *argv], env_script(env)
        status, out, err = await self.host.run(argv, input=input, timeout=timeout)
        return CommandResult(tuple(argv), status, out.decode(errors="replace"), err.decode(errors="replace"))
