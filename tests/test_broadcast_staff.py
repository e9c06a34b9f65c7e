"""/guithongbao in a private Telegram chat: compose through the form runner, a test copy to the
author, the audience per channel, "Gửi thông báo", and a second staff member's approval for a
big audience (a staff role, not the author); the bot's scheduler sends it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from storage import broadcasts as repo
from tests.broadcast_helpers import counts, seed_subscribers
from tests.driver import CaptureChannel, Chat

AUTHOR, SECOND, WORKER = "7501", "7502", "7509"
SUBSCRIBERS = [81, 82, 83]


@pytest.fixture
async def staff(make_app: Any, clock: Any) -> Any:
    channel = CaptureChannel("telegram")
    app = await make_app(
        channel,
        extra={
            "staff": {"staff": [AUTHOR, SECOND]},
            "broadcast": {"quiet_hours": "00:00-00:00", "approval_over": 3},
        },
    )
    await seed_subscribers(app.db, SUBSCRIBERS, now=clock())
    chats = {who: Chat(app, channel, user_id=who) for who in (AUTHOR, SECOND, WORKER)}
    return app, channel, chats


def labels(chat: Chat) -> list[str]:
    return [label for label, _ in chat.options()]


async def compose_text(chat: Chat, text: str, audience: str = "Chủ đề: tin chiến dịch") -> None:
    await chat.send("/guithongbao")
    assert "news.compose.text.prompt" in chat.keys, chat.text
    await chat.send(text)
    await chat.press("Kèm một nút")
    await chat.press("Gia nhập công đoàn")
    await chat.press(audience)
    if "news.compose.exclude.prompt" in chat.keys:
        await chat.press("Bỏ qua")  # leave nobody out
    await chat.press("Bỏ qua")  # send as soon as it is confirmed
    assert "news.compose.confirm" in chat.keys, chat.text
    await chat.press("Gửi")


async def broadcasts(app: Any) -> list[repo.Broadcast]:
    async with app.db.session() as session:
        return list(await session.scalars(select(repo.Broadcast).order_by(repo.Broadcast.id)))


async def test_only_staff_in_a_private_chat_may_compose(staff: Any) -> None:
    app, _channel, chats = staff
    worker = chats[WORKER]
    await worker.send("/guithongbao")
    assert "news.compose.refused" in worker.keys and not worker.options()
    await worker.send("/duyetthongbao 1")
    assert "news.compose.refused" in worker.keys
    await chats[AUTHOR].send("/duyetthongbao 99999999999999999999")
    assert "news.compose.duyet_usage" in chats[AUTHOR].keys
    await worker.press_payload("bcs:go:1")  # a forged button
    assert "news.compose.refused" in worker.keys
    assert await broadcasts(app) == []


async def test_compose_preview_with_a_test_copy_then_send(staff: Any, clock: Any) -> None:
    app, channel, chats = staff
    author = chats[AUTHOR]
    await compose_text(author, "Tháng Công nhân 2027 bắt đầu!\nMời bạn tham gia.")
    # The test copy reaches the author alone, exactly as workers will see it.
    copies = [o for o in author.replies if o.text.startswith("Tháng Công nhân 2027")]
    assert len(copies) == 1 and copies[0].address.chat_id == AUTHOR
    assert [c.label for c in copies[0].content.options] == ["Gia nhập công đoàn", "Dừng nhận tin"]
    assert "3 người đã đăng ký" in author.text and "• Telegram: 3 người" in author.text
    assert "để gửi (bắt đầu trong vòng một phút);" in author.text
    assert not [o for o in channel.sent if o.address.chat_id in map(str, SUBSCRIBERS)]
    [draft] = await broadcasts(app)
    assert (draft.status, draft.created_by, draft.button) == ("draft", f"telegram:{AUTHOR}", "join")
    await author.press("Gửi thông báo")
    assert "news.compose.scheduled" in author.keys and "3 người" in author.text
    await author.press_payload(f"bcs:go:{draft.id}")  # pressed twice: nothing more
    assert "news.compose.closed" in author.keys
    await app.run_job("broadcast.scheduler", clock())
    got = [o for o in channel.sent if o.text.startswith("Tháng Công nhân 2027")]
    assert sorted(o.address.chat_id for o in got) == sorted([AUTHOR, *map(str, SUBSCRIBERS)])
    result = await counts(app.db, draft.id)
    assert (result["total"], result["sent"]) == (3, 3)
    await author.send("/menu")
    await author.press_payload(f"bcs:status:{draft.id}")
    assert "Đã gửi 3/3" in author.text and "đã gửi xong" in author.text


async def test_a_poll_edited_at_the_preview_keeps_every_answer(staff: Any, clock: Any) -> None:
    app, _channel, chats = staff
    author = chats[AUTHOR]
    await author.send("/guithongbao")
    await author.send("Công đoàn hỏi ý kiến bạn.")
    await author.press("Khảo sát nhanh")
    await author.send("Bạn muốn đi tham quan vào ngày nào?")
    await author.send("Thứ bảy")
    assert "news.compose.options.count" in author.keys  # one answer is not a poll
    await author.send("Thứ bảy; Chủ nhật")
    await author.press("Mọi người đăng ký")
    assert "news.compose.exclude.prompt" in author.keys
    await author.press("Người đang chờ xét đơn")  # everyone but the applicants
    await author.send("08:00 01/01/2020")
    assert "news.compose.at.past" in author.keys
    await author.send("08:00 01/12/2026")
    assert "08:00 01/12/2026" in author.text  # the summary, in Hai Phong time
    await author.press("Gửi")
    assert [c.label for c in author.replies[1].content.options] == [
        "Thứ bảy", "Chủ nhật", "Dừng nhận tin",
    ]  # fmt: skip
    assert "lúc 08:00 01/12/2026" in author.text
    await author.press("Sửa")
    assert "news.compose.confirm" in author.keys  # every answer kept: the summary at once
    assert "Thứ bảy; Chủ nhật" in author.text and "Trừ: Người đang chờ xét đơn" in author.text
    await author.press("Sửa: Câu trả lời")
    await author.send("Thứ bảy\nChủ nhật\nNgày lễ")
    await author.press("Gửi")
    first, second = await broadcasts(app)
    assert first.status == "cancelled" and second.status == "draft"
    assert second.poll_options == ["Thứ bảy", "Chủ nhật", "Ngày lễ"]
    assert second.poll_question == "Bạn muốn đi tham quan vào ngày nào?"
    assert second.scheduled_at == first.scheduled_at
    assert (first.exclude, second.exclude) == ("applicants", "applicants")
    await author.press("Gửi thông báo")
    assert "news.compose.scheduled" in author.keys and "lúc 08:00 01/12/2026" in author.text
    await app.run_job("broadcast.scheduler", clock())  # before its time: nothing goes
    assert (await counts(app.db, second.id))["total"] == 0


async def test_a_big_audience_waits_for_a_second_staff_member(staff: Any, clock: Any) -> None:
    app, channel, chats = staff
    author, second, worker = chats[AUTHOR], chats[SECOND], chats[WORKER]
    await seed_subscribers(app.db, [84], now=clock())  # four: over approval_over = 3
    await compose_text(author, "Luật mới về đoàn phí từ 01/07/2027.", audience="Mọi người đăng ký")
    [draft] = await broadcasts(app)
    await author.press("Gửi thông báo")
    assert "news.compose.needs_approval" in author.keys and "hơn 3 người" in author.text
    assert "báo 1 cán bộ khác" in author.text
    await app.run_job("broadcast.scheduler", clock())
    assert (await counts(app.db, draft.id))["total"] == 0  # nothing goes before approval
    before = len(channel.sent)
    await app.flush_outbox()
    [request] = [o for o in channel.sent[before:] if o.address.chat_id == SECOND]
    assert "đề nghị duyệt thông báo số" in request.text and "Luật mới" in request.text
    await author.send(f"/duyetthongbao {draft.id}")
    assert "news.compose.own" in author.keys  # the author never approves their own
    await author.press_payload(f"bcs:ok:{draft.id}")
    assert "news.compose.own" in author.keys
    await worker.press_payload(f"bcs:ok:{draft.id}")
    assert "news.compose.refused" in worker.keys  # no staff role, no approval
    await second.press_payload(request.content.options[0].payload)  # "Xem và duyệt"
    assert any(o.text.startswith("Luật mới") for o in second.replies)  # the test copy
    assert "news.compose.review_intro" in second.keys
    await second.press("Duyệt gửi")
    assert "news.compose.approved" in second.keys
    async with app.db.session() as session:
        row = await repo.get(session, draft.id)
        assert row is not None
        assert (row.status, row.approved_by) == ("scheduled", f"telegram:{SECOND}")
    before = len(channel.sent)
    await app.flush_outbox()
    told = [o.text for o in channel.sent[before:] if o.address.chat_id == AUTHOR]
    assert any("đã được cán bộ" in text for text in told)
    await second.press_payload(f"bcs:ok:{draft.id}")
    assert "news.compose.already" in second.keys
    clock.advance(seconds=30)
    await app.run_job("broadcast.scheduler", clock())
    result = await counts(app.db, draft.id)
    assert (result["total"], result["sent"]) == (4, 4)


async def test_refused_by_the_second_staff_member_it_is_cancelled(staff: Any, clock: Any) -> None:
    app, _channel, chats = staff
    author, second = chats[AUTHOR], chats[SECOND]
    await seed_subscribers(app.db, [84], now=clock())
    await compose_text(author, "Thông báo thử nghiệm.", audience="Mọi người đăng ký")
    await author.press("Gửi thông báo")
    [draft] = await broadcasts(app)
    await second.send(f"/duyetthongbao {draft.id}")
    await second.press("Không duyệt")
    assert "news.compose.rejected" in second.keys
    await app.run_job("broadcast.scheduler", clock() + timedelta(minutes=5))
    [row] = await broadcasts(app)
    assert row.status == "cancelled"
    assert (await counts(app.db, draft.id))["total"] == 0


async def test_an_area_audience_picks_the_commune_and_nobody_there_means_nothing_to_send(
    staff: Any,
) -> None:
    app, _channel, chats = staff
    author = chats[AUTHOR]
    await author.send("/guithongbao")
    await author.send("Họp công nhân khu vực.")
    await author.press("Chỉ có chữ")
    await author.press("Một xã, phường")
    await author.send("Sao Hỏa")
    assert "news.compose.area.none" in author.keys
    await author.send("le chan")
    if "form.pick" in author.keys:
        await author.press("Phường Lê Chân")
    await author.press("Bỏ qua")
    assert "Phường Lê Chân" in author.text
    await author.press("Gửi")
    [draft] = await broadcasts(app)
    assert draft.audience == "area:Phường Lê Chân"
    assert "tới 0 người" in author.text
    await author.press("Gửi thông báo")
    assert "news.compose.empty" in author.keys
    await author.press("Hủy thông báo")
    assert "news.compose.dropped" in author.keys
    [row] = await broadcasts(app)
    assert row.status == "cancelled"
