"""The staff web dashboard (Vietnamese, server-rendered, works without JavaScript).

Each module in ``PAGE_MODULES`` exposes ``register(dashboard)`` and declares its pages with
``dashboard.page(...)`` (see ``bot/dashboard/site.py``); a feature adds a page by adding its
module here. ``build_dashboard`` is called by the composition root (``bot/app.py``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable

from bot.core.engine import Engine
from bot.dashboard.site import Dashboard
from storage.db import Database

PAGE_MODULES: tuple[str, ...] = (
    "bot.dashboard.signin",
    "bot.dashboard.overview",
    "bot.dashboard.applications",
)


def build_dashboard(
    engine: Engine,
    db: Database,
    *,
    after_commit: Callable[[], None] | None = None,
    modules: Iterable[str] = PAGE_MODULES,
) -> Dashboard:
    dashboard = Dashboard(engine, db, after_commit=after_commit)
    for name in modules:
        importlib.import_module(name).register(dashboard)
    return dashboard
