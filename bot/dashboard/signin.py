"""Signing in with a one-time link, and signing out.

Opening the link shows a page with one button; only pressing it spends the link. Chat apps
fetch links to draw previews, and a preview must not use up a staff member's sign-in.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque

from aiohttp import web

from bot.dashboard.site import (
    COOKIE,
    STAFF_ROLES,
    Dashboard,
    PageRequest,
    clear_session_cookie,
    load_staff,
    set_session_cookie,
)
from storage import web_sessions

FAILURES_PER_WINDOW = 20  # refused sign-in attempts per address in ten minutes
WINDOW_SECONDS = 600.0

REFUSALS = {
    "used": "Liên kết này đã được dùng để đăng nhập. Mỗi liên kết chỉ dùng được một lần.",
    "expired": "Liên kết này đã hết hạn (liên kết chỉ dùng được trong 10 phút).",
    "unknown": "Liên kết này không đúng. Hãy sao chép lại nguyên liên kết bot đã gửi.",
    "no_role": "Tài khoản này không còn vai trò cán bộ nào trên hệ thống.",
}


TOO_MANY = "Có quá nhiều lần đăng nhập sai. Hãy thử lại sau 10 phút."


class _Failures:
    """Refused attempts per client address in a sliding window (a guessing brake; the tokens
    themselves carry 256 random bits)."""

    def __init__(self) -> None:
        self._seen: dict[str, deque[float]] = defaultdict(deque)

    def blocked(self, who: str) -> bool:
        times = self._seen[who]
        while times and times[0] < time.monotonic() - WINDOW_SECONDS:
            times.popleft()
        return len(times) >= FAILURES_PER_WINDOW

    def add(self, who: str) -> None:
        self._seen[who].append(time.monotonic())


def _client(req: PageRequest) -> str:
    return req.request.remote or "?"


async def how_to(req: PageRequest) -> web.StreamResponse:
    if req.staff is not None:
        return req.redirect("/")
    return req.render("signin_help.html")


def register(dashboard: Dashboard) -> None:
    failures = _Failures()

    def refuse(req: PageRequest, outcome: str) -> web.StreamResponse:
        failures.add(_client(req))
        status = 404 if outcome == "unknown" else 410
        return req.render("signin_refused.html", status=status, message=REFUSALS[outcome])

    async def confirm(req: PageRequest) -> web.StreamResponse:
        if failures.blocked(_client(req)):
            return req.render("signin_refused.html", status=429, message=TOO_MANY)
        token = req.match("token")
        state = await web_sessions.link_state(req.session, token, req.now)
        if state != "ok":
            return refuse(req, state)
        return req.render("signin_confirm.html", token=token)

    async def sign_in(req: PageRequest) -> web.StreamResponse:
        if failures.blocked(_client(req)):
            return req.render("signin_refused.html", status=429, message=TOO_MANY)
        redeemed = await web_sessions.redeem_login_link(req.session, req.match("token"), req.now)
        if not redeemed.ok:
            return refuse(req, redeemed.outcome)
        staff = await load_staff(req.session, req.engine, redeemed.channel, redeemed.external_id)
        if staff is None:
            return refuse(req, "no_role")
        cookie = await web_sessions.start_session(
            req.session, redeemed.channel, redeemed.external_id, req.now
        )
        req.staff = staff
        req.audit("web.signed_in", "dashboard")
        response = req.redirect("/")
        set_session_cookie(response, req.request, cookie)
        return response

    async def sign_out(req: PageRequest) -> web.StreamResponse:
        await web_sessions.end_session(req.session, req.request.cookies.get(COOKIE, ""))
        req.audit("web.signed_out", "dashboard")
        response = req.redirect("/dangnhap?da_dang_xuat=1")
        clear_session_cookie(response, req.request)
        return response

    dashboard.page("/dangnhap", how_to, roles=())
    dashboard.page("/dangnhap/{token}", confirm, roles=())
    dashboard.page("/dangnhap/{token}", sign_in, roles=(), method="POST")
    dashboard.page("/dangxuat", sign_out, roles=STAFF_ROLES, method="POST")
