"""The seams between features: composition, typed payloads, typed configuration, roles."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from bot.app import FEATURES, build_app, features_except, features_upto
from bot.config import ConfigError, ConfigReader, Settings, unknown_keys
from bot.core.context import Ctx
from bot.core.events import Outgoing, Receipt, SendStatus
from bot.core.feature import (
    PRIORITY_CODES,
    PRIORITY_FAQ,
    Feature,
    StartupError,
    TextHandler,
    WebRoute,
    compose,
)
from bot.core.payloads import MAX_BYTES, Payload, PayloadTooLong
from bot.core.roles import Roles, Who
from storage import people as people_repo
from tests.driver import CaptureChannel, Chat


async def _hello(ctx: Ctx) -> list[Outgoing]:
    return [ctx.text("xin chào")]


# -- composition ------------------------------------------------------------------------------


async def test_a_second_menu_command_stops_start_up_naming_both_features(settings) -> None:
    intruder = Feature(name="tests.intruder", commands={"menu": _hello})
    with pytest.raises(StartupError) as err:
        await build_app(settings, channels=[], features=(*FEATURES, intruder))
    message = str(err.value)
    assert "'menu'" in message
    assert "handlers.start" in message and "tests.intruder" in message


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("payloads", {"join": _hello}, "Tiền tố nút bấm 'join'"),
        ("flows", {"consent_join": _hello}, "Luồng hội thoại 'consent_join'"),
        ("offers", {"start_join": _hello}, "Móc nối 'start_join'"),
    ],
)
async def test_other_duplicate_claims_name_both_features(
    settings, field: str, value: Any, needle: str
) -> None:
    intruder = Feature(name="tests.intruder", **{field: value})
    with pytest.raises(StartupError, match=needle) as err:
        await build_app(settings, channels=[], features=(*FEATURES, intruder))
    assert "handlers.join" in str(err.value) and "tests.intruder" in str(err.value)


def test_duplicate_routes_and_unknown_hooks_are_refused() -> None:
    async def page(_request: Any) -> Any:
        return None

    first = Feature(name="a", web_routes=(WebRoute("GET", "/staff", page),))
    second = Feature(name="b", web_routes=(WebRoute("get", "/staff", page),))
    with pytest.raises(StartupError, match=r"'GET /staff'.*a và b"):
        compose([first, second])
    with pytest.raises(StartupError, match="móc nối lạ 'arival'"):
        compose([Feature(name="c", offers={"arival": _hello})])
    with pytest.raises(StartupError, match="hai lần trong FEATURES"):
        compose([first, first])


async def test_a_feature_adds_dashboard_pages_and_a_clash_names_both(settings) -> None:
    async def page(_req: Any) -> Any:
        return None

    def notes_pages(dashboard: Any) -> None:
        dashboard.page("/ghichu", page, roles=("staff",), title="Ghi chú")

    def overview_again(dashboard: Any) -> None:
        dashboard.page("/tongquan", page)

    notes = Feature(name="tests.notes", dashboard_pages=(notes_pages,))
    app = await build_app(settings, channels=[], features=(*FEATURES, notes))
    try:
        assert ("GET", "/ghichu") in {(p.method, p.path) for p in app.dashboard.pages}
    finally:
        await app.stop()
    clash = Feature(name="tests.clash", dashboard_pages=(overview_again,))
    with pytest.raises(StartupError, match=r"GET /tongquan.*bot\.dashboard\.overview và tests"):
        await build_app(settings, channels=[], features=(*FEATURES, clash))


def test_a_second_first_contact_handler_is_refused() -> None:
    with pytest.raises(StartupError, match=r"chào người nhắn lần đầu.*a và b"):
        compose([Feature(name="a", first_contact=_hello), Feature(name="b", first_contact=_hello)])


def test_text_handlers_run_by_priority_then_feature_order() -> None:
    async def a(ctx: Ctx) -> None: ...
    async def b(ctx: Ctx) -> None: ...
    async def c(ctx: Ctx) -> None: ...

    comp = compose(
        [
            Feature(name="faq", text=(TextHandler(a, PRIORITY_FAQ),)),
            Feature(name="intent", text=(TextHandler(b),)),
            Feature(name="codes", text=(TextHandler(c, PRIORITY_CODES),)),
        ]
    )
    assert comp.text == [c, b, a]


async def test_a_new_feature_is_one_value_in_the_feature_list(make_app) -> None:
    channel = CaptureChannel()
    hello = Feature(name="tests.hello", commands={"chao": _hello})
    app = await make_app(channel, features=(*FEATURES, hello))
    chat = Chat(app, channel)
    await chat.send("/chao")
    assert chat.replies[-1].text == "xin chào"


def test_subset_helpers_keep_the_order_of_features() -> None:
    assert features_upto("handlers.ask", "handlers.start") == ("handlers.start", "handlers.ask")
    assert "handlers.ask" not in features_except("handlers.ask")
    with pytest.raises(ValueError, match=r"handlers\.nothing"):
        features_upto("handlers.nothing")


# -- typed payloads ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Review(Payload, prefix="rv"):
    action: str
    app_id: int = 0
    note: str = ""


def test_payloads_pack_and_unpack() -> None:
    assert Review("admit", 12).pack() == "rv:admit:12"
    assert Review("cancel").pack() == "rv:cancel"  # trailing defaults left out
    assert Review.unpack("rv:admit:12") == Review("admit", 12)
    assert Review.unpack("rv:cancel") == Review("cancel")
    assert Review.unpack("rv:x:3:a:b") == Review("x", 3, "a:b")  # the last field keeps colons
    assert Review.matches("rv:anything") and not Review.matches("rvx:1")


@pytest.mark.parametrize(
    "tampered",
    ["", None, "rv", "other:admit:12", "rv:admit:12x", "rv:admit:１２", "rv:admit:-", "rvadmit"],
)
def test_tampered_payloads_unpack_to_nothing(tampered: str | None) -> None:
    assert Review.unpack(tampered) is None


def test_a_payload_over_64_bytes_fails_when_the_button_is_built() -> None:
    fits = Review("a", 1, "x" * (MAX_BYTES - len("rv:a:1:")))
    assert len(fits.pack().encode()) == MAX_BYTES
    with pytest.raises(PayloadTooLong):
        Review("a", 1, "x" * (MAX_BYTES - len("rv:a:1:") + 1)).pack()
    with pytest.raises(PayloadTooLong):  # bytes, not characters: "ệ" is three bytes
        Review("a", 1, "ệ" * 20).pack()
    with pytest.raises(ValueError, match="may not contain"):
        Review("a:b", 1).pack()


def test_every_feature_payload_fits_telegram() -> None:
    """The payload prefixes the features declare leave room for ids (prefix + 40 bytes)."""
    from bot.app import load_feature

    for feature in map(load_feature, FEATURES):
        for prefix in feature.payloads:
            assert len(prefix.encode()) + 40 <= MAX_BYTES, (feature.name, prefix)


def test_every_faq_suggestion_button_fits_telegram(settings) -> None:
    """A suggestion is ``ask:faq:<id>``: an FAQ id too long would fail when the reply is built."""
    from bot.core.answers import AskPayload
    from bot.core.matcher import build_matcher

    for entry in build_matcher(settings.content_dir).entries:
        assert AskPayload.unpack(AskPayload("faq", entry.id).pack()) == AskPayload("faq", entry.id)


def test_a_feature_cli_command_may_not_take_a_core_name(monkeypatch) -> None:
    from bot import app, cli
    from bot.core.feature import CliCommand

    clash = Feature(
        name="tests.clash",
        cli_commands=(CliCommand("people", "", lambda parser: None, lambda args: 0),),
    )
    monkeypatch.setattr(app, "FEATURES", ("tests.clash",))
    monkeypatch.setattr(app, "load_feature", lambda name: clash)
    with pytest.raises(StartupError, match=r"'people'.*bot.cli và tests.clash"):
        cli.build_parser()


# -- typed configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "key", "expected"),
    [
        ({"join": {"review_days": "bảy"}}, "join.review_days", "một số nguyên"),
        ({"join": {"review_days": 0}}, "join.review_days", "từ 1 trở lên"),
        ({"recruitment": {"reminder_days": 1.5}}, "recruitment.reminder_days", "số nguyên"),
        (
            {"recruitment": {"leaderboard_minutes": "x"}},
            "recruitment.leaderboard_minutes",
            "một số",
        ),
        ({"legal": {"office_opens": "7h30"}}, "legal.office_opens", "giờ trong ngày"),
        ({"legal": {"topics": "maybe"}}, "legal.topics", "true hoặc false"),
        ({"legal": {"timezone": "Hai Phong"}}, "legal.timezone", "múi giờ"),
        ({"legal": {"office_days": [0, 8]}}, "legal.office_days", "thứ trong tuần"),
        ({"staff": {"legal": "123"}}, "staff.legal", "mã người dùng Telegram"),
        ({"join": "yes"}, "join", "một bảng [join]"),
    ],
)
async def test_a_wrong_config_value_stops_start_up_with_key_value_and_expected(
    settings, extra: dict[str, Any], key: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as err:
        await build_app(settings.with_(extra=extra), channels=[])
    assert err.value.key == key
    assert expected in str(err.value)
    assert repr(err.value.value) in str(err.value)


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (
            {"join": {"review_day": 7}},
            "[join] review_day: bot không dùng khóa này (có phải ý bạn là review_days?)",
        ),
        (
            {"legl": {"group_chat_id": -1}},
            "[legl]: bot không dùng bảng này (có phải ý bạn là legal?)",
        ),
        ({"http": {"prot": 8080}}, "[http] prot: bot không dùng khóa này (có phải ý bạn là port?)"),
    ],
)
async def test_a_misspelt_table_or_key_stops_start_up_with_a_hint(
    settings, extra: dict[str, Any], said: str
) -> None:
    """A misspelling would otherwise fall back to the default without anyone noticing."""
    with pytest.raises(StartupError) as err:
        await build_app(settings.with_(extra=extra), channels=[])
    assert said in str(err.value)


async def test_a_subset_of_features_accepts_the_tables_of_the_features_left_out(settings) -> None:
    extra = {"legal": {"group_chat_id": -1, "office_opens": "07:30"}}
    app = await build_app(
        settings.with_(extra=extra), channels=[], features=features_except("handlers.relay")
    )
    await app.db.dispose()
    assert "legal" not in app.engine.services.read_keys  # taken as it is, not read


def test_the_shipped_config_has_no_key_nothing_reads() -> None:
    from bot.config import DEFAULT_CONFIG, load_settings

    async def build() -> None:
        shipped = load_settings({}, DEFAULT_CONFIG).with_(database_url="sqlite+aiosqlite://")
        app = await build_app(shipped, channels=[])
        await app.db.dispose()
        read = app.engine.services.read_keys
        assert unknown_keys(shipped, read) == []
        assert "review_days" in read["join"]  # the feature tables were read, not skipped

    asyncio.run(build())


def test_the_command_line_says_what_is_wrong_in_the_config(tmp_path, monkeypatch, capsys) -> None:
    from bot import cli

    config = tmp_path / "config.toml"
    config.write_text('[join]\nreview_days = "bảy"\n', "utf-8")
    monkeypatch.setenv("CONGDOAN_CONFIG", str(config))
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    monkeypatch.setenv("CONGDOAN_DATA_KEY_FILE", str(tmp_path / "data.key"))

    async def no_chat(settings: Settings) -> None:
        from bot.app import build_app as build

        await build(settings, channels=[])

    monkeypatch.setattr(cli, "_chat", no_chat)
    assert cli.main(["chat"]) == 2
    err = capsys.readouterr().err
    assert "[join] review_days = 'bảy'" in err and "cần một số nguyên" in err


def test_env_overrides_are_read_by_the_config_reader() -> None:
    settings = Settings(extra={"legal": {"group_chat_id": "-1"}})
    reader = ConfigReader("legal", settings, env={"CONGDOAN_LEGAL_GROUP": "-42"})
    assert reader.override("CONGDOAN_LEGAL_GROUP") == "-42"
    assert ConfigReader("legal", settings, env={}).override("CONGDOAN_LEGAL_GROUP") is None


# -- the send outcome -------------------------------------------------------------------------


def test_send_outcomes_are_typed() -> None:
    assert Receipt(message_id="1").outcome is SendStatus.SENT
    assert Receipt(ok=False, error="blocked").outcome is SendStatus.BLOCKED
    assert Receipt(ok=False, error="rate_limited").outcome is SendStatus.RATE_LIMITED
    held = Receipt(ok=False, error="window", extra={"final": "yes"})
    assert held.outcome is SendStatus.HELD and held.outcome.final
    assert Receipt(ok=False, error="timeout").outcome is SendStatus.FAILED
    assert not SendStatus.FAILED.final and SendStatus.NO_CHANNEL.final


# -- roles ------------------------------------------------------------------------------------


async def test_roles_answer_may_this_person_do_this_here(make_app) -> None:
    app = await make_app(CaptureChannel())
    roles = Roles({"staff": ["1"], "legal": [2]})
    async with app.db.transaction() as session:
        volunteer = await people_repo.add_person(
            session, role="volunteer", external_id="3", area_codes=["11383"]
        )
        await people_repo.add_person(
            session, role="membership", external_id="4", union_body="Công đoàn phường Lê Chân"
        )
        staff, lawyer, vol, officer = (Who("telegram", i) for i in "1234")
        assert await roles.may(session, staff, "leads.work", area="99999")
        assert not await roles.may(session, staff, "legal.answer")  # lawyers only
        assert await roles.may(session, lawyer, "legal.answer")
        assert await roles.may(session, vol, "leads.work", area="11383")
        assert not await roles.may(session, vol, "leads.work", area="11407")
        grant = await roles.grant(session, vol, "leads.work")
        assert grant is not None and grant.person is not None and grant.person.id == volunteer.id
        assert await roles.may(
            session, officer, "membership.review", union_body="Công đoàn phường Lê Chân"
        )
        assert not await roles.may(session, officer, "membership.review", union_body="Khác")
        assert not await roles.may(session, Who("telegram", "5"), "recruit.invite")
        with pytest.raises(KeyError):
            await roles.may(session, staff, "everything")
