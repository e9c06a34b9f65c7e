"""Đơn gia nhập: the queue of applications, with "Duyệt" and "Trả lại" as in /donmoi.

Decisions go through the same functions as /donmoi (handlers/membership_staff.py), so the
worker gets the same message through the outbox and the audit log the same entries. Names and
phones are shown to membership officers and city staff only, and each list or record shown is
audited with the references it contained. An application outside the officer's union bodies
is "not found" (404), whether listed, opened or posted to.
"""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from bot.core.context import enqueue_outgoing
from bot.core.numbers import parse_id
from bot.dashboard.site import Dashboard, PageRequest
from handlers.membership_staff import (
    REASON_MAX,
    REASON_MIN,
    admit_application,
    clean_reason,
    return_application,
)
from handlers.membership_view import ApplicationView
from storage import membership as membership_repo
from storage import reports

ROLES = ("membership",)
STATUS_LABELS = {
    membership_repo.PENDING: "Đang chờ duyệt",
    membership_repo.ADMITTED: "Đã kết nạp",
    membership_repo.RETURNED: "Đã trả lại",
}


def _scope(req: PageRequest) -> list[str] | None:
    assert req.staff is not None
    return None if req.staff.union_bodies is None else sorted(req.staff.union_bodies)


def _view(req: PageRequest, app: Application) -> dict[str, str]:
    services = req.services
    return asdict(ApplicationView.of(services.texts, services.areas, services.crypto, app))


async def queue(req: PageRequest) -> web.StreamResponse:
    status = req.arg("trang_thai", membership_repo.PENDING)
    if status not in STATUS_LABELS:
        status = membership_repo.PENDING
    body = req.arg("don_vi") or None
    reference = req.arg("ma") or None
    scope = _scope(req)
    apps, total = await reports.application_queue(
        req.session, scope, status=status, union_body=body, reference=reference
    )
    rows = [(app, _view(req, app)) for app in apps]
    if apps:
        req.audit("web.viewed_applications", "member_applications",
                  references=[a.reference for a in apps])  # fmt: skip
    bodies = scope if scope is not None else await reports.union_bodies(req.session)
    return req.render(
        "applications.html",
        rows=rows,
        total=total,
        chosen=status,
        statuses=STATUS_LABELS,
        body=body or "",
        bodies=bodies,
        reference=reference or "",
        done=req.arg("xong"),
        reason_min=REASON_MIN,
        reason_max=REASON_MAX,
    )


Application = membership_repo.MemberApplication


async def _load(req: PageRequest, *, lock: bool = False) -> Application | None:
    app_id = parse_id(req.match("id"))
    if app_id is None:
        return None
    app = await reports.application_in_scope(req.session, app_id, _scope(req), lock=lock)
    if app is None or app.name_enc is None:
        return None
    return app


async def detail(req: PageRequest) -> web.StreamResponse:
    app = await _load(req)
    if app is None:
        return req.not_found()
    req.audit("web.viewed_application", app.reference)
    return await _record_page(req, app)


async def _record_page(
    req: PageRequest, app: Application, *, status: int = 200, error: str = ""
) -> web.StreamResponse:
    return req.render(
        "application.html",
        status=status,
        app=app,
        view=_view(req, app),
        history=await membership_repo.history(req.session, app.id),
        statuses=STATUS_LABELS,
        reason_min=REASON_MIN,
        reason_max=REASON_MAX,
        error=error,
    )


async def _decided_elsewhere(req: PageRequest, app: Application) -> web.StreamResponse:
    label = STATUS_LABELS.get(app.status, app.status)
    return req.render(
        "error.html",
        status=409,
        heading="Đơn đã được xử lý",
        message=f"Đơn {app.reference} đã ở trạng thái “{label}”.",
    )


async def _own(req: PageRequest, app: Application) -> web.StreamResponse | None:
    """A refusal when the signed-in officer is the applicant: nobody decides their own."""
    assert req.staff is not None
    if not await membership_repo.is_own_application(
        req.session, app, req.staff.channel, req.staff.external_id
    ):
        return None
    req.audit("web.own_application_refused", app.reference)
    return req.render(
        "error.html",
        status=403,
        heading="Không thể tự duyệt đơn của mình",
        message=f"Đơn {app.reference} là đơn của chính bạn. Một cán bộ khác cần xét đơn này.",
    )


async def admit(req: PageRequest) -> web.StreamResponse:
    app = await _load(req, lock=True)
    if app is None:
        return req.not_found()
    if app.status != membership_repo.PENDING:
        return await _decided_elsewhere(req, app)
    refusal = await _own(req, app)
    if refusal is not None:
        return refusal
    assert req.staff is not None
    outs = await admit_application(
        req.session,
        req.engine.texts,
        app,
        actor=req.staff.ref,
        channel="web",
        now=req.now,
        services=req.engine.services,
    )
    enqueue_outgoing(req.session, outs, req.now)
    return req.redirect(f"/don?xong={app.reference}")


async def send_back(req: PageRequest) -> web.StreamResponse:
    app = await _load(req, lock=True)
    if app is None:
        return req.not_found()
    if app.status != membership_repo.PENDING:
        return await _decided_elsewhere(req, app)
    refusal = await _own(req, app)
    if refusal is not None:
        return refusal
    reason = clean_reason(req.form.get("ly_do"))
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        error = f"Lý do cần từ {REASON_MIN} đến {REASON_MAX} ký tự."
        return await _record_page(req, app, status=400, error=error)
    assert req.staff is not None
    outs = await return_application(
        req.session, req.engine.texts, req.services.crypto, app, reason,
        actor=req.staff.ref, channel="web", now=req.now,
    )  # fmt: skip
    enqueue_outgoing(req.session, outs, req.now)
    return req.redirect(f"/don?xong={app.reference}")


def register(dashboard: Dashboard) -> None:
    dashboard.page("/don", queue, roles=ROLES, title="Đơn gia nhập", order=20)
    dashboard.page("/don/{id}", detail, roles=ROLES)
    dashboard.page("/don/{id}/duyet", admit, roles=ROLES, method="POST")
    dashboard.page("/don/{id}/tralai", send_back, roles=ROLES, method="POST")
