"""The app in webhook mode: the aiohttp server, /healthz, and Telegram webhooks end to end."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.channels.telegram import TelegramChannel
from bot.channels.throttle import unlimited
from storage.models import InboxEvent
from tests.fakes.telegram import FakeTelegram, skip_without_spec

SECRET = "s3cret-Token_for-tests"
WORKER = 770001


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    skip_without_spec()
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def served(fake: FakeTelegram, make_app: Any, tmp_path: Path) -> AsyncIterator[Any]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    channel = TelegramChannel(
        fake.token,
        api_base=fake.base_url,
        webhook_url=f"{base}/webhooks/telegram",
        webhook_secret=SECRET,
        throttle=unlimited(),
    )
    app = await make_app(channel, url=f"sqlite+aiosqlite:///{tmp_path / 'web.db'}", http_port=port)
    await app.start()
    yield app, base


async def _get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json()


async def test_healthz_says_the_process_is_alive_and_readyz_checks_the_database(
    served: Any,
) -> None:
    app, base = served
    assert await _get(f"{base}/healthz") == (200, {"ok": True})
    assert await _get(f"{base}/readyz") == (200, {"ok": True, "database": "ok", "writes": "ok"})
    await app.db.dispose()
    app.db.engine.sync_engine.pool._creator = _refuse  # the database goes away
    assert await _get(f"{base}/readyz") == (
        503, {"ok": False, "database": "unreachable", "writes": "unreachable"},
    )  # fmt: skip
    assert (await _get(f"{base}/healthz"))[0] == 200  # still alive: no restart storm


def _refuse(*_args: Any) -> Any:
    raise OSError("database down")


async def test_a_draining_process_is_not_ready(served: Any) -> None:
    app, base = served
    app.draining = True
    assert await _get(f"{base}/readyz") == (
        503,
        {"ok": False, "database": "ok", "writes": "ok", "state": "draining"},
    )


async def test_readyz_covers_redis_when_the_pace_is_shared(
    fake: FakeTelegram, make_app: Any, tmp_path: Path
) -> None:
    from bot.channels.throttle import Pace, RedisThrottle

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    channel = TelegramChannel(
        fake.token,
        api_base=fake.base_url,
        webhook_url=f"{base}/webhooks/telegram",
        webhook_secret=SECRET,
        throttle=RedisThrottle.from_url("redis://127.0.0.1:1/0", Pace(), prefix="test:down"),
    )
    app = await make_app(channel, url=f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", http_port=port)
    await app.start()
    assert await _get(f"{base}/readyz") == (
        503,
        {"ok": False, "database": "ok", "writes": "ok", "redis": "unreachable"},
    )


async def test_webhook_update_is_recorded_answered_and_not_processed_twice(
    fake: FakeTelegram, served: Any
) -> None:
    app, base = served
    assert fake.webhook.get("url") == f"{base}/webhooks/telegram"  # registered at start
    update = fake.send_text(WORKER, "/start", queue=False)
    assert (await fake.deliver_webhook(None, update, secret=SECRET))[0] == 200
    (welcome,) = await fake.wait_for(WORKER, 1)
    assert "1800.888864" in welcome.text
    # Telegram retries the same update (e.g. our 200 was lost): acknowledged, not answered again.
    assert (await fake.deliver_webhook(None, update, secret=SECRET))[0] == 200
    await asyncio.gather(*(t for t in app._tasks if t.get_name().startswith("process:")))
    assert len(fake.sent_to(WORKER)) == 1
    async with app.db.session() as session:
        rows = list(await session.scalars(select(InboxEvent)))
    assert [(r.status, r.payload) for r in rows] == [("done", {})]
    fake.assert_clean()


async def test_forged_webhook_is_refused_and_never_processed(
    fake: FakeTelegram, served: Any
) -> None:
    app, _ = served
    update = fake.send_text(WORKER, "/start", queue=False)
    status, _ = await fake.deliver_webhook(None, update, secret="wrong")
    assert status in (401, 403)
    async with app.db.session() as session:
        assert list(await session.scalars(select(InboxEvent))) == []
    assert fake.sent_to(WORKER) == []
