"""Steps a worker takes in several privacy tests, written once (the chat driver's ``Chat``)."""

from __future__ import annotations

from tests.driver import Chat


async def ask_a_lawyer_named(
    chat: Chat, question: str, name: str, phone: str, workplace: str | None = None
) -> None:
    """From the FAQ to "Hỏi tư vấn viên", agreeing to the notice and giving name and phone."""
    await chat.send(question)
    await chat.press("Hỏi tư vấn viên")
    if any(payload.startswith("consent_") for _, payload in chat.options()):
        await chat.press("Đồng ý")
    if "relay.form.question.prompt" in chat.keys:
        await chat.send(question)
    await (chat.send(workplace) if workplace else chat.press("Bỏ qua"))
    await chat.press("Cho biết tên")
    await chat.send(name)
    await chat.send(phone)
    await chat.press("Gửi")
    assert "relay.submitted.open" in chat.keys or "relay.submitted.closed" in chat.keys


async def report_a_lead_by_phone(chat: Chat, company: str, phone: str) -> None:
    """ "Công ty chưa có công đoàn" with a phone number for the volunteer."""
    await chat.send("/menu")
    await chat.press("Công ty chưa có công đoàn")
    if any(payload.startswith("consent_") for _, payload in chat.options()):
        await chat.press("Đồng ý")
    await chat.send(company)
    await chat.press("Bỏ qua")
    await chat.press("25–99")
    await chat.press("Bỏ qua")
    await chat.press("Bỏ qua")
    await chat.press("Gọi điện")
    await chat.send(phone)
    await chat.press("Gửi")
    assert "leads.done.by_phone" in chat.keys
