"""A half-filled form survives /start, a deep link and a restart of the whole process (issue #12
point 8), on real Telegram wiring: the fake Bot API server, aiogram polling, the app's inbox.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.channels.telegram import TelegramChannel
from bot.channels.throttle import unlimited
from tests.fakes.telegram import FakeTelegram, Sent, skip_without_spec

WORKER = 880042


async def _telegram_app(fake: FakeTelegram, make_app: Any, db: Path) -> Any:
    channel = TelegramChannel(
        fake.token, api_base=fake.base_url, poll_timeout=1, throttle=unlimited()
    )
    app = await make_app(channel, url=f"sqlite+aiosqlite:///{db}")
    await app.start()
    return app


class Worker:
    """One Telegram user; each step waits until the bot's reply with the expected text."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.last: Sent | None = None

    async def _until(self, seen: int, expected: str) -> Sent:
        def arrived() -> bool:
            return any(s.text == expected for s in self.fake.sent_to(WORKER)[seen:])

        await self.fake.wait_until(arrived, 10)
        found = [s for s in self.fake.sent_to(WORKER)[seen:] if s.text == expected]
        self.last = found[-1]
        return self.last

    async def say(self, text: str, expected: str) -> Sent:
        seen = len(self.fake.sent_to(WORKER))
        self.fake.send_text(WORKER, text)
        return await self._until(seen, expected)

    async def press(self, label: str, expected: str, on: Sent | None = None) -> Sent:
        message = on or self.last
        assert message is not None
        payload = next(p for lbl, p in message.buttons if label in lbl)
        seen = len(self.fake.sent_to(WORKER))
        self.fake.press_button(WORKER, message, payload)
        return await self._until(seen, expected)


async def test_restart_then_start_offers_to_continue_at_the_first_unanswered_question(
    make_app: Any, tmp_path: Path
) -> None:
    skip_without_spec()
    db = tmp_path / "restart.db"
    async with FakeTelegram() as fake:
        app = await _telegram_app(fake, make_app, db)
        t = app.texts
        worker = Worker(fake)
        await worker.say("/start", t("welcome.text"))
        notice = await worker.press("Gia nhập công đoàn", t("privacy.join.summary"))
        await worker.press("Đồng ý", t("join.ask.full_name"), on=notice)
        await worker.say("Phạm Thị Hương", t("join.ask.phone"))
        await worker.say("0987654321", t("join.ask.company"))
        await fake.wait_until(lambda: fake.pending_updates == 0)
        await app.stop()

        # A new process on the same database; the worker sends /start.
        app = await _telegram_app(fake, make_app, db)
        offer = await worker.say("/start", t("form.half_filled", form=t("join.title")))
        assert [label for label, _ in offer.buttons] == [t("form.resume"), t("form.drop")]
        await worker.press(t("form.resume"), t("join.ask.company"))  # name and phone were kept
        await worker.say("Công ty Giày Hải Dương", t("join.ask.area"))

        # An invite link mid-form is an offer too, never a silent reset; a typed label works.
        await worker.say("/start ref_abc", t("form.half_filled", form=t("join.title")))
        await worker.say("tiep tuc", t("join.ask.area"))
        fake.assert_clean()
