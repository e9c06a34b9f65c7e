"""The one aiohttp application: channel webhooks, a health check and the staff dashboard.

Each channel adds its own webhook route, the dashboard its pages (``install``) and each
feature its declared routes (``WebRoute``, reading the services from
``request.app[SERVICES_KEY]``); this module assembles them and answers `GET /healthz` with the
database reachability, for the load balancer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web
from sqlalchemy import text

from bot.channels.base import Channel
from bot.core.feature import WebRoute
from bot.core.services import Services
from storage.db import Database

# Feature routes find the services here: ``request.app[SERVICES_KEY].roles``.
SERVICES_KEY = web.AppKey("services", Services)


def make_web_app(
    channels: Iterable[Channel],
    deliver_for: Callable[[Channel], Any],
    db: Database,
    install: Iterable[Callable[[web.Application], None]] = (),
    *,
    routes: Iterable[WebRoute] = (),
    services: Services | None = None,
) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    if services is not None:
        app[SERVICES_KEY] = services
    for route in routes:
        app.router.add_route(route.method.upper(), route.path, route.handler)

    async def healthz(_request: web.Request) -> web.Response:
        try:
            async with db.session() as session:
                await session.execute(text("SELECT 1"))
        except Exception:
            return web.json_response({"ok": False, "database": "unreachable"}, status=503)
        return web.json_response({"ok": True})

    app.router.add_get("/healthz", healthz)
    for channel in channels:
        channel.setup_web(app, deliver_for(channel))
    for add_routes in install:
        add_routes(app)
    return app
