"""/baocao in the staff group: this week's figures and a chart image, for city staff only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.core.events import Address, Inbound, Kind, Photo
from storage import membership as repo
from storage import reports
from tests import dashboard_seed as seed
from tests.driver import CaptureChannel

STAFF, STRANGER = "7401", "7402"


async def in_group(app: Any, user_id: str) -> list[Any]:
    inbound = Inbound(
        Address("telegram", "-100777"), user_id, Kind.COMMAND, dedupe_key=f"g{user_id}",
        text="/baocao", command="baocao", args="", chat_type="supergroup",
    )  # fmt: skip
    return await app.engine.handle(inbound)


async def test_weekly_summary_with_chart(make_app: Any, clock: Any) -> None:
    app = await make_app(CaptureChannel("telegram"), extra={"staff": {"staff": [STAFF]}})
    crypto = app.engine.services.crypto
    now = clock()
    async with app.db.transaction() as s:
        for i, days_ago in enumerate((0, 1, 20)):  # two this week (Mon 23, Tue 24 Nov), one earlier
            at = now - timedelta(days=days_ago)
            contact = await seed.worker(s, 9100 + i)
            await seed.application(s, crypto, contact_id=contact, union_body="Công đoàn phường A",
                                   at=at, status=repo.ADMITTED, decided_at=at,
                                   phone=f"0912{i:06d}")  # fmt: skip
        await reports.set_target(s, now.year, reports.CITY, 300, now)
    (reply,) = await in_group(app, STAFF)
    assert isinstance(reply.content, Photo) and reply.address.chat_id == "-100777"
    assert reply.content.data.startswith(b"\x89PNG") and len(reply.content.data) > 5_000
    caption = reply.content.caption
    assert "tuần này 2, tháng này 3" in caption and "năm 2026 là 3" in caption
    assert "Chỉ tiêu năm 2026: 300, đã đạt 1 %" in caption
    assert "0912" not in caption  # counts only


async def test_weekly_summary_refused_to_non_staff(make_app: Any) -> None:
    app = await make_app(CaptureChannel("telegram"), extra={"staff": {"staff": [STAFF]}})
    (reply,) = await in_group(app, STRANGER)
    assert not isinstance(reply.content, Photo) and "chỉ dành cho cán bộ" in reply.content.text
