"""`JobAppBase`: the part of the app that screens use, typed, in a module that screens can import.

`JobTuiApp` (tui/app.py) imports the screens, so a screen cannot import it back without an import cycle.
Screens type `self.app` as this base instead (`textual.getters.app`); `JobTuiApp` subclasses it, so mypy
checks that the app really has these attributes with these types.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import App

from engine.api.client import EngineClient
from tui.widgets.job_index import JobIndex


class JobAppBase(App[str | None]):
    """Returns "serve" when the user asked to hand queued jobs to a `jobtui --serve` daemon."""

    client: EngineClient
    index: JobIndex
    clock: Callable[[], float]
    user: str | None  # who the engine knows this app as (its token's user); None until the engine said
    role: str | None  # the user's role on the engine; None until the engine said (or if it never does)
    capabilities: dict[str, bool] | None  # what that role may do (`me()`, engine.wire.CAPABILITIES); None: unknown


__all__ = ["JobAppBase"]
