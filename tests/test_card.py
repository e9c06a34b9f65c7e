"""The membership card: issued in chat when an application is admitted, shown again by
/thedoanvien, and checked on the public page its QR code opens."""

from __future__ import annotations

import asyncio
import io
import os
import re
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import zxingcpp
from aiohttp.test_utils import TestServer
from PIL import Image, ImageDraw
from sqlalchemy import select

from bot.app import build_web_app
from bot.core.events import Address, Outgoing, Photo
from handlers import card as card_feature
from storage.models import OutboxMessage
from storage.zalo import ZaloOAStore, ZaloOAUndelivered, list_undelivered, undelivered_content
from tests.driver import CaptureChannel, Chat
from tests.fakes.zalo import FakeZaloOA, OAWorker, SentOA, free_port, join_on_zalo
from tests.test_join import NAME, PHONE, database_bytes, join
from tests.test_membership_staff import OFFICER, STAFF
from tests.test_zalo_oa import oa_channel

PUBLIC = "https://the.congdoanhaiphong.example"
DIGITS = re.sub(r"\D", "", PHONE)


async def admitted(
    make_app: Any, channel_name: str = "telegram", redis_url: str | None = None, **extra: Any
) -> Chat:
    """A worker whose application an officer has just admitted (outbox delivered)."""
    channel = CaptureChannel(channel_name)
    settings_extra = {"staff": STAFF, "card": {"public_url": PUBLIC, **extra}}
    app = await make_app(channel, extra=settings_extra, redis_url=redis_url)
    worker = Chat(app, channel, user_id="1001")
    if channel_name == "telegram":
        officer = Chat(app, channel, user_id=OFFICER)
    else:  # the officer still works on Telegram
        officer = Chat(app, CaptureChannel("telegram"), user_id=OFFICER)
        app.channels["telegram"] = officer.channel
    await join(worker)
    await officer.send("/donmoi")
    await officer.press("Duyệt")
    await app.flush_outbox()
    return worker


def card_photo(chat: Chat) -> Photo:
    photos = [o.content for o in chat.channel.to(chat.user_id) if isinstance(o.content, Photo)]
    assert photos, [o.text for o in chat.channel.to(chat.user_id)]
    return photos[-1]


def qr_of(png: bytes) -> str:
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(found) == 1, found
    return str(found[0].text)


@asynccontextmanager
async def served(worker: Chat) -> AsyncIterator[Any]:
    """The bot's web app on 127.0.0.1; ``get(url, client=None)`` as a visitor (``client``: the
    address nginx would pass in X-Forwarded-For)."""
    server = TestServer(build_web_app(worker.app))
    await server.start_server()
    async with aiohttp.ClientSession() as http:

        async def get(url: str, client: str | None = None) -> tuple[int, str, bytes]:
            path = url.removeprefix(PUBLIC)
            headers = {"X-Forwarded-For": f"10.9.9.9, {client}"} if client else {}
            async with http.get(server.make_url(path), headers=headers) as resp:
                return resp.status, resp.headers.get("Content-Type", ""), await resp.read()

        yield get
    await server.close()


@pytest.fixture
async def web(make_app: Any) -> AsyncIterator[tuple[Chat, Any]]:
    worker = await admitted(make_app, rate_limit="6/minute")
    async with served(worker) as get:
        yield worker, get


async def test_admitted_member_receives_a_card_whose_qr_reads_back(make_app) -> None:
    worker = await admitted(make_app)
    photo = card_photo(worker)
    image = Image.open(io.BytesIO(photo.data))
    assert image.format == "PNG" and image.size == card_feature.CARD_SIZE
    url = qr_of(photo.data)
    assert re.fullmatch(re.escape(PUBLIC) + r"/the/[A-Za-z0-9_-]{16,32}\.[0-9a-f]{32}", url)
    assert "/thedoanvien" in photo.caption and re.search(r"DV-\d{4}-\d{6}", photo.caption)
    assert DIGITS not in photo.caption.replace(" ", "")

    await worker.send("/thedoanvien")
    again = card_photo(worker)
    assert "card.again" in worker.keys and qr_of(again.data) == url  # the same card


