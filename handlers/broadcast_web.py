"""Thông báo on the staff dashboard (/thongbao): the announcements with their progress and
results, and the compose steps of /guithongbao.

1. /thongbao: the list (status, audience, progress done/total, sent, failed, blocked, held,
   skipped, opted out, button presses, poll answers) and the form to write one: text, a
   button or a poll, the audience, an optional time (Hai Phong time).
2. /thongbao/{id}: the preview — what each channel shows and to how many, text over a
   channel's limit flagged — "Gửi thử cho tôi" (a test copy to one's own chat, through the
   outbox), then "Gửi thông báo". An audience over ``[broadcast] approval_over`` waits for a
   second staff member, who approves here or in the chat; never the author.

The decisions are ``handlers/broadcast_compose.py``'s, as for the chat and the CLI; the pages
only read forms and render (templates ``broadcasts.html`` and ``broadcast.html`` in the
dashboard's folder). City staff only; every action is audited (pseudonym and ids).
"""

from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image

from bot.core.context import enqueue_outgoing
from bot.core.events import Outgoing
from bot.core.numbers import parse_id
from bot.core.roles import Who
from handlers import broadcast_compose as compose
from handlers.broadcast_send import (
    BUTTONS,
    BroadcastConfig,
    check_button,
    check_poll,
    render,
    resolve_audience,
)
from handlers.broadcast_staff import (
    AUDIENCES,
    CHANNEL_NAMES,
    QUESTION_MAX,
    approval_requests,
    author_notice,
    union_bodies_of,
)
from storage import broadcasts as repo

ROLES = ("staff",)
LIST_LIMIT = 50
PHOTO_MAX = 5 * 1024 * 1024  # under Telegram's 10 MB for sendPhoto; a poster needs no more
UPLOAD_MAX = PHOTO_MAX + 64 * 1024  # the photo and the form's fields
AUDIENCE_LABELS = {
    "all": "Mọi người đăng ký",
    "topic_campaign": "Chủ đề: tin chiến dịch",
    "topic_rights": "Chủ đề: quyền lợi, luật mới",
    "topic_activities": "Chủ đề: hoạt động, phúc lợi",
    "members": "Đoàn viên",
    "non_members": "Người chưa là đoàn viên",
    "applicants": "Người đang chờ xét đơn",
    "collaborators": "Cộng tác viên",
    "volunteers": "Tình nguyện viên",
    "area": "Một xã, phường (gõ tên bên dưới)",
    "union_body": "Một công đoàn cấp trên (chọn bên dưới)",
}
# "Trừ": a group left out of the audience (a recruitment message to everyone but members).
EXCLUDE_LABELS = {
    "": "Không trừ ai",
    **{k: v for k, v in AUDIENCE_LABELS.items() if k in AUDIENCES and k != "all"},
}
BUTTON_LABELS = {"join": "Gia nhập công đoàn", "rights": "Quyền lợi", "ask": "Hỏi đáp",
                 "link": "Một đường link"}  # fmt: skip
DONE_MESSAGES = {
    "thu": "Đã gửi bản thử vào chat của bạn với bot.",
    "scheduled": "Đã xếp lịch gửi; bot bắt đầu trong vòng một phút (hoặc lúc đã hẹn).",
    "needs_approval": "Nhóm người nhận lớn: đã đề nghị các cán bộ khác duyệt.",
    "approved": "Đã duyệt; thông báo sẽ được gửi.",
    "rejected": "Đã không duyệt; thông báo bị hủy.",
    "cancelled": "Đã hủy thông báo.",
}
REFUSALS = {
    "not_staff": "Bạn không có quyền cán bộ Liên đoàn.",
    "missing": "Không tìm thấy thông báo này.",
    "closed": "Thông báo này đang gửi, đã gửi hoặc đã hủy: không đổi được nữa.",
    "too_long": "Nội dung quá dài trên một kênh: hãy soạn lại ngắn hơn.",
    "empty": "Chưa có ai trong nhóm người nhận này đăng ký nhận tin.",
    "own": "Bạn là người soạn nên không tự duyệt được; cần một cán bộ khác.",
    "already": "Thông báo này đã được duyệt rồi.",
    "not_waiting": "Thông báo này không chờ duyệt.",
}


def _who(req: Any) -> Who:
    assert req.staff is not None
    return Who(req.staff.channel, req.staff.external_id)


