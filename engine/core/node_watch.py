"""What the engine has seen of each node's reachability: since when it is unreachable, why, and when it was
last sampled (the nodes panel and `/api/nodes` show it next to the sample itself)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class NodeSeen:
    reachable: bool = True
    unreachable_since: float | None = None
    reason: str = ""
    sampled_at: float | None = None


class NodeWatch:
    def __init__(self) -> None:
        self._seen: dict[str, NodeSeen] = {}

    def saw(self, node: str, reachable: bool, sampled: bool, reason: str, now: float) -> None:
        seen = self._seen.setdefault(node, NodeSeen())
        if not reachable:
            if seen.reachable or seen.unreachable_since is None:
                seen.unreachable_since = now
            seen.reason = reason or seen.reason or "no answer"
        else:
            seen.unreachable_since, seen.reason = None, ""
        seen.reachable = reachable
        if sampled:
            seen.sampled_at = now

    def of(self, node: str) -> NodeSeen:
        return self._seen.get(node) or NodeSeen()
