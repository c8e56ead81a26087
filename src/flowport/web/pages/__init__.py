"""The console's pages, one module each. A page module holds `router` (a `page_router()`), and
may hold `NAV` (its entry in the navigation bar) and `panel(ctx, who)` (a box on the
dashboard, or None). A new page is a module here, listed in PAGES, plus its templates."""

from __future__ import annotations

from types import ModuleType

from flowport.web.pages import dashboard, instances, login, processes, robots, schedules, tasks

PAGES: tuple[ModuleType, ...] = (login, dashboard, processes, instances, tasks, robots, schedules)