async def test_the_card_shows_name_body_date_number_and_no_phone(make_app, monkeypatch) -> None:
    drawn: list[str] = []
    original = ImageDraw.ImageDraw.text

    def record(self: Any, xy: Any, text: str, *args: Any, **kwargs: Any) -> Any:
        drawn.append(text)
        return original(self, xy, text, *args, **kwargs)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", record)
    worker = await admitted(make_app)
    photo = card_photo(worker)
    number = re.search(r"DV-\d{4}-\d{6}", photo.caption)
    assert number
    everything = " ".join(drawn) + " " + qr_of(photo.data)
    assert NAME in drawn and "Liên đoàn Lao động thành phố Hải Phòng" in everything
    assert "11/2026" in drawn and number.group(0) in drawn
    assert DIGITS not in everything.replace(" ", "") and "+84" not in everything


async def test_verification_page_valid_altered_forged_and_revoked(web: Any) -> None:
    worker, get = web
    url = qr_of(card_photo(worker).data)
    status, kind, body = await get(url)
    page = body.decode("utf-8")
    assert status == 200 and kind.startswith("text/html")
    assert "Thẻ hợp lệ — đoàn viên của Liên đoàn Lao động thành phố Hải Phòng từ 11/2026" in page
    assert "N. T. H." in page and NAME not in page and "Hoa" not in page
    assert DIGITS not in re.sub(r"\D", "", page.replace("2026", ""))

    token = url.rsplit("/", 1)[1]
    flipped = token[:-1] + ("0" if token[-1] != "0" else "1")
    other_id = "A" + token[1:]
    for bad in (flipped, other_id, "abc", token + "x"):
        status, _, body = await get(f"/the/{bad}")
        assert status in (200, 404), bad
        text = body.decode("utf-8")
        assert "Thẻ không hợp lệ" in text and "hợp lệ —" not in text, bad

    await worker.send("/xoadulieu")
    await worker.press(worker.options()[0][1])
    assert "privacy" in " ".join(worker.keys)
    status, _, body = await get(url)
    assert status == 200 and "Thẻ không còn hiệu lực" in body.decode("utf-8")
    await worker.send("/thedoanvien")
    assert "card.none" in worker.keys


async def test_verification_page_is_rate_limited(web: Any) -> None:
    worker, get = web
    url = qr_of(card_photo(worker).data)
    statuses = [(await get(url))[0] for _ in range(8)]
    assert statuses[:6] == [200] * 6 and statuses[6:] == [429, 429]


async def test_the_limit_is_per_visitor_behind_the_proxy(web: Any) -> None:
    worker, get = web
    url = qr_of(card_photo(worker).data)
    statuses = [(await get(url, client="203.0.113.5"))[0] for _ in range(7)]
    assert statuses == [200] * 6 + [429]
    # Another visitor (nginx's last X-Forwarded-For entry) has a budget of their own.
    assert (await get(url, client="203.0.113.6"))[0] == 200
    # What a visitor writes into the header themselves does not make them someone else.
    assert (await get(url, client="203.0.113.5"))[0] == 429


REDIS_URL = os.environ.get("CONGDOAN_TEST_REDIS", "redis://127.0.0.1:6379/0")

# Another process hitting the page's limiter: the budget it spends must count here too.
OTHER_PROCESS = """
import asyncio, sys
from handlers.card import CardConfig, PageLimiter
config = CardConfig(public_url="x", rate_limit=sys.argv[1], limit_storage=sys.argv[2],
                    limit_prefix=sys.argv[3])
async def main():
    limiter = PageLimiter(config)
    print(" ".join([str(await limiter.hit(sys.argv[4])) for _ in range(int(sys.argv[5]))]))
asyncio.run(main())
"""


async def redis_or_skip() -> None:
    import redis.asyncio as redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        await client.ping()
    except Exception as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL} ({type(exc).__name__}): not run")
    finally:
        await client.aclose()


