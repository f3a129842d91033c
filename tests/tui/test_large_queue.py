"""A large queue paints its first page at once and says it is still loading, without hiding that page."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.widgets import LoadingIndicator

from tests.tui.fakes import FakeClient, fake_app, loaded
from tui.bridge import FIRST_PAGE
from tui.widgets.panels import StatsBar

TOTAL = FIRST_PAGE * 2 + 1


class SlowFullSnapshot(FakeClient):
    """The first page comes at once; the whole queue only once `release` is set."""

    def __init__(self, jobs: int) -> None:
        super().__init__(jobs)
        self.release = asyncio.Event()

    async def snapshot(self, view: str = "full", limit: int | None = None) -> dict[str, Any]:
        if limit is None:
            await self.release.wait()
        return await super().snapshot(view, limit)


async def test_first_page_is_shown_not_covered_by_a_loading_indicator():
    client = SlowFullSnapshot(TOTAL)
    app = fake_app(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.pause(0.1)
        screen = app.main
        assert len(app.index.rows) == FIRST_PAGE  # the rest is still loading
        assert screen.loading_jobs == TOTAL
        assert f"loading {TOTAL:,} jobs" in str(screen.query_one(StatsBar).render())
        # Textual's own `Widget.loading` would cover the whole screen, first page included.
        assert not screen.loading
        covered = [
            (x, y)
            for x in range(0, 120, 10)
            for y in range(0, 40, 4)
            if isinstance(screen.get_widget_at(x, y)[0], LoadingIndicator)
        ]
        assert covered == []
        assert screen.get_widget_at(*screen.table.region.center)[0] is screen.table

        client.release.set()
        await loaded(pilot, TOTAL)
        assert len(app.index.rows) == TOTAL
        assert screen.loading_jobs is None
        assert "loading" not in str(screen.query_one(StatsBar).render())