def _status(req: Any, status: str) -> str:
    return req.t(f"news.status.{status}")


@dataclass
class Row:
    broadcast: repo.Broadcast
    counts: dict[str, int]
    status: str
    title: str
    poll: list[tuple[str, int]] = field(default_factory=list)

    @property
    def done(self) -> int:
        c = self.counts
        return c["total"] - c[repo.QUEUED] - c[repo.SENDING]


async def _row(req: Any, broadcast: repo.Broadcast) -> Row:
    counts = await repo.counts(req.session, broadcast.id)
    first = (broadcast.text or broadcast.poll_question or "").strip().splitlines()
    title = first[0][:80] if first else f"#{broadcast.id}"
    poll = []
    if broadcast.poll_options:
        answers = await repo.poll_counts(req.session, broadcast.id)
        poll = [(o, answers.get(n, 0)) for n, o in enumerate(broadcast.poll_options, 1)]
    return Row(broadcast, counts, _status(req, broadcast.status), title, poll)


def _blank() -> dict[str, str]:
    return {"noidung": "", "loai": "text", "nut": "join", "link": "", "cauhoi": "",
            "traloi": "", "nguoinhan": "all", "xa": "", "congdoan": "", "tru": "",
            "luc": ""}  # fmt: skip


async def listing(req: Any) -> Any:
    return await _listing(req, _blank(), req.arg("loi"))


async def _listing(req: Any, form: dict[str, str], error: str, status: int = 200) -> Any:
    rows = [await _row(req, b) for b in await repo.listing(req.session, LIST_LIMIT)]
    return req.render(
        "broadcasts.html", status=status, rows=rows, form=form, error=error,
        done=DONE_MESSAGES.get(req.arg("xong"), ""), audiences=AUDIENCE_LABELS,
        excludes=EXCLUDE_LABELS, buttons=BUTTON_LABELS, bodies=union_bodies_of(req.services.areas),
    )  # fmt: skip


def parse_photo(files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str] | str | None:
    """The photo chosen on the form (JPEG or PNG, checked by Pillow), None when there is none,
    or what is wrong with it. Its name is not kept as typed: only "anh.jpg" or "anh.png"."""
    _, data = files.get("anh", ("", b""))
    if not data:
        return None
    if len(data) > PHOTO_MAX:
        return f"Ảnh: tối đa {PHOTO_MAX // (1024 * 1024)} MB."
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            image.verify()
    except Exception:
        kind = None
    if kind not in ("JPEG", "PNG"):
        return "Ảnh: chỉ nhận ảnh JPG hoặc PNG."
    return data, "anh.jpg" if kind == "JPEG" else "anh.png"


