"""The job verbs of the main screen: cancel (confirmed), approve, reject (with a reason), requeue,
priority, submit. Each acts on the marked jobs or the one under the cursor. A role that may not act is
told why before anything is sent, from the capabilities the engine reported for it (`me()`); the server
checks again, ownership too, and its message is shown as is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from textual import getters, work
from textual.screen import Screen

from engine.errors import JobTuiError
from tui.app_base import JobAppBase
from tui.screens.dialogs import ConfirmScreen, ErrorScreen, ReasonScreen
from tui.screens.submit import SubmitScreen

# What a notice says was done, and what could not be done, for each verb
DONE_TEXT = {
    "cancel": "cancelled",
    "approve": "approved",
    "reject": "rejected",
    "requeue": "requeued",
    "priority": "priority changed:",
}
ACTION_TEXT = {"priority": "change the priority"}
# The capability (engine.wire.CAPABILITIES) each verb needs: a role without it may not use it on any job.
CAPABILITY_FOR = {
    "approve": "approve",
    "reject": "reject",
    "priority": "priority",
    "cancel": "cancel_own",
    "requeue": "requeue",
    "submit": "submit",
}


class JobActions(Screen[None]):
    """The base of `MainScreen`, which provides `selected_ids()` and `clear_marks()`."""

    if TYPE_CHECKING:  # at run time Textual's own `app` property returns the same object
        app = getters.app(JobAppBase)

    def selected_ids(self) -> list[int]:
        """The jobs a verb acts on: the marked ones, else the one under the cursor."""
        raise NotImplementedError

    def clear_marks(self) -> None:
        raise NotImplementedError

    def _allowed(self, verb: str) -> bool:
        capabilities = self.app.capabilities
        if capabilities is None or capabilities.get(CAPABILITY_FOR[verb], True):
            return True  # unknown (the engine has not said): the server decides
        self.notify(
            f"you are {self.app.user or self.app.client.user} ({self.app.role}); your role may not {verb} jobs.",
            title="Not allowed",
            severity="error",
        )
        return False

    def _targets(self, verb: str) -> list[int]:
        ids = self.selected_ids()
        if not ids:
            self.notify(f"no job to {verb}: the table is empty or the filter hides every job.", severity="warning")
        return ids if ids and self._allowed(verb) else []

    async def _each(self, verb: str, ids: list[int], call: Callable[[int], Awaitable[Any]]) -> None:
        """`call` on each job; one notice of what was done (`cancelled #3, #4`), one of what could not be."""
        done, errors = [], []
        for job_id in ids:
            try:
                await call(job_id)
                done.append(job_id)
            except JobTuiError as e:
                errors.append(f"#{job_id}: {e.message}")
        if done:
            self.notify(f"{DONE_TEXT[verb]} {', '.join(f'#{i}' for i in done)}", timeout=3)
            self.clear_marks()
        if errors:
            self.notify(
                "\n".join(errors[:5]) + (f"\n… and {len(errors) - 5} more" if len(errors) > 5 else ""),
                title=f"Could not {ACTION_TEXT.get(verb, verb)}",
                severity="error",
                timeout=8,
            )

    @work(group="actions")
    async def action_cancel_jobs(self) -> None:
        ids = self._targets("cancel")
        if not ids:
            return
        names = ", ".join(f"#{i}" for i in ids[:10]) + (" …" if len(ids) > 10 else "")
        if await self.app.push_screen_wait(
            ConfirmScreen("Cancel jobs?", f"Cancel {len(ids)} job(s): {names}?", "Cancel jobs", "Keep them")
        ):
            await self._each("cancel", ids, self.app.client.cancel)
        else:
            self.notify(f"nothing cancelled: {names} keep their state.", timeout=3, markup=False)

    @work(group="actions")
    async def action_approve_jobs(self) -> None:
        if ids := self._targets("approve"):
            await self._each("approve", ids, self.app.client.approve)

    @work(group="actions")
    async def action_reject_jobs(self) -> None:
        ids = self._targets("reject")
        if not ids:
            return
        reason = await self.app.push_screen_wait(
            ReasonScreen("Reject jobs", f"Reject {', '.join(f'#{i}' for i in ids[:10])}: why?")
        )
        if reason:
            await self._each("reject", ids, lambda i: self.app.client.reject(i, reason))

    @work(group="actions")
    async def action_requeue_jobs(self) -> None:
        if ids := self._targets("requeue"):
            await self._each("requeue", ids, self.app.client.requeue)

    @work(group="actions")
    async def action_priority(self, step: int) -> None:
        ids = self._targets("priority")
        rows = self.app.index.rows

        async def bump(job_id: int) -> None:
            current = rows[job_id].priority if job_id in rows else 0
            await self.app.client.set_priority(job_id, max(0, min(100, current + step)))

        if ids:
            await self._each("priority", ids, bump)

    @work(group="actions")
    async def action_submit(self) -> None:
        if not self._allowed("submit"):
            return
        spec = await self.app.push_screen_wait(SubmitScreen())
        if spec is None:
            return
        try:
            jobs = await self.app.client.submit([spec])
        except JobTuiError as e:
            await self.app.push_screen_wait(ErrorScreen(e.title, e.message))
            return
        self.notify(f"submitted job #{jobs[0]['id']} ({jobs[0]['name']}) [{jobs[0]['status']}]", timeout=4)
