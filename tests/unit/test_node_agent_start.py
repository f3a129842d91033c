"""Starting a node agent where the node has no usable Python: the channel's process may be gone before the agent's
program is sent to it; that is "no agent here" (the sh scripts serve), never a failed launch."""

from __future__ import annotations

import asyncio
from typing import Any

from engine.remote.agent import NodeAgent


class EndedChannel:
    """A channel whose remote process exited (127) before anything was written to it, as asyncssh shows one."""

    exit_status = 127

    def __init__(self) -> None:
        self.stdin = self
        self.stdout = asyncio.StreamReader()
        self.stdout.feed_eof()
        self.stderr = asyncio.StreamReader()
        self.stderr.feed_data(b"sh: 1: exec: python3: not found\n")
        self.stderr.feed_eof()

    def write(self, data: bytes) -> None:
        raise BrokenPipeError("Channel not open for sending")

    async def wait_closed(self) -> None:
        return None

    def close(self) -> None:
        return None


class Host:
    where = "node n1 (test)"

    def __init__(self) -> None:
        self.released = 0

    async def open_process(self, command: str, timeout: float) -> tuple[Any, Any]:
        return EndedChannel(), self.release

    def release(self) -> None:
        self.released += 1


async def test_an_agent_whose_process_ended_before_its_program_was_sent_is_no_agent() -> None:
    host = Host()
    agent = NodeAgent(host, "wrapper", lambda tag, body: None, lambda agent: None)  # type: ignore[arg-type]
    assert await agent.start(timeout=5) is False
    assert not agent.alive and host.released == 1  # its channel is given back
    assert b"python3: not found" in agent._stderr