def parse(form: dict[str, str], areas: Any, timezone: str, now: datetime) -> dict[str, Any] | str:
    """The announcement the form describes, or what is wrong with it (in Vietnamese)."""
    text = unicodedata.normalize("NFC", form.get("noidung", "").replace("\r\n", "\n")).strip()
    kind = form.get("loai", "text")
    values: dict[str, Any] = {"text": text, "button": None, "poll_question": None,
                              "poll_options": None}  # fmt: skip
    if not text:
        return "Nội dung: không được để trống."
    if len(text) > compose.TEXT_MAX:
        return f"Nội dung dài {len(text)} ký tự, quá {compose.TEXT_MAX} ký tự Zalo cho phép."
    if kind == "button":
        chosen = form.get("nut", "")
        target = form.get("link", "").strip() if chosen == "link" else chosen
        try:
            if chosen not in (*BUTTONS, "link"):
                raise ValueError(chosen)
            values["button"] = check_button(target)
        except ValueError:
            return "Nút: chọn một nút; đường link bắt đầu bằng https://, không có dấu cách."
    elif kind == "poll":
        question = " ".join(unicodedata.normalize("NFC", form.get("cauhoi", "")).split())
        options = [" ".join(o.split()) for o in form.get("traloi", "").splitlines()]
        if not question or len(question) > QUESTION_MAX:
            return f"Câu hỏi khảo sát: cần có, tối đa {QUESTION_MAX} ký tự."
        try:
            values["poll_options"] = check_poll(
                question, [unicodedata.normalize("NFC", o) for o in options if o]
            )
        except ValueError:
            return "Câu trả lời: từ 2 đến 5 câu, mỗi câu một dòng, tối đa 40 ký tự."
        values["poll_question"] = question
    elif kind != "text":
        return "Loại thông báo: chỉ có chữ, kèm một nút, hoặc khảo sát nhanh."
    audience = form.get("nguoinhan", "")
    if audience == "area":
        typed = form.get("xa", "")
        area = areas.by_name(typed) or next(iter(areas.search(typed)), None)
        if area is None:
            return "Xã, phường: không tìm thấy tên này."
        values["audience"] = f"area:{area.name}"
    elif audience == "union_body":
        body = form.get("congdoan", "")
        if body not in union_bodies_of(areas):
            return "Công đoàn cấp trên: chọn một đơn vị trong danh sách."
        values["audience"] = f"union-body:{body}"
    elif audience in AUDIENCES:
        values["audience"] = AUDIENCES[audience]
    else:
        return "Người nhận: chọn một nhóm."
    try:
        resolve_audience(values["audience"], areas)
    except ValueError as e:
        return f"Người nhận: {e}"
    left_out = form.get("tru", "")
    if left_out and (left_out not in EXCLUDE_LABELS or AUDIENCES[left_out] == values["audience"]):
        return "Trừ: chọn một nhóm khác với nhóm người nhận, hoặc “Không trừ ai”."
    values["exclude"] = AUDIENCES[left_out] if left_out else None
    at = form.get("luc", "").strip()
    values["scheduled_at"] = None
    if at:
        try:
            local = datetime.fromisoformat(at)
        except ValueError:
            return "Thời điểm gửi: chưa đúng dạng ngày giờ."
        if local.tzinfo is None:
            local = local.replace(tzinfo=ZoneInfo(timezone))
        values["scheduled_at"] = local.astimezone(UTC)
        if values["scheduled_at"] <= now:
            return "Thời điểm gửi đã qua: để trống để gửi ngay, hoặc chọn một lúc sau bây giờ."
    return values


async def create(req: Any) -> Any:
    config = req.services.config(BroadcastConfig)
    parsed = parse(req.form, req.services.areas, config.timezone, req.now)
    photo = parse_photo(req.files)
    if isinstance(photo, str) and not isinstance(parsed, str):
        parsed = photo
    if isinstance(parsed, str):
        form = {**_blank(), **{k: v for k, v in req.form.items() if k in _blank()}}
        return await _listing(req, form, parsed, status=400)
    broadcast = await repo.create(
        req.session, **parsed, status=repo.DRAFT,
        photo=photo[0] if photo else None, photo_name=photo[1] if photo else None,
        created_by=compose.staff_ref(_who(req)), created_at=req.now,
    )  # fmt: skip
    req.audit("web.broadcast_created", f"broadcast:{broadcast.id}", audience=broadcast.audience)
    return req.redirect(f"/thongbao/{broadcast.id}")


async def _load(req: Any) -> repo.Broadcast | None:
    broadcast_id = parse_id(req.match("id"))
    return await repo.get(req.session, broadcast_id) if broadcast_id is not None else None


async def detail(req: Any) -> Any:
    broadcast = await _load(req)
    if broadcast is None:
        return req.not_found()
    sizes = await compose.sizes_in(req.session, broadcast, req.services.areas)
    views = compose.channel_views(broadcast, req.services.texts, req.services.channels, sizes)
    config = req.services.config(BroadcastConfig)
    quiet = (
        f"{config.quiet_start:%H:%M}–{config.quiet_end:%H:%M}"
        if config.quiet_start != config.quiet_end
        else ""
    )
    return req.render(
        "broadcast.html", row=await _row(req, broadcast), views=views, names=CHANNEL_NAMES,
        size=sum(sizes.values()), problems=[p for v in views for p in v.problems],
        mine=broadcast.created_by == compose.staff_ref(_who(req)), quiet=quiet,
        limit=config.approval_over, done=DONE_MESSAGES.get(req.arg("xong"), ""),
        error=REFUSALS.get(req.arg("loi"), ""),
    )  # fmt: skip


def _back(req: Any, broadcast_id: int, outcome: str) -> Any:
    if outcome in DONE_MESSAGES:
        return req.redirect(f"/thongbao/{broadcast_id}?xong={outcome}")
    return req.redirect(f"/thongbao/{broadcast_id}?loi={outcome}")


