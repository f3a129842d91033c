"""Which waiting jobs wait on which parents: the engine's bookkeeping of `after` edges still open."""

from __future__ import annotations


class Dependencies:
    def __init__(self) -> None:
        self._children: dict[int, set[int]] = {}
        self._waiting_on: dict[int, set[int]] = {}

    def __contains__(self, child: int) -> bool:
        return child in self._waiting_on

    def wait(self, child: int, parents: set[int]) -> None:
        """`child` waits until every one of `parents` has ended."""
        self._waiting_on[child] = set(parents)
        for parent in parents:
            self._children.setdefault(parent, set()).add(child)

    def forget(self, child: int) -> None:
        """`child` no longer waits (it left the queue)."""
        for parent in self._waiting_on.pop(child, ()):
            self._children.get(parent, set()).discard(child)

    def settle(self, parent: int, failed: bool) -> list[int]:
        """`parent` has ended: the children to look at again (all of them when it failed), in id order."""
        ready = []
        for child in sorted(self._children.pop(parent, ())):
            waiting = self._waiting_on.get(child)
            if waiting is None:
                continue
            waiting.discard(parent)
            if failed or not waiting:
                del self._waiting_on[child]
                ready.append(child)
        return ready
