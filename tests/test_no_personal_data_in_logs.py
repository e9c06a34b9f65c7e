"""No personal data in logs (issue #12 point 4): the log of a full join, a question to the legal
centre and a lead report, captured at DEBUG for every logger, holds no name, phone, company,
question or other free text the worker typed."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.app import FEATURES
from bot.core.events import Kind
from tests.driver import CaptureChannel, Chat
from tests.worker_steps import ask_a_lawyer_named, report_a_lead_by_phone

NAME = "Phạm Thị Hương"
PHONE = "0987654321"
COMPANY = "Công ty Giày Hải Dương"
QUESTION = "Quản đốc Trần Văn Bình quát mắng và trừ lương em vì nghỉ ốm có giấy"
WORKPLACE = "Xưởng may Hòa Bình"
LEAD = "Công ty Nhựa Bạch Đằng"
LEAD_PHONE = "0912345678"
EVERY_FEATURE = tuple(dict.fromkeys((*FEATURES, "handlers.relay", "handlers.ask")))


def _forbidden() -> list[str]:
    phones = [PHONE, PHONE[1:], "987654321", "0987 654 321", LEAD_PHONE, "912345678"]
    return [NAME, "pham thi huong", COMPANY, QUESTION, "Trần Văn Bình", WORKPLACE, LEAD, *phones]


async def test_a_full_join_question_and_lead_report_leave_no_personal_data_in_the_log(
    make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, at its most talkative
    channel = CaptureChannel("telegram")
    extra = {"legal": {"group_chat_id": "-1001"}, "staff": {"legal": ["555"]}}
    app = await make_app(channel, features=EVERY_FEATURE, extra=extra)
    chat = Chat(app, channel)
    await chat.send("/start")
    # join
    await chat.press("Gia nhập công đoàn")
    await chat.press("Đồng ý")
    for answer in (NAME, PHONE, COMPANY, "hai duong"):
        await chat.send(answer)
    await chat.press("Phường Hải Dương")
    await chat.press("Chưa")
    await chat.press("100–499")
    await chat.press("Có, được liên hệ")
    await chat.send("công nhân may")
    await chat.press("Gửi")
    assert "join.done" in chat.keys
    await ask_a_lawyer_named(chat, QUESTION, NAME, PHONE, WORKPLACE)
    await report_a_lead_by_phone(chat, LEAD, LEAD_PHONE)
    await app.flush_outbox()
    again = chat._inbound(Kind.TEXT, text=NAME)
    await chat.deliver(again)
    await chat.deliver(again)  # delivered twice: the app logs the duplicate, by its key only
    await chat.send("/dulieucuatoi")
    assert NAME in chat.text  # the worker sees it; the log must not

    logged = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
    ).casefold()
    assert "duplicate delivery" in logged  # the capture works: the app does log
    for plain in _forbidden():
        assert plain.casefold() not in logged, plain