async def test_copy(req: Any) -> Any:
    """ "Gửi thử cho tôi": the copy as workers get it, to this staff member's own chat."""
    broadcast = await _load(req)
    if broadcast is None:
        return req.not_found()
    who = _who(req)
    address = compose.address_of(who)
    outs = [Outgoing(address, item) for item in render(broadcast, req.services.texts)]
    enqueue_outgoing(req.session, outs, req.now)
    req.audit("web.broadcast_test_copy", f"broadcast:{broadcast.id}")
    return _back(req, broadcast.id, "thu")


async def send(req: Any) -> Any:
    broadcast = await _load(req)
    if broadcast is None:
        return req.not_found()
    services = req.services
    sizes = await compose.sizes_in(req.session, broadcast, services.areas)
    views = compose.channel_views(broadcast, services.texts, services.channels, sizes)
    decision = await compose.request_send(
        req.session, broadcast.id, roles=services.roles, who=_who(req),
        config=services.config(BroadcastConfig), areas=services.areas,
        problems=[p for v in views for p in v.problems], now=req.now,
    )  # fmt: skip
    if decision.outcome == "needs_approval" and decision.broadcast is not None:
        asks = await approval_requests(
            req.session, services.roles, services.texts, decision.broadcast, decision.size,
            author=compose.staff_ref(_who(req)),
        )  # fmt: skip
        enqueue_outgoing(req.session, asks, req.now)
    req.audit("web.broadcast_send", f"broadcast:{broadcast.id}", outcome=decision.outcome,
              recipients=decision.size)  # fmt: skip
    return _back(req, broadcast.id, decision.outcome)


async def approve(req: Any) -> Any:
    broadcast = await _load(req)
    if broadcast is None:
        return req.not_found()
    services = req.services
    decision = await compose.approve(
        req.session, broadcast.id, roles=services.roles, who=_who(req), now=req.now
    )
    found = decision.broadcast
    if decision.outcome == "approved" and found is not None and found.scheduled_at is not None:
        notice = author_notice(
            services.texts, found, "news.compose.approved_author", by=_who(req), id=found.id,
            approver=compose.staff_ref(_who(req)), at=_local(found.scheduled_at),
        )  # fmt: skip
        enqueue_outgoing(req.session, notice, req.now)
    req.audit("web.broadcast_approve", f"broadcast:{broadcast.id}", outcome=decision.outcome)
    return _back(req, broadcast.id, decision.outcome)


def _local(value: datetime) -> str:
    from bot.core.texts import fmt_datetime

    return fmt_datetime(value)


async def reject(req: Any) -> Any:
    broadcast = await _load(req)
    if broadcast is None:
        return req.not_found()
    if broadcast.created_by == compose.staff_ref(_who(req)):
        return _back(req, broadcast.id, "own")
    if broadcast.status != repo.AWAITING_APPROVAL:
        return _back(req, broadcast.id, "not_waiting")
    services = req.services
    decision = await compose.cancel(req.session, broadcast.id, roles=services.roles, who=_who(req))
    if decision.outcome == "cancelled":
        notice = author_notice(
            services.texts, broadcast, "news.compose.rejected_author", by=_who(req),
            id=broadcast.id, approver=compose.staff_ref(_who(req)),
        )  # fmt: skip
        enqueue_outgoing(req.session, notice, req.now)
    req.audit("web.broadcast_reject", f"broadcast:{broadcast.id}", outcome=decision.outcome)
    return _back(req, broadcast.id, "rejected" if decision.outcome == "cancelled" else "closed")


async def drop(req: Any) -> Any:
    broadcast = await _load(req)
    if broadcast is None:
        return req.not_found()
    decision = await compose.cancel(
        req.session, broadcast.id, roles=req.services.roles, who=_who(req)
    )
    req.audit("web.broadcast_cancel", f"broadcast:{broadcast.id}", outcome=decision.outcome)
    return _back(req, broadcast.id, decision.outcome)


def register(dashboard: Any) -> None:
    dashboard.page("/thongbao", listing, roles=ROLES, title="Thông báo", order=65)
    dashboard.page("/thongbao", create, roles=ROLES, method="POST", upload_max=UPLOAD_MAX)
    dashboard.page("/thongbao/{id}", detail, roles=ROLES)
    for path, handler in (("thu", test_copy), ("gui", send), ("duyet", approve),
                          ("tuchoi", reject), ("huy", drop)):  # fmt: skip
        dashboard.page(f"/thongbao/{{id}}/{path}", handler, roles=ROLES, method="POST")
