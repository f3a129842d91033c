"""Which waiting jobs wait on which parents (the engine's bookkeeping of `after` edges still open), and what
each edge's condition asks of its parent: the one place a condition is decided.

An edge's condition (`Job.after_when`, absent meaning `success`) says when the child may start once its
parent has ended: `success` (Slurm afterok) only after a completed parent, `failure` (afternotok) only after
one that ended any other way (failed, missing, cancelled, skipped, rejected), `any` (afterany) either way. A
parent that ends the other way skips the child, and skips cascade through `success` edges.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.models import TERMINAL, UNSUCCESSFUL, Job, JobStatus, Reason

SUCCESS, FAILURE, ANY = "success", "failure", "any"


def edge_met(when: str, parent: JobStatus) -> bool:
    """Does a parent in state `parent` let a child start, by an edge with condition `when`?"""
    if parent not in TERMINAL:
        return False
    if when == ANY:
        return True
    if when == FAILURE:
        return parent in UNSUCCESSFUL
    return parent == JobStatus.COMPLETED


def blocked_by(child: Job, parent: Job) -> tuple[Reason, str] | None:
    """Why `child` will never start after `parent`, which has ended (the reason and the message of its skip);
    None when the edge lets it start (or `parent` has not ended)."""
    when = child.after_when.get(parent.id, SUCCESS)
    if parent.status not in TERMINAL or edge_met(when, parent.status):
        return None
    if when == SUCCESS:
        # Not needed either when its parent was only skipped by a condition: nothing failed.
        unneeded = parent.status == JobStatus.SKIPPED and parent.reason == Reason.CONDITION_NOT_MET
        reason = Reason.CONDITION_NOT_MET if unneeded else Reason.DEPENDENCY_FAILED
        return reason, f"dependency job {parent.id} ({parent.name}) ended {parent.status.value}"
    return Reason.CONDITION_NOT_MET, f"runs after job {parent.id} ({parent.name}) on {when}; it {parent.status.value}"


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

    def settle(self, parent: int, decides: Callable[[int], bool]) -> list[int]:
        """`parent` has ended: the children to look at again, in id order: those it leaves with no parent to
        wait for, and those for which `decides(child)` (its end settles them whatever the others do)."""
        ready = []
        for child in sorted(self._children.pop(parent, ())):
            waiting = self._waiting_on.get(child)
            if waiting is None:
                continue
            waiting.discard(parent)
            if not waiting or decides(child):
                del self._waiting_on[child]
                ready.append(child)
        return ready
