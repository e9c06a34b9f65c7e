"""Edited messages (issue #10 point 6): an edit never answers the question asked now.

A worker who corrects their name by editing the message, while the form already asks for the
company, must not get the name stored as the company: the bot says it did not take the edit,
how to change an answer ("Quay lại", "Sửa" on the summary, /suadulieu once sent), and asks the
current question again.
"""

from __future__ import annotations

from typing import Any

from bot.core.events import Kind
from tests.driver import Chat
from tests.test_join import COMPANY, NAME, PHONE, applications, crypto, new_chat, start_and_consent


async def send_edited(chat: Chat, text: str) -> None:
    await chat.deliver(chat._inbound(Kind.TEXT, text=text, edited=True))


async def test_an_edited_name_is_not_stored_as_the_company(make_app: Any) -> None:
    chat = await new_chat(make_app)
    await start_and_consent(chat)
    await chat.send(NAME)
    await chat.send(PHONE)
    assert "join.ask.company" in chat.keys
    await send_edited(chat, "Nguyễn Thị Hòa")  # the name message, corrected
    assert chat.keys[0] == "form.edited"
    assert "Quay lại" in chat.text
    assert "join.ask.company" in chat.keys  # the same question again
    await chat.send(COMPANY)
    assert "join.ask.area" in chat.keys
    await chat.send("le chan")
    await chat.press("Phường Lê Chân")
    await send_edited(chat, "Có")  # an edit is no press of a button, either
    assert "form.edited" in chat.keys and "join.ask.union_status" in chat.keys
    await chat.press("Chưa")
    await chat.press("100–499")
    await chat.press("Không, giữ")
    await chat.send("công nhân may")
    assert "join.confirm" in chat.keys
    await send_edited(chat, "Lê Văn Nam")
    assert chat.keys[0] == "form.edited_at_confirm"
    assert "join.confirm" in chat.keys and "Lê Văn Nam" not in chat.text
    await chat.press("Gửi")
    [app] = await applications(chat)
    assert crypto(chat).decrypt(app.name_enc) == NAME
    assert crypto(chat).decrypt(app.company_enc) == COMPANY


async def test_an_edit_outside_a_form_says_how_to_correct_a_sent_application(make_app) -> None:
    chat = await new_chat(make_app)
    await chat.send("/menu")
    # an edited photo caption: nothing but the fallback reads it (edited text may meet the FAQ)
    await chat.deliver(chat._inbound(Kind.MEDIA, text="Nguyễn Thị Hòa", media=("f1",), edited=True))
    assert "common.edited" in chat.keys
    assert "/suadulieu" in chat.text
