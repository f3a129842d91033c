"""Reading one job's output for the log pane: start near the end (never the whole file), then poll."""

from __future__ import annotations

from engine.api.client import EngineClient

TAIL_BYTES = 256 * 1024
CHUNK = 256 * 1024


class LogFeed:
    """The read position in one job's stream; `first()` tails from the end, `more()` reads what came since."""

    def __init__(self, client: EngineClient, job_id: int, stream: str) -> None:
        self.client, self.job_id, self.stream = client, job_id, stream
        self.offset = 0
        self.done = False

    async def first(self) -> str:
        """The last TAIL_BYTES of the stream: the first read tells the stream's `size`, so a long log's end
        is one more read away."""
        chunk = await self.client.logs(self.job_id, self.stream, 0, TAIL_BYTES)
        self.offset, self.done = chunk["offset"], chunk["done"]
        if chunk["size"] <= self.offset:  # that was all of it
            return chunk["data"]
        self.offset = chunk["size"] - TAIL_BYTES
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
