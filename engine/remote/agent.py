"""The engine's side of a node agent (`node_agent`): start it on a host, send it requests, hear its notices.

`NodeAgent.start` runs the node's `python3` (or RHEL's platform-python) on one channel of the host's shared
connection and sends it the agent's source on stdin; the command line holds only a fixed bootstrap. A node
with no usable Python answers no hello: `start` says so and the caller keeps to its sh scripts. Requests
are pipelined on the channel and answered in order; notices (`N TAG`, an attempt ended) go to `on_notice`
as they arrive. When the channel ends, every request waiting fails with `SshUnreachable` and `on_close`
is called once; an agent is never restarted by this class.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh

from engine.errors import JobTuiError
from engine.remote import node_agent
from engine.remote.pool import SshHost, SshUnreachable

log = logging.getLogger(__name__)

# Run by the login shell: LC_CTYPE as it is (Python may coerce a C locale and export that), then the first
# Python found, which reads the agent's source (its size on a first line) from stdin and runs it.
_BOOT = "import sys;s=sys.stdin.buffer;exec(compile(s.read(int(s.readline())),'jobtui-agent','exec'))"
_FIND = (
    "JOBTUI_AGENT_LC=${LC_CTYPE+=}${LC_CTYPE-}; export JOBTUI_AGENT_LC; "
    "for p in python3 /usr/libexec/platform-python; do "
    'command -v "$p" >/dev/null 2>&1 && exec "$p" -I -S -c "$0"; done; exit 127'
)
COMMAND = "exec " + shlex.join(["/bin/sh", "-c", _FIND, _BOOT])


class AgentGone(SshUnreachable):
    """The agent had ended before the request was sent: nothing of it ran on the node."""


class AgentError(JobTuiError):
    """The agent could not serve a request (its message says why)."""


def program(wrapper: str) -> bytes:
    """The agent's source with the call that starts it, as sent to the node."""
    source = Path(node_agent.__file__).read_text()
    return f"{source}\nserve({wrapper.encode()!r})\n".encode()


