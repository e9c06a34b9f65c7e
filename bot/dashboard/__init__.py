"""The staff web dashboard (Vietnamese, server-rendered, works without JavaScript).

Each module in ``PAGE_MODULES`` exposes ``register(dashboard)`` and declares its pages with
``dashboard.page(...)`` (see ``bot/dashboard/site.py``); a feature module in ``handlers/`` adds
its pages the same way through ``Feature.dashboard_pages``, without editing this list.
``build_dashboard`` is called by the composition root (``bot/app.py``) and refuses two pages on
one method and path, naming both owners.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable

from bot.core.engine import Engine
from bot.core.feature import StartupError
from bot.dashboard.site import Dashboard
from storage.db import Database

PAGE_MODULES: tuple[str, ...] = (
    "bot.dashboard.signin",
    "bot.dashboard.overview",
    "bot.dashboard.applications",
    "bot.dashboard.enterprises",
    "bot.dashboard.legal",
    "bot.dashboard.misses",
    "bot.dashboard.campaigns",
    "bot.dashboard.targets",
    "bot.dashboard.report_download",
)


def build_dashboard(
    engine: Engine,
    db: Database,
    *,
    after_commit: Callable[[], None] | None = None,
    modules: Iterable[str] = PAGE_MODULES,
    pages: Iterable[tuple[str, Callable[[Dashboard], None]]] = (),
) -> Dashboard:
    """The dashboard with the pages of ``modules`` and those the features declare (``pages``:
    (feature name, function given the dashboard))."""
    dashboard = Dashboard(engine, db, after_commit=after_commit)
    owners: dict[tuple[str, str], str] = {}
    adders = [(name, importlib.import_module(name).register) for name in modules]
    for owner, add in [*adders, *pages]:
        before = len(dashboard.pages)
        add(dashboard)
        for page in dashboard.pages[before:]:
            first = owners.setdefault((page.method, page.path), owner)
            if (
                first != owner
                or sum(1 for p in dashboard.pages if (p.method, p.path) == (page.method, page.path))
                > 1
            ):
                raise StartupError(
                    f"Trang {page.method} {page.path} của bảng điều khiển được khai báo hai "
                    f"lần: {first} và {owner}."
                )
    return dashboard
