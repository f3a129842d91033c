"""Reading one job's output for the log pane: start near the end (never the whole file), then poll."""

from __future__ import annotations

from engine.api.client import EngineClient

TAIL_BYTES = 256 * 1024
CHUNK = 256 * 1024


async def output_size(client: EngineClient, job_id: int, stream: str, attempt: int | None = None) -> int:
    """The size of a stream in bytes, found with one-byte reads (the API has no stat call)."""

    async def has_byte(offset: int) -> bool:
        return bool((await client.logs(job_id, stream, offset, 1, attempt))["data"])

    low, high = 0, TAIL_BYTES
    while await has_byte(high):
        low, high = high, high * 4
    while low < high:
        mid = (low + high) // 2
        if await has_byte(mid):
            low = mid + 1
        else:
            high = mid
    return low


class LogFeed:
    """The read position in one job's stream; `first()` tails from the end, `more()` reads what came since."""

    def __init__(self, client: EngineClient, job_id: int, stream: str) -> None:
        self.client, self.job_id, self.stream = client, job_id, stream
        self.offset = 0
        self.done = False

    async def first(self) -> str:
        chunk = await self.client.logs(self.job_id, self.stream, 0, TAIL_BYTES)
        if chunk["offset"] < TAIL_BYTES:
            self.offset, self.done = chunk["offset"], chunk["done"]
            return chunk["data"]
        start = max(0, await output_size(self.client, self.job_id, self.stream) - TAIL_BYTES)
        self.offset = start
        text = await self.more()
        return "[… earlier output not shown …]\n" + text.split("\n", 1)[-1]

    async def more(self) -> str:
        """Everything written since the last read (at most a few chunks per call)."""
        parts = []
        for _ in range(8):
            chunk = await self.client.logs(self.job_id, self.stream, self.offset, CHUNK)
            self.done = chunk["done"]
            if not chunk["data"]:
                break
            parts.append(chunk["data"])
            self.offset = chunk["offset"]
        return "".join(parts)
