"""The one aiohttp application: channel webhooks, the staff dashboard, liveness and readiness.

Each channel adds its own webhook route, the dashboard its pages (``install``) and each
feature its declared routes (``WebRoute``, reading the services from
``request.app[SERVICES_KEY]``); this module assembles them and answers the two checks a load
balancer and a process supervisor ask (deploy/README.md):

- ``GET /healthz``: liveness — the process and its event loop answer. A database outage must not
  make the supervisor restart every bot process, so this checks nothing else.
- ``GET /readyz``: readiness — the database answers, Redis answers when the bot uses it, and the
  process is not shutting down. nginx sends updates only to ready processes; a process that is
  draining answers 503 so new webhooks go elsewhere while it finishes what it holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from bot.channels.base import Channel
from bot.core.context import Services
from bot.core.feature import WebRoute
from storage.db import Database

# Feature routes find the services here: ``request.app[SERVICES_KEY].roles``.
SERVICES_KEY = web.AppKey("services", Services)
Check = Callable[[], Awaitable[bool]]
CHECK_TIMEOUT = 2.0  # seconds; a check slower than this counts as down


async def _passes(check: Check) -> bool:
    try:
        return bool(await asyncio.wait_for(check(), CHECK_TIMEOUT))
    except Exception:  # a timeout or a driver error: not ready, never a 500
        return False


def make_web_app(
    channels: Iterable[Channel],
    deliver_for: Callable[[Channel], Any],
    db: Database,
    install: Iterable[Callable[[web.Application], None]] = (),
    *,
    routes: Iterable[WebRoute] = (),
    services: Services | None = None,
    checks: Mapping[str, Check] | None = None,
    draining: Callable[[], bool] = lambda: False,
) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    if services is not None:
        app[SERVICES_KEY] = services
    for route in routes:
        handler = _plain(route.handler) if route.plain else route.handler
        app.router.add_route(route.method.upper(), route.path, handler)
    ready_checks: dict[str, Check] = {"database": db.reachable, **(checks or {})}

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(_request: web.Request) -> web.Response:
        names = list(ready_checks)
        results = await asyncio.gather(*(_passes(ready_checks[n]) for n in names))
        body: dict[str, Any] = {
            name: "ok" if up else "unreachable" for name, up in zip(names, results, strict=True)
        }
        if draining():
            body["state"] = "draining"
        ok = all(results) and not draining()
        return web.json_response({"ok": ok, **body}, status=200 if ok else 503)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    for channel in channels:
        channel.setup_web(app, deliver_for(channel))
    for add_routes in install:
        add_routes(app)
    return app


def client_address(request: web.Request) -> str:
    """Who asks, for per-client limits: behind this machine's nginx (the peer is loopback) the
    address nginx appended last to X-Forwarded-For (earlier entries are the client's own
    claims), else the peer itself."""
    peer = request.remote or ""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and peer in ("127.0.0.1", "::1"):
        return forwarded.rsplit(",", 1)[-1].strip() or peer
    return peer


def _plain(handler: Callable[..., Awaitable[Any]]) -> Callable[[web.Request], Awaitable[Any]]:
    """A feature's plain page as an aiohttp handler (``WebRoute(plain=True)``)."""

    async def serve(request: web.Request) -> web.Response:
        result = await handler(request.app[SERVICES_KEY], dict(request.match_info),
                               client_address(request))  # fmt: skip
        kind, _, charset = result.content_type.partition("; charset=")
        response = web.Response(status=result.status, body=result.body, content_type=kind)
        if charset:
            response.charset = charset
        # A public page about a person: never cached, indexed or passed on as a referrer.
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Robots-Tag"] = "noindex"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return serve
