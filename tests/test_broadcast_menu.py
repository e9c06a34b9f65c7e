"""Where a worker finds "Nhận tin công đoàn": under "Liên hệ" (the main menu keeps the five
buttons a Zalo OA message shows) and after sending a join application."""

from __future__ import annotations

from bot.app import features_except
from tests.driver import CaptureChannel, Chat
from tests.test_join import join

ZALO_OA_BUTTONS = 5


async def test_the_menu_keeps_five_buttons_and_contact_leads_to_the_topics(chat: Chat) -> None:
    await chat.send("/menu")
    assert len(chat.options()) == ZALO_OA_BUTTONS
    await chat.press("Liên hệ")
    labels = [label for label, _ in chat.options()]
    assert "Nhận tin công đoàn" in labels and len(labels) <= ZALO_OA_BUTTONS
    assert any(label.startswith("Tôi là chủ doanh nghiệp") for label in labels)
    assert labels[-1] == "Menu chính"
    await chat.press("Nhận tin công đoàn")
    assert "NHẬN TIN CÔNG ĐOÀN" in chat.text
    await chat.press("Tin chiến dịch")
    assert "tin chiến dịch" in chat.text


async def test_after_joining_the_worker_is_offered_the_announcements(chat: Chat) -> None:
    await join(chat)
    labels = [label for label, _ in chat.options()]
    assert "Nhận tin công đoàn" in labels and len(labels) <= ZALO_OA_BUTTONS
    await chat.press("Nhận tin công đoàn")
    assert "NHẬN TIN CÔNG ĐOÀN" in chat.text


async def test_without_the_announcements_feature_no_button_offers_them(make_app) -> None:
    channel = CaptureChannel()
    app = await make_app(channel, features=features_except("handlers.broadcast"))
    chat = Chat(app, channel)
    await chat.send("/menu")
    await chat.press("Liên hệ")
    labels = [label for label, _ in chat.options()]
    assert "Nhận tin công đoàn" not in labels and len(labels) <= ZALO_OA_BUTTONS
    await join(chat)
    assert "Nhận tin công đoàn" not in [label for label, _ in chat.options()]
