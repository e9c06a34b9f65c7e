"""The staff dashboard's frame: pages declared by features, sign-in, scope, CSRF, rendering.

A feature adds a page with ``Dashboard.page(path, handler, roles=..., title=...)``; the frame
wraps the handler so it only runs for a signed-in person holding one of the roles, refuses a
POST without the session's CSRF token (403), and hands the handler a ``PageRequest`` with the
person's scope, a database session and ``render``. Pages are server-rendered Jinja2 templates
(``bot/dashboard/templates``) that work without JavaScript; links are built relative to the
proxy's sub-path (``X-Forwarded-Prefix``) so the dashboard works behind a TLS proxy at /bang/.

Nothing personal goes into a URL or a log line: ids are database ids, the sign-in token is
cut out of the access log, and each page that shows names or phones writes an audit entry.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from sqlalchemy.exc import DBAPIError

from bot.core.context import Services
from bot.core.engine import Engine
from bot.core.roles import DASHBOARD_ROLES, Who
from bot.core.texts import fmt_date, fmt_datetime, fmt_number
from storage import membership as membership_repo
from storage import web_sessions
from storage.db import Database

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "cd_phien"
STAFF_ROLES = DASHBOARD_ROLES

NOT_FOUND = ("Không tìm thấy", "Trang hoặc hồ sơ này không có, hoặc nằm ngoài phạm vi của bạn.")
FORBIDDEN = (
    "Yêu cầu bị từ chối",
    "Biểu mẫu đã hết hạn hoặc không đến từ trang này. Hãy tải lại trang rồi làm lại.",
)

PageHandler = Callable[["PageRequest"], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Staff:
    """The signed-in person: their roles and what they may see.

    ``union_bodies`` None means every union body (city staff, or an officer registered without
    one, as /donmoi does); ``area_codes`` None means every area (city staff)."""

    channel: str
    external_id: str
    roles: frozenset[str]
    union_bodies: frozenset[str] | None
    area_codes: frozenset[str] | None
    ref: str  # pseudonym for the audit log

    @property
    def is_city(self) -> bool:
        return "staff" in self.roles

    def may(self, roles: Iterable[str]) -> bool:
        return self.is_city or bool(self.roles & set(roles))


async def load_staff(session: Any, engine: Engine, channel: str, external_id: str) -> Staff | None:
    """Roles and scope of an account, re-read on every request (a role taken away is gone at
    once); None when the account holds no staff role any more."""
    who = Who(channel, str(external_id))
    roles = frozenset(await engine.services.roles.roles_of(session, who)) & set(STAFF_ROLES)
    if not roles:
        return None
    crypto = engine.services.crypto
    ref = "staff:" + crypto.lookup_hash(f"{channel}:{external_id}")[:16]
    if "staff" in roles:
        return Staff(channel, external_id, roles, None, None, ref)
    # the roles service decides the scope, as it does for /donmoi and /leads in the chat
    membership = await engine.services.roles.grant(session, who, "membership.review")
    leads = await engine.services.roles.grant(session, who, "leads.work")
    bodies = membership.union_bodies if membership is not None else None
    areas = leads.areas if leads is not None and leads.areas is not None else frozenset()
    return Staff(channel, external_id, roles, bodies, areas, ref)


MB = 1024 * 1024
TOO_LARGE = "Nội dung gửi lên quá lớn (tối đa {mb} MB). Bạn quay lại và chọn ảnh nhỏ hơn nhé."


@dataclass(frozen=True)
class Page:
    path: str
    handler: PageHandler
    roles: frozenset[str]  # empty: a public page, no sign-in (e.g. card verification)
    method: str = "GET"
    title: str | None = None  # shown in the menu when set
    order: int = 100
    # A POST that may carry files (an announcement's photo): its body may be this big; other
    # requests keep the web app's 1 MB.
    upload_max: int = 0


@dataclass
class PageRequest:
    """What a page handler gets: the request, who asks, a database session, ways to answer."""

    request: web.Request
    dashboard: Dashboard
    session: Any
    staff: Staff | None
    now: datetime
    csrf: str = ""
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # field -> (name, bytes)

    @property
    def engine(self) -> Engine:
        return self.dashboard.engine

    @property
    def services(self) -> Services:
        return self.dashboard.engine.services

    def t(self, key: str, **params: Any) -> str:
        """A bot text (content/vi), for labels shared with the chat (statuses, sizes)."""
        return self.dashboard.engine.texts(key, **params)

    @property
    def prefix(self) -> str:
        return request_prefix(self.request)

    def url(self, path: str) -> str:
        return self.prefix + path

    def arg(self, name: str, default: str = "") -> str:
        return self.request.query.get(name, default).strip()[:200]

    def match(self, name: str) -> str:
        return self.request.match_info.get(name, "")

    def render(self, template: str, status: int = 200, **context: Any) -> web.Response:
        context.update(self.dashboard.common_context(self))
        return aiohttp_jinja2.render_template(template, self.request, context, status=status)

    def redirect(self, path: str) -> web.Response:
        """303 to another page (after a POST, so reloading does not repeat the action)."""
        return web.Response(status=303, headers={"Location": self.url(path)})

    def not_found(self) -> web.Response:
        return self.render("error.html", status=404, heading=NOT_FOUND[0], message=NOT_FOUND[1])

    def audit(self, action: str, subject: str, **detail: Any) -> None:
        """An audit entry for what this person saw or did (pseudonym, ids, counts only)."""
        membership_repo.audit(
            self.session,
            action=action,
            actor=self.staff.ref if self.staff else "public",
            subject=subject,
            channel="web",
            now=self.now,
            **detail,
        )


def request_prefix(request: web.Request) -> str:
    """The sub-path a proxy serves us under ("/bang"), from X-Forwarded-Prefix; "" at the root."""
    raw = request.headers.get("X-Forwarded-Prefix", "").strip()
    if not raw or not raw.startswith("/") or any(c in raw for c in "\"'<> \\?#"):
        return ""
    return raw.rstrip("/")


def is_https(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


class RedactingAccessLogger(AbstractAccessLogger):
    """The access log without sign-in tokens or query strings (search terms may be names)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        path = request.path
        if "/dangnhap/" in path:
            path = path.split("/dangnhap/", 1)[0] + "/dangnhap/…"
        self.logger.info(
            '%s "%s %s" %s %.3fs', request.remote, request.method, path, response.status, time
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


class Dashboard:
    """The pages and how they are served; one per App."""

    def __init__(
        self, engine: Engine, db: Database, *, after_commit: Callable[[], None] | None = None
    ) -> None:
        self.engine = engine
        self.db = db
        self.pages: list[Page] = []
        self.after_commit = after_commit

    async def load_area_mapping(self) -> None:
        """Route the chat by the commune → union body mapping edited on the dashboard.

        A database not migrated yet has no mapping table: the file's mapping stands."""
        try:
            async with self.db.session() as session:
                await self.engine.services.areas_now(session)
        except DBAPIError:
            log.warning("area mapping table missing; run `congdoan-bot db upgrade`")

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.engine.clock

    def page(
        self,
        path: str,
        handler: PageHandler,
        *,
        roles: Iterable[str] = ("staff",),
        method: str = "GET",
        title: str | None = None,
        order: int = 100,
        upload_max: int = 0,
    ) -> None:
        """Declare a page. ``roles`` who may open it (city staff always may; none = public)."""
        self.pages.append(
            Page(path, handler, frozenset(roles), method.upper(), title, order, upload_max)
        )

    def menu(self, staff: Staff | None) -> list[Page]:
        if staff is None:
            return []
        shown = [p for p in self.pages if p.title and p.method == "GET" and staff.may(p.roles)]
        return sorted(shown, key=lambda p: p.order)

    def common_context(self, req: PageRequest) -> dict[str, Any]:
        return {
            "prefix": req.prefix,
            "staff": req.staff,
            "menu": self.menu(req.staff),
            "current": req.request.path,
            "csrf": req.csrf,
            "federation": self.engine.services.settings.federation,
        }

    # -- serving ------------------------------------------------------------------------------
    def install(self, app: web.Application) -> None:
        env = aiohttp_jinja2.setup(
            app,
            loader=jinja2.FileSystemLoader(str(TEMPLATES)),
            autoescape=jinja2.select_autoescape(default=True),
            undefined=jinja2.StrictUndefined,
        )
        env.filters.update(num=_num, date=_date, datetime=_datetime, pct=_pct)
        app.router.add_static("/tinh/", STATIC, name="dashboard-static")
        for page in self.pages:
            app.router.add_route(page.method, page.path, self._wrap(page))

    def _wrap(self, page: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def serve(request: web.Request) -> web.StreamResponse:
            now = self.clock()
            cookie = request.cookies.get(COOKIE, "")
            form: dict[str, str] = {}
            files: dict[str, tuple[str, bytes]] = {}
            if page.method == "POST":
                if page.upload_max:
                    request = request.clone(client_max_size=page.upload_max)
                try:
                    data = await request.post()
                except web.HTTPRequestEntityTooLarge:
                    return web.Response(
                        status=413,
                        text=TOO_LARGE.format(mb=max(page.upload_max, MB) // MB),
                        content_type="text/plain",
                        charset="utf-8",
                    )
                form = {k: str(v)[:2000] for k, v in data.items() if isinstance(v, str)}
                if page.upload_max:
                    files = {
                        k: (v.filename or "", v.file.read())
                        for k, v in data.items()
                        if isinstance(v, web.FileField)
                    }
            async with self.db.transaction() as session:
                staff = None
                if cookie:
                    row = await web_sessions.load_session(session, cookie, now)
                    if row is not None:
                        staff = await load_staff(session, self.engine, row.channel, row.external_id)
                csrf = web_sessions.csrf_token(cookie) if staff else ""
                req = PageRequest(request, self, session, staff, now, csrf, form, files)
                if page.roles:
                    if staff is None:
                        return req.redirect("/dangnhap")
                    if not staff.may(page.roles):
                        return req.not_found()
                if (
                    page.method == "POST"
                    and page.roles
                    and not web_sessions.csrf_matches(cookie, form.get("csrf", ""))
                ):
                    return req.render(
                        "error.html", status=403, heading=FORBIDDEN[0], message=FORBIDDEN[1]
                    )
                response = await page.handler(req)
            if self.after_commit is not None and page.method == "POST":
                self.after_commit()
            response.headers.setdefault("Cache-Control", "no-store")
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Referrer-Policy", "no-referrer")
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            return response

        return serve


def set_session_cookie(response: web.StreamResponse, request: web.Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        path=(request_prefix(request) or "") + "/",
        httponly=True,
        samesite="Strict",
        secure=is_https(request),
        max_age=int(web_sessions.SESSION_IDLE.total_seconds()),
    )


def clear_session_cookie(response: web.StreamResponse, request: web.Request) -> None:
    response.del_cookie(COOKIE, path=(request_prefix(request) or "") + "/")


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    return fmt_number(round(value, digits) if digits else round(value))


def _pct(value: float | None) -> str:
    if value is None:
        return "–"
    return fmt_number(round(value * 100, 1)) + " %"


def _date(value: Any) -> str:
    return "–" if value is None else fmt_date(value)


def _datetime(value: Any) -> str:
    return "–" if value is None else fmt_datetime(value)
