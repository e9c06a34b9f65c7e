"""FAQ misses hold no personal data (issue #12 point 3): redacted, short, tied to nobody, taken
back by /xoadulieu, expired after ``[privacy] faq_miss_days``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import FEATURES
from storage.cases import FaqMiss
from storage.redaction import looks_like_a_name, redact
from tests.driver import CaptureChannel, Chat

FEATURES_WITH_ASK = tuple(dict.fromkeys((*FEATURES, "handlers.relay", "handlers.ask")))
OUT_OF_SCOPE = "Vượt đèn đỏ bị phạt bao nhiêu tiền, gọi mình số 0912 345 678"


@pytest.mark.parametrize(
    ("typed", "gone"),
    [
        ("gọi em 0912 345 678 nhé", "0912 345 678"),
        ("so cua toi +84912345678", "912345678"),
        ("sdt 0912.345.678", "345.678"),
        ("email lan.pham@gmail.com giúp em", "lan.pham@gmail.com"),
        ("cccd 001203004567 bị giữ", "001203004567"),
        ("so BHXH 0123456789 cua em", "0123456789"),
        ("cmnd 031 234 567 mất", "031 234 567"),
    ],
)
def test_redaction_removes_numbers_and_addresses(typed: str, gone: str) -> None:
    kept = redact(typed)
    assert gone not in kept and "[" in kept
    assert kept.split()[0] == typed.split()[0]  # the rest of the question stays readable


def test_a_bare_name_is_not_kept_but_a_question_is() -> None:
    assert looks_like_a_name("pham thi lan") and redact("Phạm Thị Lan") == "[tên]"
    assert not looks_like_a_name("le tet co duoc nghi khong co luong")
    assert redact("nghỉ lễ có lương không") == "nghỉ lễ có lương không"


def test_a_long_story_is_cut() -> None:
    story = "công ty bắt em làm thêm giờ " * 120  # about 3,400 characters
    assert len(redact(story)) <= 202


async def _chat(make_app: Any, **extra: Any) -> Chat:
    channel = CaptureChannel("telegram")
    app = await make_app(channel, features=FEATURES_WITH_ASK, **extra)
    chat = Chat(app, channel)
    await chat.send("/start")
    return chat


async def _misses(chat: Chat) -> list[FaqMiss]:
    async with chat.app.db.session() as session:
        return list(await session.scalars(select(FaqMiss)))


async def test_a_miss_is_stored_redacted_and_tied_to_nobody(make_app: Any) -> None:
    chat = await _chat(make_app)
    await chat.send(OUT_OF_SCOPE)
    [miss] = await _misses(chat)
    assert "912" not in miss.question and "345" not in miss.question
    assert "[số điện thoại]" in miss.question and "den do" in miss.question
    assert not {c.name for c in FaqMiss.__table__.columns} & {"contact_id", "user_id", "chat_id"}


async def test_a_name_typed_after_a_cancelled_form_is_not_kept(make_app: Any) -> None:
    chat = await _chat(make_app)
    await chat.send("/menu")
    await chat.press("Gia nhập công đoàn")
    await chat.press("Đồng ý")
    assert "join.ask.full_name" in chat.keys
    await chat.press("Hủy")
    await chat.send("pham thi lan o hai duong lam cong nhan")
    await chat.send("pham thi lan")
    assert await _misses(chat) == []


async def test_erase_takes_the_workers_misses_back(make_app: Any) -> None:
    chat = await _chat(make_app)
    other = Chat(chat.app, chat.channel, user_id="2002")
    await other.send("/start")
    await chat.send(OUT_OF_SCOPE)
    await other.send(OUT_OF_SCOPE)
    await chat.send("thủ tục ly hôn đơn phương mất bao lâu")
    assert sorted(m.count for m in await _misses(chat)) == [1, 2]
    await chat.send("/dulieucuatoi")
    assert "privacy.mydata.misses" in chat.keys and "2 câu hỏi" in chat.text
    await chat.send("/xoadulieu")
    await chat.press("Xóa dữ liệu")
    [left] = await _misses(chat)
    assert left.count == 1  # the other worker's asking is still counted


async def test_misses_expire_after_the_configured_days(make_app: Any, clock: Any) -> None:
    chat = await _chat(make_app, extra={"privacy": {"faq_miss_days": 10}})
    await chat.send(OUT_OF_SCOPE)
    await chat.app.run_job("faq_misses.expiry", clock.now + timedelta(days=9))
    assert len(await _misses(chat)) == 1
    await chat.app.run_job("faq_misses.expiry", clock.now + timedelta(days=11))
    assert await _misses(chat) == []
