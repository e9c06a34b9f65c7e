"""The membership card: issued in chat when an application is admitted, shown again by
/thedoanvien, and checked on the public page its QR code opens."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import zxingcpp
from aiohttp.test_utils import TestServer
from PIL import Image, ImageDraw

from bot.app import build_web_app
from bot.core.events import Photo
from handlers import card as card_feature
from tests.driver import CaptureChannel, Chat
from tests.test_join import NAME, PHONE, join
from tests.test_membership_staff import OFFICER, STAFF

PUBLIC = "https://the.congdoanhaiphong.example"
DIGITS = re.sub(r"\D", "", PHONE)


async def admitted(make_app: Any, channel_name: str = "telegram", **extra: Any) -> Chat:
    """A worker whose application an officer has just admitted (outbox delivered)."""
    channel = CaptureChannel(channel_name)
    settings_extra = {"staff": STAFF, "card": {"public_url": PUBLIC, **extra}}
    app = await make_app(channel, extra=settings_extra)
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


@pytest.fixture
async def web(make_app: Any) -> AsyncIterator[tuple[Chat, Any]]:
    worker = await admitted(make_app, rate_limit="6/minute")
    server = TestServer(build_web_app(worker.app))
    await server.start_server()
    async with aiohttp.ClientSession() as http:

        async def get(url: str) -> tuple[int, str, bytes]:
            path = url.removeprefix(PUBLIC)
            async with http.get(server.make_url(path)) as resp:
                return resp.status, resp.headers.get("Content-Type", ""), await resp.read()

        yield worker, get
    await server.close()


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
