"""Input bounded at the edge (issue #10 point 5): what a worker, a forged button or a forged
webhook can send never breaks a handler.

Numbers are ASCII digits within 64 bits; adapters remove control characters; webhook bodies
are refused (400, no traceback) when nested too deep; the Zalo OA signature is checked before
the body is parsed; text fits its column. Each case here broke a handler before (#10).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.channels.base import BadBody, parse_json_body
from bot.channels.zalo_oa import OAConfig, ZaloOAChannel, event_to_inbound, signature
from bot.core.events import Kind, clean_text
from bot.core.numbers import ID_MAX, INT64_MAX, is_ascii_digits, parse_id, parse_int
from bot.core.payloads import Payload, dataclass
from storage import people as people_repo
from storage import recruitment as recruit_repo
from tests.driver import CaptureChannel, Chat


@dataclass(frozen=True)
class _Probe(Payload, prefix="probe"):
    action: str
    item: int = 0


@pytest.mark.parametrize("text", ["²", "¹²", "①", "٣", "𝟗", "-", "", " 1", "1e3", "0x1", "1_0"])
def test_only_ascii_digits_are_numbers(text: str) -> None:
    assert parse_int(text) is None
    assert not is_ascii_digits(text) or text.isascii()


def test_ids_fit_the_columns() -> None:
    assert parse_id(str(ID_MAX)) == ID_MAX  # Integer: 32 bits on PostgreSQL
    assert parse_id(str(ID_MAX + 1)) is None
    assert parse_id(str(INT64_MAX)) is None
    assert parse_int(str(INT64_MAX)) == INT64_MAX
    assert parse_int(str(INT64_MAX + 1)) is None
    assert parse_id("99999999999999999999") is None
    assert parse_id("0") is None and parse_id("-5") is None
    assert parse_int("-9223372036854775808") == -(2**63)
    assert parse_int("-9223372036854775809") is None
    assert _Probe.unpack("probe:open:²") is None
    assert _Probe.unpack("probe:open:9223372036854775808") is None
    assert _Probe.unpack("probe:open:9223372036854775807") is None
    assert _Probe.unpack("probe:open:2147483648") is None
    assert _Probe.unpack("probe:open:12") == _Probe("open", 12)


def test_adapters_remove_control_characters() -> None:
    assert clean_text("Công ty\x00 May\x07") == "Công ty May"
    assert clean_text("a\r\nb\rc\td") == "a\nb\nc d"
    assert clean_text("\u202eabc\u2066") == "abc"
    assert clean_text("\ud800x") == "x"
    assert clean_text("e\u0301") == "é"  # NFC
    assert clean_text("x" * 300, 128) == "x" * 128


def test_json_nested_too_deep_is_refused_quickly() -> None:
    with pytest.raises(BadBody):
        parse_json_body(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(BadBody):
        parse_json_body(b"{not json")
    assert parse_json_body(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "b": [1]}')[
        "b"
    ] == [1]


# -- the chat -------------------------------------------------------------------------------


async def _chat(make_app: Any, **kw: Any) -> Chat:
    channel = CaptureChannel("telegram")
    app = await make_app(channel, **kw)
    return Chat(app, channel, user_id="4242")


@pytest.fixture
def failures(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.ERROR)
    return caplog


def _no_failures(caplog: pytest.LogCaptureFixture, chat: Chat) -> None:
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert "common.error" not in chat.keys


@pytest.mark.parametrize(
    ("typed", "code"),
    [("MA ZZZ999", "ZZZ999"), ("ma: abc-123", "ABC123"), ("mã K7M-2QX", "K7M2QX")],
)
async def test_a_wrong_typed_invitation_code_is_answered(
    make_app, failures, typed: str, code: str
) -> None:
    chat = await _chat(make_app)
    await chat.send("/menu")
    await chat.send(typed)
    _no_failures(failures, chat)
    assert "recruit.arrive.bad_code" in chat.keys
    assert f"“{code}”" in chat.text


@pytest.mark.parametrize(
    "payload",
    ["case:open:²", "data:stay:²", "vol:claim:²", "mship:admit:²",
     "mship:admit:99999999999999999999", "data:withdraw:9223372036854775808",
     "data:erase:9223372036854775807", "case:open:2147483648",
     "case:x:-9223372036854775809", "bc:x:9223372036854775808"],
)  # fmt: skip
async def test_forged_payload_numbers_are_stale_buttons(make_app, failures, payload: str) -> None:
    chat = await _chat(make_app)
    await chat.send("/menu")
    await chat.deliver(chat._inbound(Kind.BUTTON, payload=payload))
    _no_failures(failures, chat)
    assert chat.replies


@pytest.mark.parametrize("arg", ["²", "9223372036854775807", "99999999999999999999", "-1"])
async def test_leads_page_numbers(make_app, failures, arg: str) -> None:
    chat = await _chat(make_app)
    async with chat.app.db.transaction() as session:
        await people_repo.add_person(session, role="staff", external_id="4242")
    await chat.send(f"/leads {arg}")
    _no_failures(failures, chat)
    assert chat.replies


async def test_a_campaign_code_that_upper_cases_too_long_is_refused(make_app, failures) -> None:
    chat = await _chat(make_app)
    async with chat.app.db.transaction() as session:
        await people_repo.add_person(session, role="staff", external_id="4242")
    await chat.send(f"/chiendich {'ß' * 20} 01/05/2027 31/05/2027 Tháng Công nhân")
    _no_failures(failures, chat)
    assert "recruit.campaign.bad_code" in chat.keys
    await chat.send("/chiendich t5-2027 01/05/2027 31/05/2027 Tháng Công nhân")
    assert "recruit.campaign.saved" in chat.keys
    async with chat.app.db.session() as session:
        assert [c.code for c in await recruit_repo.list_campaigns(session)] == ["T5-2027"]


async def test_a_129_character_accented_name_is_stored(db_url: str, make_app, failures) -> None:
    """people.name_enc holds the sealed name whatever its length (it was 512 characters)."""
    chat = await _chat(make_app, url=db_url)
    name = ("Nguyễn Ệ Ễ Ổ Ữ Ỡ Ặ Ẫ Ỵ " + "ỆỄỔỮỠẶẪỴ" * 20)[:129]
    sealed = chat.app.engine.services.crypto.encrypt(name)
    assert len(sealed) > 512
    async with chat.app.db.transaction() as session:
        person = await people_repo.add_person(
            session, role="volunteer", external_id="77", name_enc=sealed
        )
    async with chat.app.db.session() as session:
        stored = await session.get(people_repo.Person, person.id)
        assert chat.app.engine.services.crypto.decrypt(stored.name_enc) == name


# -- webhooks -------------------------------------------------------------------------------


class _Recorder:
    def __init__(self) -> None:
        self.got: list[Any] = []

    async def __call__(self, inbound: Any) -> None:
        self.got.append(inbound)


async def _serve(channel: Any) -> tuple[TestClient, _Recorder]:
    app = web.Application()
    deliver = _Recorder()
    channel.setup_web(app, deliver)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client, deliver


async def test_zalo_oa_checks_the_signature_before_reading_the_body(clock) -> None:
    config = OAConfig(app_id="app-1", secret_key="oa-secret")
    channel = ZaloOAChannel(config, None, clock=clock)
    client, deliver = await _serve(channel)
    try:
        ts = str(int(clock.now.timestamp() * 1000))
        deep = ('{"timestamp": "' + ts + '", "x": ' + "[" * 100_000 + "]" * 100_000 + "}").encode()
        # Unsigned or wrongly signed: refused as such, the body never parsed (no 400 here).
        forged = await client.post("/webhooks/zalo-oa", data=deep,
                                   headers={"X-ZEvent-Signature": "mac=00"})  # fmt: skip
        assert forged.status == 401
        # Signed (by someone holding the key) but nested 100,000 deep: a 400, no traceback.
        signed = await client.post(
            "/webhooks/zalo-oa", data=deep,
            headers={"X-ZEvent-Signature": signature("app-1", deep, ts, "oa-secret")},
        )  # fmt: skip
        assert signed.status == 400
        assert "Traceback" not in await signed.text()
        # The signed timestamp must be the body's own.
        event = {"event_name": "user_send_text", "timestamp": ts, "sender": {"id": "123"},
                 "message": {"msg_id": "m1", "text": "xin chào\x00"}}  # fmt: skip
        raw = json.dumps(event).encode()
        ok = await client.post("/webhooks/zalo-oa", data=raw,
                               headers={"X-ZEvent-Signature": signature("app-1", raw, ts,
                                                                        "oa-secret")})  # fmt: skip
        assert ok.status == 200
        assert [i.text for i in deliver.got] == ["xin chào"]  # the NUL removed by the adapter
    finally:
        await client.close()


def test_zalo_oa_ids_that_cannot_be_ids_are_ignored() -> None:
    event = {"event_name": "user_send_text", "timestamp": "1", "sender": {"id": "9" * 200},
             "message": {"msg_id": "m1", "text": "hi"}}  # fmt: skip
    assert event_to_inbound(event, b"{}") is None


async def test_telegram_and_zalo_bot_webhooks_refuse_deep_json(tmp_path) -> None:
    from bot.channels.telegram import TelegramChannel
    from bot.channels.zalo_bot import ZaloBotChannel

    deep = b"[" * 100_000 + b"]" * 100_000
    telegram = TelegramChannel("123:abc", webhook_url="https://x.example/webhooks/telegram",
                               webhook_secret="s3cret-token")  # fmt: skip
    client, _ = await _serve(telegram)
    try:
        secret = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
        answer = await client.post("/webhooks/telegram", data=deep, headers=secret)
        assert answer.status == 400
    finally:
        await client.close()
        await telegram.stop()
    zalo = ZaloBotChannel("tok", secret="zalo-secret-1", webhook_url="https://x.example/z")
    client, _ = await _serve(zalo)
    try:
        answer = await client.post("/webhooks/zalo-bot", data=deep,
                                   headers={"X-Bot-Api-Secret-Token": "zalo-secret-1"})  # fmt: skip
        assert answer.status == 400
    finally:
        await client.close()
        await zalo.stop()
