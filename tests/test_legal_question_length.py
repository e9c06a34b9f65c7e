"""Questions to the legal centre (issue #12 point 14): a long one reaches staff whole, in several
posts cut between words; a very short one is asked for one more detail; with no staff group the
worker gets the hotline instead of a reply time nobody will meet."""

from __future__ import annotations

from typing import Any

from tests.driver import CaptureChannel, Chat
from tests.test_relay import GROUP, group_posts, relay_app

LONG = " ".join(
    f"chuyện{n} công ty trừ lương tháng {n % 12 + 1} không báo trước" for n in range(300)
)


async def _open_form(chat: Chat) -> None:
    await chat.send("/menu")
    await chat.press("Hỏi đáp")
    await chat.press("Hỏi tư vấn viên")
    await chat.press("Đồng ý")
    assert "relay.form.question.prompt" in chat.keys


async def test_a_long_question_reaches_staff_whole_in_several_posts(make_app: Any) -> None:
    channel = CaptureChannel("telegram")
    chat = Chat(await relay_app(make_app, channel), channel)
    question = LONG[:3990].rsplit(" ", 1)[0]
    assert len(question) > 3500
    await _open_form(chat)
    await chat.send(question)
    await chat.press("Bỏ qua")
    await chat.press("Ẩn danh")
    await chat.press("Gửi")
    await chat.app.flush_outbox()
    posts = [o.text for o in group_posts(channel)]
    assert len(posts) >= 2 and all(len(p) <= 4096 for p in posts)
    pieces = [p.split("\n", 1)[1] if "phần" in p.split("\n", 1)[0] else p for p in posts]
    joined = " ".join(pieces)
    for word in question.split():
        assert word in joined, word  # no word is lost or cut in half
    assert "(còn tiếp ở tin sau)" in posts[0]


async def test_a_very_short_question_is_asked_for_one_more_detail(make_app: Any) -> None:
    channel = CaptureChannel("telegram")
    chat = Chat(await relay_app(make_app, channel), channel)
    await _open_form(chat)
    await chat.send("bi giam doc danh")
    assert "relay.form.question.more_detail" in chat.keys
    await chat.send("hôm qua ở xưởng may, trước mặt mọi người")
    assert "relay.form.workplace.prompt" in chat.keys
    await chat.press("Bỏ qua")
    await chat.press("Ẩn danh")
    assert "bi giam doc danh. hôm qua ở xưởng may" in chat.text  # both answers, joined


async def test_without_a_staff_group_the_worker_gets_the_hotline(make_app: Any) -> None:
    channel = CaptureChannel("telegram")
    app = await make_app(channel)
    chat = Chat(app, channel)
    await _open_form(chat)
    await chat.send("Công ty không trả lương tháng 10 cho cả xưởng may")
    await chat.press("Bỏ qua")
    await chat.press("Ẩn danh")
    await chat.press("Gửi")
    assert "relay.submitted.no_group" in chat.keys and "1800.888864" in chat.text
    assert "dự kiến" not in chat.text
    assert not [o for o in channel.sent if o.address.chat_id == GROUP]