class NodeAgent:
    """One running agent on one channel of `host` (see module docstring)."""

    def __init__(
        self,
        host: SshHost,
        wrapper: str,
        on_notice: Callable[[str, bytes], None],
        on_close: Callable[[NodeAgent], None],
        command: str = COMMAND,
    ) -> None:
        self.host = host
        self.wrapper = wrapper
        self.on_notice = on_notice
        self.on_close = on_close
        self.command = command
        self.alive = False
        self.version = ""
        self._proc: Any = None
        self._release: Callable[[], None] | None = None
        self._waiting: dict[int, asyncio.Future[bytes]] = {}
        self._next = 0
        self._reader: asyncio.Task[None] | None = None
        self._hello: asyncio.Future[str] | None = None
        self._stderr = b""
        self._drain: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 20.0) -> bool:
        """Start the agent; False when the node has no channel to spare or no Python that can run it."""
        opened = await self.host.open_process(self.command, timeout)
        if opened is None:
            return False
        self._proc, self._release = opened
        self._hello = asyncio.get_running_loop().create_future()
        self._reader = asyncio.get_running_loop().create_task(self._read_loop())
        code = program(self.wrapper)
        try:
            self._proc.stdin.write(b"%d\n" % len(code) + code)
        except (BrokenPipeError, ConnectionError):
            pass  # it ended before it read its program (no python3 there): its exit status says so, below
        try:
            self.version = await asyncio.wait_for(asyncio.shield(self._hello), timeout)
        except TimeoutError as e:
            self.close()
            raise SshUnreachable(f"{self.host.where}: the node agent did not start within {timeout:g} s") from e
        except EOFError:
            with contextlib.suppress(Exception):  # its exit status and stderr say why
                await asyncio.wait_for(asyncio.gather(self._proc.wait_closed(), *filter(None, [self._drain])), 2.0)
            status = self._proc.exit_status
            self.close()
            if status is None:  # the link, not the node: try again later
                raise SshUnreachable(f"{self.host.where}: the node agent's channel closed before it started") from None
            why = self._stderr.decode(errors="replace").strip()[:300] or "no usable python3 on the node"
            log.info("%s: no node agent (exit %s: %s); using sh scripts", self.host.where, status, why)
            return False
        except BaseException:  # cancelled while it started: nothing may hold its channel
            self.close()
            raise
        self.alive = True
        log.debug("%s: node agent running on Python %s", self.host.where, self.version)
        return True

    async def request(self, op: str, payload: object, timeout: float = 30.0) -> bytes:
        """Send one request and wait for its answer (the records it printed)."""
        if not self.alive:
            raise AgentGone(f"{self.host.where}: the node agent has ended")
        self._next += 1
        ident = self._next
        answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = answer
        body = json.dumps(payload).encode()
        try:
            self._proc.stdin.write(b"%s %d %d\n" % (op.encode(), ident, len(body)) + body)
        except (asyncssh.Error, OSError) as e:
            self._waiting.pop(ident, None)
            self.close()
            raise AgentGone(f"{self.host.where}: the node agent has ended: {e}") from e
        try:
            return await asyncio.wait_for(asyncio.shield(answer), timeout)
        except TimeoutError as e:
            self.close()  # a stuck agent serves nobody: the next request starts another (or uses sh)
            raise SshUnreachable(f"{self.host.where}: the node agent did not answer within {timeout:g} s") from e
        finally:
            self._waiting.pop(ident, None)

    def close(self) -> None:
        """End the channel (the agent exits; the jobs it started run on)."""
        if self._proc is not None:
            with contextlib.suppress(Exception):
                self._proc.close()
        for task in (self._reader, self._drain):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        self._closed(SshUnreachable(f"{self.host.where}: the node agent was closed"))

    def _closed(self, error: Exception) -> None:
        was_alive, self.alive = self.alive, False
        if self._hello is not None and not self._hello.done():
            self._hello.set_exception(EOFError())
            self._hello.exception()  # read here: start() may have stopped waiting
        for answer in self._waiting.values():
            if not answer.done():
                answer.set_exception(error)
                answer.exception()
        self._waiting.clear()
        release = self._release
        if release is not None:
            self._release = None
            release()
            if was_alive:
                with contextlib.suppress(Exception):
                    self.on_close(self)

    async def _read_loop(self) -> None:
        error: Exception = SshUnreachable(f"{self.host.where}: the node agent ended")
        self._drain = asyncio.get_running_loop().create_task(self._drain_stderr())
        try:
            while True:
                header = await self._proc.stdout.readuntil(b"\n")
                kind, ident, size = header.split()
                body = await self._proc.stdout.readexactly(int(size))
                self._dispatch(kind, ident, body)
        except asyncio.CancelledError:
            raise
        except (asyncio.IncompleteReadError, asyncssh.Error, OSError, ValueError) as e:
            if not isinstance(e, asyncio.IncompleteReadError):
                error = SshUnreachable(f"{self.host.where}: the node agent's channel failed: {e}")
        finally:
            if self._proc is not None:
                with contextlib.suppress(Exception):
                    self._proc.close()
            self._closed(error)

    def _dispatch(self, kind: bytes, ident: bytes, body: bytes) -> None:
        if kind == b"N":
            try:
                self.on_notice(ident.decode(), body)
            except Exception:  # a listener's bug must not stop the agent's answers
                log.exception("%s: handling an agent notice failed", self.host.where)
            return
        if kind == b"H":
            if self._hello is not None and not self._hello.done():
                self._hello.set_result(body.decode(errors="replace"))
            return
        answer = self._waiting.get(int(ident))
        if answer is None or answer.done():
            return
        if kind == b"R":
            answer.set_result(body)
        else:
            why = body.decode(errors="replace")
            answer.set_exception(AgentError(f"{self.host.where}: the node agent could not serve a request: {why}"))

    async def _drain_stderr(self) -> None:
        with contextlib.suppress(Exception):
            while chunk := await self._proc.stderr.read(65536):
                self._stderr = (self._stderr + chunk)[-2000:]
                log.debug("%s: node agent stderr: %r", self.host.where, chunk[:500])