async def test_the_page_limit_is_shared_by_processes_through_redis(make_app) -> None:
    await redis_or_skip()
    prefix = f"congdoan-test:{secrets.token_hex(6)}"
    worker = await admitted(make_app, redis_url=REDIS_URL, rate_limit="5/minute",
                            limit_prefix=prefix)  # fmt: skip
    config = card_feature.card_config(worker.app.engine.services)
    assert config.limit_storage == f"async+{REDIS_URL}"  # REDIS_URL is enough
    url = qr_of(card_photo(worker).data)
    async with served(worker) as get:
        assert (await get(url, client="198.51.100.7"))[0] == 200
        other = await asyncio.create_subprocess_exec(
            sys.executable, "-c", OTHER_PROCESS, "5/minute", config.limit_storage, prefix,
            "198.51.100.7", "3", stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await other.communicate()
        assert other.returncode == 0 and out.decode().split() == ["True"] * 3
        # 1 here + 3 there: one more is allowed in this process, then the shared budget is spent.
        statuses = [(await get(url, client="198.51.100.7"))[0] for _ in range(3)]
        assert statuses == [200, 429, 429]
        other = await asyncio.create_subprocess_exec(
            sys.executable, "-c", OTHER_PROCESS, "5/minute", config.limit_storage, prefix,
            "198.51.100.7", "1", stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await other.communicate()
        assert out.decode().split() == ["False"]  # and the other process sees it spent
        assert (await get(url, client="198.51.100.8"))[0] == 200  # per visitor still


async def test_without_redis_each_process_still_limits_and_the_page_answers(
    make_app, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on port 1: the shared limiter fails, the process limits on its own.
    worker = await admitted(make_app, redis_url="redis://127.0.0.1:1/0", rate_limit="3/minute")
    url = qr_of(card_photo(worker).data)
    async with served(worker) as get:
        results = [await get(url, client="198.51.100.9") for _ in range(4)]
    assert [status for status, _, _ in results] == [200, 200, 200, 429]
    assert "Thẻ hợp lệ" in results[0][2].decode()
    assert any("shared rate limit is unavailable" in r.getMessage() for r in caplog.records)


async def test_withdrawn_consent_revokes_the_card(make_app) -> None:
    worker = await admitted(make_app)
    url = qr_of(card_photo(worker).data)
    await worker.send("/rutdongy")
    if worker.options():
        await worker.press(worker.options()[0][1])
    services = worker.app.engine.services
    result = await card_feature.verify_page(services, {"token": url.rsplit("/", 1)[1]}, "1.2.3.4")
    assert "Thẻ không còn hiệu lực" in result.body.decode("utf-8")


async def test_zalo_bot_gets_a_link_to_the_image_with_its_own_token(make_app) -> None:
    worker = await admitted(make_app, "zalo_bot")
    [message] = [o for o in worker.channel.to("1001") if "/the/anh/" in o.text]
    link = re.search(re.escape(PUBLIC) + r"/the/anh/(\S+)", message.text)
    assert link and not any(isinstance(o.content, Photo) for o in worker.channel.to("1001"))
    services = worker.app.engine.services
    image = await card_feature.image_page(services, {"token": link.group(1)}, "10.0.0.1")
    assert image.content_type == "image/png"
    verify_url = qr_of(image.body)
    # The QR's token does not open the image, and the image's token is no card to verify.
    qr_token = {"token": verify_url.rsplit("/", 1)[1]}
    assert (await card_feature.image_page(services, qr_token, "10.0.0.2")).status == 404
    checked = await card_feature.verify_page(services, {"token": link.group(1)}, "10.0.0.3")
    assert "không hợp lệ" in checked.body.decode()


# -- the card on the Zalo Official Account (an uploaded image) -------------------------------------


@dataclass
class OAMember:
    app: Any
    worker: OAWorker
    officer: Chat
    db_file: Path


async def oa_member(make_app: Any, fake: FakeZaloOA, clock: Any, tmp_path: Path) -> OAMember:
    """A worker who joined on the Official Account; the officer works on Telegram."""
    staff = CaptureChannel("telegram")
    channel = oa_channel(fake, clock)
    port = free_port()
    db_file = tmp_path / "oa-card.db"
    app = await make_app(
        channel,
        staff,
        url=f"sqlite+aiosqlite:///{db_file}",
        http_port=port,
        extra={"staff": STAFF, "card": {"public_url": PUBLIC}},
    )
    channel.attach_store(ZaloOAStore(app.db))
    await app.start(background=False)
    worker = OAWorker(fake, app, f"http://127.0.0.1:{port}/webhooks/zalo-oa", "246845883529197922")
    await worker.follow()
    await join_on_zalo(worker, app.texts)
    return OAMember(app, worker, Chat(app, staff, user_id=OFFICER), db_file)


async def admit(member: OAMember) -> None:
    await member.officer.send("/donmoi")
    await member.officer.press("Duyệt")


def oa_cards(worker: OAWorker) -> list[SentOA]:
    return [m for m in worker.received if m.image is not None]


@pytest.fixture
async def oa_fake(clock: Any) -> AsyncIterator[FakeZaloOA]:
    fake = FakeZaloOA(clock=clock)
    await fake.start()
    yield fake
    await fake.close()


async def test_zalo_oa_member_gets_the_card_as_an_uploaded_image(
    make_app, oa_fake: FakeZaloOA, clock, tmp_path: Path
) -> None:
    member = await oa_member(make_app, oa_fake, clock, tmp_path)
    await admit(member)
    await member.app.flush_outbox()
    [card] = oa_cards(member.worker)
    assert card.by_message_id  # a free reply inside the worker's window
    assert re.search(r"DV-\d{4}-\d{6}", card.text) and "/thedoanvien" in card.text
    url = qr_of(card.image or b"")
    assert re.fullmatch(re.escape(PUBLIC) + r"/the/[A-Za-z0-9_-]{16,32}\.[0-9a-f]{32}", url)
    assert list(oa_fake.uploads.values()) == [card.image]  # uploaded through the OA API
    assert Image.open(io.BytesIO(card.image or b"")).size == card_feature.CARD_SIZE

    again = await member.worker.say("/thedoanvien")
    assert [m.image is not None for m in again] == [True] and qr_of(again[0].image or b"") == url
    assert oa_fake.violations == [] and oa_fake.refused == []


async def test_a_card_held_outside_the_window_is_sealed_and_uploaded_when_the_worker_returns(
    make_app, oa_fake: FakeZaloOA, clock, tmp_path: Path
) -> None:
    member = await oa_member(make_app, oa_fake, clock, tmp_path)
    clock.advance(hours=49)  # the worker's 48-hour window has closed
    await admit(member)
    async with member.app.db.session() as session:
        queued = list(
            await session.scalars(
                select(OutboxMessage.content).where(
                    OutboxMessage.channel == "zalo_oa", OutboxMessage.status == "pending"
                )
            )
        )
    assert queued and all(set(q) == {"sealed"} for q in queued)  # the card waits sealed
    await member.app.flush_outbox()
    assert oa_cards(member.worker) == [] and oa_fake.uploads == {}
    async with member.app.db.session() as session:
        held = await list_undelivered(session)
        assert [h.tag for h in held] == ["join:decision:KN-2026-000001", "card:DV-2026-000001"]
        assert all(set(h.content) == {"sealed"} for h in held)  # and is held sealed too
        assert undelivered_content(session, held[1])["type"] == "Photo"
    stored = database_bytes(member.db_file)
    for plain in (b"\x89PNG\r\n", b"iVBORw0KGgo", "Nguyễn Thị Hoa".encode()):
        assert plain not in stored, plain

    replies = await member.worker.say("xin chao")
    assert "KN-2026-000001" in replies[0].text  # held messages first, in order
    assert replies[1].image is not None and qr_of(replies[1].image).startswith(PUBLIC + "/the/")
    async with member.app.db.session() as session:
        assert await list_undelivered(session) == []
        contents = list(await session.scalars(select(ZaloOAUndelivered.content)))
    assert contents == [{"redacted": True}] * 2  # nothing of them is kept once delivered
    assert oa_fake.violations == [] and oa_fake.refused == []


async def test_an_expired_token_on_the_upload_is_refreshed_once(
    make_app, oa_fake: FakeZaloOA, clock, tmp_path: Path
) -> None:
    member = await oa_member(make_app, oa_fake, clock, tmp_path)
    png = card_feature.render_card(
        member.app.texts, card_feature.card_config(member.app.engine.services), name="Nguyễn A",
        union_body="Công đoàn phường A", since="11/2026", number="DV-2026-000009",
        qr=PUBLIC + "/the/x",
    )  # fmt: skip
    oa_fake.expire_access_token()  # the upload is the first call to meet it
    channel = member.app.channels["zalo_oa"]
    address = Address("zalo_oa", member.worker.user_id)
    receipt = await channel.send(Outgoing(address, Photo(png, "Thẻ đoàn viên")))
    assert receipt.ok and oa_fake.refresh_calls == 1
    [card] = oa_cards(member.worker)
    assert card.image == png and card.text == "Thẻ đoàn viên"
    assert oa_fake.violations == [] and oa_fake.refused == []


async def test_no_card_image_is_left_readable_in_the_database(make_app) -> None:
    """The card (it shows the member's name) passes through the outbox and the stored replies
    sealed, and neither keeps it once sent."""
    worker = await admitted(make_app)
    await worker.send("/thedoanvien")
    assert isinstance(worker.replies[-1].content, Photo)
    url = worker.app.settings.database_url
    stored = database_bytes(Path(url.split(":///", 1)[1]))
    for plain in (b"\x89PNG\r\n", b"iVBORw0KGgo", NAME.encode()):
        assert plain not in stored, plain
    async with worker.app.db.session() as session:
        rows = list(await session.scalars(select(OutboxMessage.content)))
    assert rows and all("data" not in str(r) for r in rows)
