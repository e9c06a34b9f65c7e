"""Thông báo on the dashboard: the list with progress and results, and the compose steps
(write, preview per channel with a test copy to oneself, send); a big audience approved by a
second staff member, never the author; city staff only."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from storage import broadcasts as repo
from tests.broadcast_helpers import counts, seed_subscribers
from tests.dashboard_seed import signed_in_clients
from tests.driver import CaptureChannel, Chat

AUTHOR, SECOND, VOLUNTEER = "7601", "7602", "7603"


@pytest.fixture
async def site(make_app: Any, clock: Any) -> Any:
    channel = CaptureChannel("telegram")
    app = await make_app(
        channel,
        extra={
            "staff": {"staff": [AUTHOR, SECOND], "volunteer": [VOLUNTEER]},
            "broadcast": {"quiet_hours": "00:00-00:00", "approval_over": 3},
        },
    )
    await seed_subscribers(app.db, [91, 92, 93], now=clock())
    async with signed_in_clients(app, channel) as client_for:
        yield app, channel, client_for


async def csrf_of(client: TestClient, path: str) -> str:
    page = await (await client.get(path)).text()
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


async def post(client: TestClient, path: str, **fields: str) -> Any:
    csrf = await csrf_of(client, "/thongbao")
    return await client.post(path, data={"csrf": csrf, **fields}, allow_redirects=False)


async def rows(app: Any) -> list[repo.Broadcast]:
    async with app.db.session() as session:
        return list(await session.scalars(select(repo.Broadcast).order_by(repo.Broadcast.id)))


POLL = {"noidung": "Công đoàn hỏi ý kiến bạn.", "loai": "poll",
        "cauhoi": "Bạn muốn tham quan ngày nào?", "traloi": "Thứ bảy\r\nChủ nhật",
        "nguoinhan": "topic_campaign"}  # fmt: skip


async def test_compose_preview_test_copy_send_and_results(site: Any, clock: Any) -> None:
    app, channel, client_for = site
    client = await client_for(AUTHOR)
    page = await (await client.get("/thongbao")).text()
    assert "Soạn thông báo mới" in page and "Chưa có thông báo nào" in page
    bad = await post(client, "/thongbao", **{**POLL, "traloi": "Thứ bảy"})
    assert bad.status == 400 and "từ 2 đến 5 câu" in await bad.text()
    assert await rows(app) == []
    made = await post(client, "/thongbao", **POLL)
    assert made.status == 303
    [draft] = await rows(app)
    assert (draft.status, draft.created_by) == ("draft", f"telegram:{AUTHOR}")
    assert draft.poll_options == ["Thứ bảy", "Chủ nhật"]
    preview = await (await client.get(made.headers["Location"])).text()
    assert 'id="so-nguoi">3<' in preview
    assert "1. Thứ bảy\n2. Chủ nhật\n3. Dừng nhận tin" in preview  # the Zalo Bot view
    assert "[Dừng nhận tin]" in preview  # where there are buttons
    # "Gửi thử cho tôi": the copy goes to the author's own chat, nobody else's.
    done = await post(client, f"/thongbao/{draft.id}/thu")
    assert done.status == 303
    await app.flush_outbox()
    copies = [o for o in channel.sent if o.text.startswith("Công đoàn hỏi ý kiến")]
    assert [o.address.chat_id for o in copies] == [AUTHOR]
    assert [c.label for c in copies[0].content.options] == ["Thứ bảy", "Chủ nhật", "Dừng nhận tin"]
    sent = await post(client, f"/thongbao/{draft.id}/gui")
    assert "xong=scheduled" in sent.headers["Location"]
    await app.run_job("broadcast.scheduler", clock())
    result = await counts(app.db, draft.id)
    assert (result["total"], result["sent"]) == (3, 3)
    worker = Chat(app, channel, user_id="91")
    worker.replies = [o for o in channel.sent if o.address.chat_id == "91"][-1:]
    await worker.press("Chủ nhật")
    listing = await (await client.get("/thongbao")).text()
    assert "đã gửi xong" in listing and "Chủ nhật: 1" in listing
    assert 'value="3">3/3</progress>' in listing
    detail = await (await client.get(f"/thongbao/{draft.id}")).text()
    assert 'id="tien-do"' in detail and "Gửi thông báo" not in detail


async def test_a_big_audience_needs_another_staff_member(site: Any, clock: Any) -> None:
    app, channel, client_for = site
    await seed_subscribers(app.db, [94], now=clock())  # four: over approval_over = 3
    author = await client_for(AUTHOR)
    made = await post(author, "/thongbao", noidung="Luật mới về đoàn phí.", loai="button",
                      nut="rights", nguoinhan="all")  # fmt: skip
    [draft] = await rows(app)
    asked = await post(author, f"/thongbao/{draft.id}/gui")
    assert "xong=needs_approval" in asked.headers["Location"]
    before = len(channel.sent)
    await app.flush_outbox()
    assert [o.address.chat_id for o in channel.sent[before:]] == [SECOND]  # not the author
    own = await post(author, f"/thongbao/{draft.id}/duyet")
    assert "loi=own" in own.headers["Location"]
    page = await (await author.get(made.headers["Location"])).text()
    assert "Đang chờ một cán bộ khác duyệt" in page and "/duyet" not in page
    await app.run_job("broadcast.scheduler", clock())
    assert (await counts(app.db, draft.id))["total"] == 0
    second = await client_for(SECOND)
    page = await (await second.get(f"/thongbao/{draft.id}")).text()
    assert "Duyệt gửi" in page
    approved = await post(second, f"/thongbao/{draft.id}/duyet")
    assert "xong=approved" in approved.headers["Location"]
    [row] = await rows(app)
    assert (row.status, row.approved_by) == ("scheduled", f"telegram:{SECOND}")
    before = len(channel.sent)
    await app.flush_outbox()
    assert any(o.address.chat_id == AUTHOR and "đã được cán bộ" in o.text
               for o in channel.sent[before:])  # fmt: skip
    await app.run_job("broadcast.scheduler", clock())
    assert (await counts(app.db, draft.id))["sent"] == 4


async def test_only_city_staff_open_the_page_and_forms_need_the_token(site: Any) -> None:
    app, _channel, client_for = site
    volunteer = await client_for(VOLUNTEER)
    assert (await volunteer.get("/thongbao")).status == 404
    staff = await client_for(AUTHOR)
    refused = await staff.post(
        "/thongbao", data={"noidung": "x", "nguoinhan": "all"}, allow_redirects=False
    )
    assert refused.status == 403
    assert await rows(app) == []
    assert (await staff.get("/thongbao/999")).status == 404
    menu = await (await staff.get("/thongbao")).text()
    assert 'href="/thongbao"' in menu


async def test_a_group_left_out_of_the_audience_gets_nothing(site: Any, clock: Any) -> None:
    app, channel, client_for = site
    await seed_subscribers(app.db, [94], topic="rights", now=clock())  # the 4th: law news only
    client = await client_for(AUTHOR)
    page = await (await client.get("/thongbao")).text()
    assert 'name="tru"' in page and "Không trừ ai" in page
    same = await post(
        client, "/thongbao", noidung="Tin mới.", nguoinhan="topic_rights", tru="topic_rights"
    )
    assert same.status == 400 and "Trừ: chọn một nhóm khác" in await same.text()
    made = await post(
        client, "/thongbao", noidung="Tháng Công nhân bắt đầu.", nguoinhan="all", tru="topic_rights"
    )
    assert made.status == 303
    [draft] = await rows(app)
    assert (draft.audience, draft.exclude) == ("all", "topic:rights")
    preview = await (await client.get(made.headers["Location"])).text()
    assert "trừ topic:rights" in preview and 'id="so-nguoi">3<' in preview
    await post(client, f"/thongbao/{draft.id}/gui")
    await app.run_job("broadcast.scheduler", clock())
    result = await counts(app.db, draft.id)
    assert (result["total"], result["sent"]) == (3, 3)
    got = {o.address.chat_id for o in channel.sent if o.text.startswith("Tháng Công nhân")}
    assert got == {"91", "92", "93"}


def _png() -> bytes:
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (64, 40), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


async def _post_with_photo(client: TestClient, photo: bytes, **fields: str) -> Any:
    from aiohttp import FormData

    form = FormData()
    form.add_field("csrf", await csrf_of(client, "/thongbao"))
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("anh", photo, filename="poster của tôi.png", content_type="image/png")
    return await client.post("/thongbao", data=form, allow_redirects=False)


async def test_a_photo_chosen_on_the_form_goes_to_every_recipient_before_the_text(
    site: Any, clock: Any
) -> None:
    from bot.core.events import Photo

    app, channel, client_for = site
    client = await client_for(AUTHOR)
    fields = {"noidung": "Tháng Công nhân 2027 bắt đầu.", "nguoinhan": "all"}
    not_image = await _post_with_photo(client, b"%PDF-1.4 not an image", **fields)
    assert not_image.status == 400 and "chỉ nhận ảnh JPG hoặc PNG" in await not_image.text()
    too_big = await _post_with_photo(client, b"\x89PNG" + b"0" * (6 * 1024 * 1024), **fields)
    assert too_big.status == 413 and "tối đa" in await too_big.text()
    assert await rows(app) == []

    png = _png()
    made = await _post_with_photo(client, png, **fields)
    assert made.status == 303
    [draft] = await rows(app)
    assert (draft.photo, draft.photo_name) == (png, "anh.png")  # not the name as uploaded
    preview = await (await client.get(made.headers["Location"])).text()
    assert "[ảnh anh.png" in preview
    await post(client, f"/thongbao/{draft.id}/gui")
    await app.run_job("broadcast.scheduler", clock())
    for worker in ("91", "92", "93"):
        got = [o.content for o in channel.sent if o.address.chat_id == worker]
        assert isinstance(got[-2], Photo) and got[-2].data == png
        assert got[-1].text.startswith("Tháng Công nhân 2027")
