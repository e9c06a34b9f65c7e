"""Announcements through the real Telegram adapter against the fake that enforces the flood cap.

The cap and the bot's pace are scaled up together (250/s and 245/s instead of 30/s) so 2,000
recipients take seconds; the fake still refuses anything above the cap with 429 + retry_after,
so the test fails if the pace were not honoured or a 429 were not retried. The SIGKILL test
runs the real `congdoan-bot broadcast send` in a subprocess at the default pace.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.channels.telegram import TelegramChannel
from bot.channels.throttle import Pace, Rate, Throttle
from bot.config import ROOT
from storage.crypto import new_key
from storage.db import Database
from storage.migrate import upgrade_async
from tests.broadcast_helpers import NO_QUIET, counts, new_broadcast, seed_subscribers, sender
from tests.fakes.telegram import FakeTelegram, RateCap, skip_without_spec

CAP, PACE = 250.0, 245.0


def announcement_chats(fake: FakeTelegram) -> Counter[int]:
    return Counter(s.chat_id for s in fake.sent if s.text.startswith("Tháng Công nhân"))


async def test_2000_recipients_exactly_once_under_the_cap_every_429_retried(
    make_app, clock
) -> None:
    skip_without_spec()
    async with FakeTelegram(rate_cap=RateCap(per_second=CAP, per_chat_per_second=1)) as fake:
        users = list(range(10_001, 10_001 + int(os.environ.get("BC_N", "2000"))))
        for user in users:
            fake.add_user(user)
        throttle = Throttle(Pace(messages_per_second=PACE, private=Rate(1, 1)))
        channel = TelegramChannel(fake.token, api_base=fake.base_url, throttle=throttle)
        app = await make_app(channel)
        await seed_subscribers(app.db, users, now=clock())
        bid = await new_broadcast(app.db, clock(), button="join")
        # Some of the first sends are refused by hand too (429 with retry_after), as Telegram
        # does when other bots' traffic shares the limit.
        fake.fail_next("sendMessage", 429, retry_after=1, times=5)
        config = replace(NO_QUIET, telegram_per_second=PACE)
        progress = await sender(app, config=config).run(bid)
        got = announcement_chats(fake)
        assert set(got) == set(users) and set(got.values()) == {1}
        assert fake.max_in_window() <= CAP
        refused = [c for c in fake.calls if c.status == 429]
        assert len(refused) >= 5
        assert all(got[c.params["chat_id"]] == 1 for c in refused)  # each 429 was retried
        result = await counts(app.db, bid)
        assert (result["total"], result["sent"], result["failed"]) == (len(users), len(users), 0)
        assert progress.sent == len(users)
        sent = next(s for s in fake.sent if s.chat_id == users[0])
        assert [label for label, _ in sent.buttons] == ["Gia nhập công đoàn", "Dừng nhận tin"]
        fake.assert_clean()


async def test_blocked_on_telegram_counts_blocked(make_app, clock) -> None:
    skip_without_spec()
    async with FakeTelegram(rate_cap=RateCap()) as fake:
        for user in (501, 502):
            fake.add_user(user)
        fake.block(502)
        app = await make_app(TelegramChannel(fake.token, api_base=fake.base_url))
        await seed_subscribers(app.db, [501, 502], now=clock())
        bid = await new_broadcast(app.db, clock(), poll_question="Bạn có đi không?",
                                  poll_options=["Có", "Không"])  # fmt: skip
        await sender(app).run(bid)
        result = await counts(app.db, bid)
        assert (result["sent"], result["blocked"]) == (1, 1)
        [message] = fake.sent_to(501)
        assert [label for label, _ in message.buttons] == ["Có", "Không", "Dừng nhận tin"]
        fake.assert_clean()


async def _run_cli(
    env: dict[str, str], *args: str, log: Path | None = None
) -> asyncio.subprocess.Process:
    """The CLI in a child process. A run nobody reads from while it sends logs to ``log``: an
    undrained pipe fills with its 429 warnings and would stop the child mid-send."""
    stderr: Any = log.open("ab") if log is not None else asyncio.subprocess.PIPE
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "broadcast", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL if log is not None else asyncio.subprocess.PIPE,
        stderr=stderr,
    )  # fmt: skip


async def test_sigkill_mid_run_then_send_again_finishes_without_duplicates(
    tmp_path: Path, clock: Any
) -> None:
    skip_without_spec()
    url = f"sqlite+aiosqlite:///{tmp_path / 'kill.db'}"
    await upgrade_async(url)
    users = list(range(20_001, 20_151))
    db = Database(url)
    await seed_subscribers(db, users, now=clock())
    bid = await new_broadcast(db, clock())
    await db.dispose()
    config = tmp_path / "config.toml"
    config.write_text('[broadcast]\nquiet_hours = "00:00-00:00"\n', "utf-8")  # any hour of CI
    async with FakeTelegram(rate_cap=RateCap()) as fake:
        for user in users:
            fake.add_user(user)
        env = {**os.environ, "DATABASE_URL": url, "TELEGRAM_BOT_TOKEN": fake.token,
               "TELEGRAM_API_BASE": fake.base_url, "CONGDOAN_DATA_KEY": new_key(),
               "CONGDOAN_CONFIG": str(config), "TELEGRAM_MESSAGES_PER_SECOND": "60"}  # fmt: skip
        log = tmp_path / "first-run.log"
        first = await _run_cli(env, "send", str(bid), log=log)
        deadline = asyncio.get_running_loop().time() + 180  # start-up on a loaded machine
        while len(announcement_chats(fake)) < 40:
            await asyncio.sleep(0.05)
            if first.returncode is not None or asyncio.get_running_loop().time() > deadline:
                first.kill()
                raise AssertionError(log.read_text("utf-8", "replace")[-3000:])
        first.send_signal(signal.SIGKILL)
        await first.wait()
        killed_at = len(announcement_chats(fake))
        second = await _run_cli(env, "send", str(bid))
        out, err = await asyncio.wait_for(second.communicate(), timeout=300)
        assert second.returncode == 0, err.decode()
        got = announcement_chats(fake)
        assert max(got.values()) == 1, "nobody got it twice"
        status = await _run_cli(env, "status", str(bid), "--json")
        report, _ = await status.communicate()
    result = json.loads(report)
    assert result["total"] == 150 and result["queued"] == result["sending"] == 0
    assert result["sent"] + result["unknown"] == 150 and result["unknown"] <= 60
    # "unknown" rows were claimed by the killed process: some left before the kill, none after.
    assert result["sent"] <= len(got) <= result["sent"] + result["unknown"]
    assert killed_at <= len(got)
    assert "sent" in out.decode()
    fake.assert_clean()
