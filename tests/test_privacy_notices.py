"""Notice and consent per purpose for every form that collects personal data (issue #12 points
1, 2, 6, 7): the lawyer question and the lead report as well as joining."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from storage.membership import ConsentRecord
from tests.driver import CaptureChannel, Chat

RIGHTS_AND_HOW = (
    ("Được biết", "thông báo này"),
    ("rút đồng ý", "/rutdongy"),
    ("Xem dữ liệu", "/dulieucuatoi"),
    ("bản sao", "/dulieucuatoi"),
    ("Sửa dữ liệu", "/suadulieu"),
    ("Xóa dữ liệu", "/xoadulieu"),
    ("Hạn chế xử lý", "1800.888864"),
    ("phản đối", "1800.888864"),
    ("Khiếu nại", "1800.888864"),
    ("bồi thường", "1800.888864"),
)


async def _chat(make_app: Any, user_id: str = "1001", **extra: Any) -> Chat:
    channel = CaptureChannel("telegram")
    return Chat(await make_app(channel, **extra), channel, user_id=user_id)


async def _consents(chat: Chat) -> list[ConsentRecord]:
    async with chat.app.db.session() as session:
        return list(await session.scalars(select(ConsentRecord).order_by(ConsentRecord.id)))


async def _open(chat: Chat, purpose: str) -> None:
    await chat.send("/menu")
    label = {"join": "Gia nhập", "question": "Hỏi đáp", "lead": "Công ty chưa"}[purpose]
    await chat.press(label)
    if purpose == "question":
        await chat.press("Hỏi tư vấn viên")


@pytest.mark.parametrize("purpose", ["join", "question", "lead"])
async def test_each_form_starts_with_a_short_notice_and_records_consent(
    make_app: Any, purpose: str
) -> None:
    chat = await _chat(make_app)
    await _open(chat, purpose)
    summary = chat.replies[-1].text
    assert f"privacy.{purpose}.summary" in chat.keys
    assert len(summary) <= 600, len(summary)
    assert "91/2025/QH15" in summary and "/xoadulieu" in summary
    assert [label for label, _ in chat.options()] == ["Đồng ý", "Xem đầy đủ", "Không đồng ý"]
    assert await _consents(chat) == []  # nothing stored before "Đồng ý"

    await chat.press("Xem đầy đủ")
    full = chat.text
    for right, how in RIGHTS_AND_HOW:
        assert right in full and how in full, right
    assert "Điều 4" in full

    await chat.press("Đồng ý")
    [record] = await _consents(chat)
    assert record.purpose == purpose and record.withdrawn_at is None
    assert re.fullmatch(r"\d{4}-\d{2}-\d+\+[0-9a-f]{8}", record.notice_version)


async def test_notice_fingerprint_changes_with_the_words(make_app: Any) -> None:
    """Another privacy contact changes what the worker reads, so the fingerprint differs."""
    first = await _chat(make_app)
    await _open(first, "lead")
    await first.press("Đồng ý")
    contact = {"privacy": {"contact": "phapche@ldld.haiphong.vn"}}
    second = await _chat(make_app, "1002", extra=contact)
    await _open(second, "lead")
    await second.press("Xem đầy đủ")
    assert "phapche@ldld.haiphong.vn" in second.text
    await second.press("Đồng ý")
    a, b = await _consents(second)  # both apps share one in-memory database
    assert a.notice_version.split("+")[0] == b.notice_version.split("+")[0]
    assert a.notice_version != b.notice_version


async def test_a_second_question_is_not_asked_for_consent_again(make_app: Any) -> None:
    chat = await _chat(make_app)
    await _open(chat, "question")
    await chat.press("Đồng ý")
    assert "relay.form.question.prompt" in chat.keys
    await chat.press("Hủy")
    await _open(chat, "question")
    assert "relay.form.question.prompt" in chat.keys  # straight to the question
    assert len(await _consents(chat)) == 1


async def test_declining_stores_nothing_and_pressing_agree_twice_keeps_the_form(
    make_app: Any,
) -> None:
    chat = await _chat(make_app)
    await _open(chat, "lead")
    notice = chat.replies[-1]
    await chat.press("Không đồng ý")
    assert "privacy.notice.declined" in chat.keys
    assert await _consents(chat) == []
    await _open(chat, "lead")
    await chat.press("Đồng ý")
    await chat.send("Công ty TNHH Thép Việt")
    chat.replies = [notice]
    await chat.press("Đồng ý")  # the old notice's button again
    assert "form.stale" in chat.keys
    await chat.send("/start")
    await chat.press("Tiếp tục")
    assert "leads.ask.area" in chat.keys  # the company answer survived


async def test_photo_prompt_asks_to_cover_id_numbers(make_app: Any) -> None:
    chat = await _chat(make_app)
    await _open(chat, "question")
    await chat.press("Đồng ý")
    assert "che số căn cước" in chat.text and "bảo hiểm xã hội" in chat.text


async def test_join_says_a_volunteer_may_see_the_phone_where_the_worker_decides(
    make_app: Any,
) -> None:
    chat = await _chat(make_app)
    await _open(chat, "join")
    assert "tình nguyện viên" in chat.replies[-1].text  # the summary says it too
    await chat.press("Đồng ý")
    for answer in ("Phạm Thị Hương", "0987654321", "Công ty Giày Hải Dương", "hai duong"):
        await chat.send(answer)
    await chat.press("Phường Hải Dương")
    await chat.press("Chưa")
    await chat.press("100–499")
    assert "join.ask.contact_ok" in chat.keys
    assert "tình nguyện viên" in chat.text and "số điện thoại" in chat.text


# Commands for staff, volunteers and operators, and aliases of the listed ones.
NOT_FOR_WORKERS = {
    "start", "help", "cancel", "donmoi", "leads", "chiendich", "moithanhvien", "dangnhap",
    "thamgia", "phone", "dong", "nhan", "chuyen", "mo", "cho", "doanhnghiep",
    "guithongbao", "duyetthongbao",
}  # fmt: skip


async def test_help_lists_every_worker_command(make_app: Any) -> None:
    chat = await _chat(make_app)
    await chat.send("/trogiup")
    commands = set(chat.app.engine.commands) - NOT_FOR_WORKERS
    assert {"trangthai", "suadulieu", "rutdongy", "xoadulieu", "dulieucuatoi"} <= commands
    for command in sorted(commands):
        assert f"/{command} " in chat.text, command
