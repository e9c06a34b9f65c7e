"""The relay over (fake) Telegram: a worker in a private chat, lawyers in a staff supergroup.

Production code all the way from the fake Bot API server to SQLite: aiogram polling, the
adapter, the app's inbox and outbox, the engine and the relay handlers. The fake checks every
request against the Bot API spec (createForumTopic, copyMessage, message_thread_id, replies).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import FEATURES, App
from bot.channels.telegram import TelegramChannel
from bot.channels.throttle import unlimited
from tests.fakes.telegram import FakeTelegram, Sent, skip_without_spec

WORKER = 880101
LAWYER = 770001
STRANGER = 770002
GROUP = -1009990001
FEATURES_ALL = FEATURES


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    skip_without_spec()
    async with FakeTelegram() as server:
        yield server


async def _app(fake: FakeTelegram, make_app: Any, tmp_path: Path, *, topics: bool) -> App:
    fake.create_chat(GROUP, title="Tư vấn pháp luật", is_forum=topics)
    fake.add_user(LAWYER, "Minh", "Luật sư")
    fake.add_user(STRANGER, "Khách")
    channel = TelegramChannel(
        fake.token, api_base=fake.base_url, poll_timeout=1, throttle=unlimited()
    )
    extra = {
        "legal": {"group_chat_id": str(GROUP), "topics": topics},
        "staff": {"legal": [str(LAWYER)]},
    }
    app = await make_app(
        channel,
        features=FEATURES_ALL,
        url=f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}",
        extra=extra,
    )
    await app.start()
    return app


def _button(sent: Sent, label: str) -> str:
    for text, data in sent.buttons:
        if label.casefold() in text.casefold():
            return data
    raise AssertionError(f"no button {label!r} in {sent.buttons}")


async def _ask(fake: FakeTelegram) -> str:
    """The worker asks an FAQ question, then sends it to a lawyer anonymously."""
    fake.send_text(WORKER, "/start", first_name="Hoa")
    await fake.wait_for(WORKER, 1)
    fake.send_text(WORKER, "cty no luong 2 thang thi lam sao")
    answer = (await fake.wait_for(WORKER, 2))[-1]
    assert "Điều 97" in answer.text
    fake.press_button(WORKER, answer, _button(answer, "Hỏi tư vấn viên"))
    notice = (await fake.wait_for(WORKER, 3))[-1]  # the question's data notice
    fake.press_button(WORKER, notice, _button(notice, "Đồng ý"))
    workplace = (await fake.wait_for(WORKER, 5))[-1]  # "we use your question" + workplace
    fake.press_button(WORKER, workplace, _button(workplace, "Bỏ qua"))
    share = (await fake.wait_for(WORKER, 6))[-1]
    fake.press_button(WORKER, share, _button(share, "Ẩn danh"))
    confirm = (await fake.wait_for(WORKER, 7))[-1]
    fake.press_button(WORKER, confirm, _button(confirm, "Gửi"))
    done = (await fake.wait_for(WORKER, 8))[-1]
    number = next(word for word in done.text.split() if word.startswith("TV-")).rstrip(".")
    assert len(number) == len("TV-2026-000001")
    return number


def _group_messages(fake: FakeTelegram) -> list[Sent]:
    return fake.sent_to(GROUP)


async def test_plain_group_staff_reply_to_the_card_reaches_the_worker(
    fake, make_app, tmp_path
) -> None:
    app = await _app(fake, make_app, tmp_path, topics=False)
    number = await _ask(fake)
    (card,) = await fake.wait_for(GROUP, 1)
    assert number in card.text and "cty no luong 2 thang" in card.text
    assert card.thread_id is None

    # A stranger's reply is not relayed; they get a short note.
    fake.send_text(
        STRANGER, "công ty sai rồi", chat_id=GROUP, chat_type="supergroup", reply_to=card
    )
    note = (await fake.wait_for(GROUP, 2))[-1]
    assert "Chỉ tư vấn viên" in note.text

    fake.send_text(
        LAWYER,
        "Bạn gửi giúp phiếu lương nhé.",
        chat_id=GROUP,
        chat_type="supergroup",
        reply_to=card,
    )
    reply = (await fake.wait_for(WORKER, 9))[-1]
    assert f"Tư vấn viên trả lời ({number})" in reply.text and "phiếu lương" in reply.text
    assert len(fake.sent_to(WORKER)) == 9  # the stranger's text never reached the worker

    # The worker answers with a photo of the payslip: copied into the group.
    fake.send_text(WORKER, "Dạ em gửi ảnh ạ")
    await fake.wait_for(WORKER, 10)
    fake.send_photo(WORKER, "phiếu lương tháng 10")
    await fake.wait_for(WORKER, 11)
    copies = [s for s in await fake.wait_for(GROUP, 5) if s.method == "copyMessage"]
    assert copies and "phiếu lương tháng 10" in copies[-1].text

    # Closing from the group asks the worker for a rating; a later reply is refused clearly.
    fake.send_text(LAWYER, "/dong", chat_id=GROUP, chat_type="supergroup", reply_to=card)
    rating = (await fake.wait_for(WORKER, 12))[-1]
    assert number in rating.text and len(rating.buttons) == 5
    fake.press_button(WORKER, rating, _button(rating, "4"))
    await fake.wait_for(WORKER, 13)
    fake.send_text(LAWYER, "bổ sung", chat_id=GROUP, chat_type="supergroup", reply_to=card)
    await fake.wait_until(lambda: any("KHÔNG" in s.text for s in _group_messages(fake)))
    assert len(fake.sent_to(WORKER)) == 13
    fake.assert_clean()
    await app.stop()


async def test_forum_group_gets_a_topic_per_case_and_replies_in_it_reach_the_worker(
    fake, make_app, tmp_path
) -> None:
    app = await _app(fake, make_app, tmp_path, topics=True)
    number = await _ask(fake)
    (card,) = await fake.wait_for(GROUP, 1, timeout=10)
    topics = fake.topics[GROUP]
    assert len(topics) == 1
    (thread_id, topic) = next(iter(topics.items()))
    assert topic["name"].startswith(number)
    assert card.thread_id == thread_id and number in card.text

    fake.send_text(
        LAWYER,
        "Bạn làm ở đó bao lâu rồi?",
        chat_id=GROUP,
        chat_type="supergroup",
        thread_id=thread_id,
    )
    reply = (await fake.wait_for(WORKER, 9))[-1]
    assert "bao lâu rồi" in reply.text and number in reply.text
    fake.send_text(WORKER, "Dạ 3 năm")
    await fake.wait_for(WORKER, 10)
    back = (await fake.wait_for(GROUP, 3))[-1]  # card, first-answer ack, follow-up
    assert back.thread_id == thread_id and "3 năm" in back.text
    fake.send_text(LAWYER, "/dong", chat_id=GROUP, chat_type="supergroup", thread_id=thread_id)
    rating = (await fake.wait_for(WORKER, 11))[-1]
    assert len(rating.buttons) == 5
    fake.assert_clean()
    await app.stop()
