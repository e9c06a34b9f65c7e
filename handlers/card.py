"""The membership card (thẻ đoàn viên điện tử) in chat, and its public verification page.

The plan puts members at the centre of digital services (III.9). When an officer admits an
application (handlers/membership_staff.py calls the ``on_admitted`` hooks), the member receives a
card image: name, union body, member since, card number and a QR code. `/thedoanvien` shows it
again. Telegram and Zalo OA get the image; the Zalo Bot Platform sends text only, so it gets a
link to the image (a token of its own, different from the QR's).

The QR opens ``/the/<token>`` on the bot's web app: "Thẻ hợp lệ — đoàn viên của {union body} từ
{tháng/năm}" with the name as initials only, nothing else. The token is a random id plus a keyed
signature (the data key's HMAC), so it cannot be guessed or altered: a bad signature reads "không
hợp lệ" before the database is asked, and a signed token whose card was revoked or erased reads
"không còn hiệu lực". The page is rate-limited per client (the ``limits`` library) and says
nothing else about which tokens exist. With ``REDIS_URL`` set the budget lives in Redis, so every
bot process behind the balancer counts the same hits (a client cannot get N times the rate from N
processes); if Redis stops answering, each process limits on its own until it is back.
"""

from __future__ import annotations

import hmac
import io
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Self

import segno
from jinja2 import Environment, FileSystemLoader, select_autoescape
from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import ConfigError, ConfigReader
from bot.core.context import Ctx, Services
from bot.core.engine import reachable_address
from bot.core.events import Address, Outgoing, Photo, Text
from bot.core.feature import Feature, WebRoute
from bot.core.texts import Texts
from storage import cards as repo
from storage.cards import MemberCard
from storage.membership import MemberApplication

log = logging.getLogger(__name__)

TOKEN_ID_BYTES = 16  # 128 random bits
_TOKEN = re.compile(r"^([A-Za-z0-9_-]{16,32})\.([0-9a-f]{32})$")
VERIFY = "verify"
IMAGE = "image"
TEMPLATES = Path(__file__).parent / "templates"
FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",  # Debian fonts-dejavu-core (the Makefile installs it)
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
)
TEXT_ONLY_CHANNELS = ("zalo_bot", "console")
CARD_SIZE = (1012, 638)  # the ID-1 card ratio (85.6 × 54 mm)
MEMORY = "async+memory://"


# -- configuration --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardConfig:
    """``[card]`` in config.toml: where the public page lives, the rate limit, the fonts."""

    SECTION = "card"
    public_url: str
    rate_limit: str = "20/minute"
    limit_storage: str = MEMORY
    limit_prefix: str = "congdoan:card"
    font_dir: str | None = None

    @classmethod
    def from_config(cls, reader: ConfigReader) -> Self:
        """The QR's address: ``[card] public_url``, else ``[http] public_url``, else the bot's
        own host and port (fine on a LAN, not for printed cards)."""
        settings = reader.settings
        http = settings.extra.get("http") or {}
        default_url = http.get("public_url") if isinstance(http, dict) else None
        url = reader.get("public_url") or default_url
        url = url or f"http://{settings.http_host}:{settings.http_port}"
        rate = str(reader.get("rate_limit", "20/minute"))
        try:
            parse(rate)
        except ValueError as exc:
            raise ConfigError("card.rate_limit", rate, "a rate such as 20/minute") from exc
        font_dir = reader.get("font_dir")
        # Several processes share REDIS_URL: the page's budget is kept there unless configured.
        shared = f"async+{settings.redis_url}" if settings.redis_url else MEMORY
        return cls(
            public_url=str(url).rstrip("/"),
            rate_limit=rate,
            limit_storage=str(reader.get("limit_storage") or shared),
            limit_prefix=str(reader.get("limit_prefix") or "congdoan:card"),
            font_dir=str(font_dir) if font_dir else None,
        )


def card_config(services: Services) -> CardConfig:
    return services.config(CardConfig)


# -- tokens ---------------------------------------------------------------------------------------


def new_token_id() -> str:
    return secrets.token_urlsafe(TOKEN_ID_BYTES)


def _signature(crypto: Any, token_id: str, purpose: str) -> str:
    return str(crypto.lookup_hash(f"member-card:{purpose}:{token_id}"))[:32]


def make_token(crypto: Any, token_id: str, purpose: str = VERIFY) -> str:
    return f"{token_id}.{_signature(crypto, token_id, purpose)}"


def read_token(crypto: Any, token: str, purpose: str = VERIFY) -> str | None:
    """The token id if the signature is ours for this purpose; None for anything else."""
    match = _TOKEN.match(token or "")
    if match is None:
        return None
    token_id, signature = match.groups()
    if not hmac.compare_digest(signature, _signature(crypto, token_id, purpose)):
        return None
    return token_id


def verify_url(services: Services, card: MemberCard) -> str:
    return f"{card_config(services).public_url}/the/{make_token(services.crypto, card.token_id)}"


def image_url(services: Services, card: MemberCard) -> str:
    token = make_token(services.crypto, card.token_id, IMAGE)
    return f"{card_config(services).public_url}/the/anh/{token}"


# -- what is shown --------------------------------------------------------------------------------


def initials(name: str) -> str:
    """ "Nguyễn Thị Hoa" → "N. T. H." (the page never shows more of the name)."""
    return " ".join(f"{word[0].upper()}." for word in name.split() if word[:1].isalpha())


def month_year(card: MemberCard) -> str:
    return f"{card.member_since.month:02d}/{card.member_since.year}"


@lru_cache(maxsize=8)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def font_path(config: CardConfig, bold: bool = False) -> str:
    """DejaVu Sans (Vietnamese diacritics included) from the configured or a system folder."""
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    folders = (config.font_dir,) if config.font_dir else FONT_DIRS
    for folder in folders:
        path = Path(folder) / name
        if path.exists():
            return str(path)
    raise RuntimeError(
        f"font {name} not found in {', '.join(f for f in folders if f)}: install the Debian "
        "package fonts-dejavu-core (make does), or set [card] font_dir"
    )


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def _fit(draw: ImageDraw.ImageDraw, text: str, font: str, width: int) -> tuple[int, list[str]]:
    """The biggest size at which the text fits in two lines (a long union body gets smaller)."""
    for size in (34, 29, 25):
        lines = _wrap(draw, text, _font(font, size), width)
        if len(lines) <= 2:
            return size, lines
    return 22, _wrap(draw, text, _font(font, 22), width)[:3]


def render_card(
    t: Texts, config: CardConfig, *, name: str, union_body: str, since: str, number: str, qr: str
) -> bytes:
    """The card as a PNG: a red band with the title, the member's details, the QR on the right."""
    width, height = CARD_SIZE
    image = Image.new("RGB", CARD_SIZE, "white")
    draw = ImageDraw.Draw(image)
    regular, bold = font_path(config), font_path(config, bold=True)
    red = (200, 16, 46)
    draw.rectangle((0, 0, width, 150), fill=red)
    draw.text((40, 28), t("card.image.org"), font=_font(bold, 30), fill="white")
    draw.text((40, 78), t("card.image.title"), font=_font(bold, 42), fill="white")

    qr_png = io.BytesIO()
    segno.make(qr, error="m").save(qr_png, kind="png", scale=7, border=2)
    code = Image.open(io.BytesIO(qr_png.getvalue())).convert("RGB")
    side = min(340, height - 200)
    code = code.resize((side, side), Image.Resampling.NEAREST)
    image.paste(code, (width - side - 36, 180))

    left, text_width, y = 40, width - side - 36 - 40 - 24, 182
    label = _font(regular, 24)
    for key, text in (
        ("card.image.name", name),
        ("card.image.union_body", union_body),
        ("card.image.since", since),
        ("card.image.number", number),
    ):
        draw.text((left, y), t(key), font=label, fill=(90, 90, 90))
        y += 30
        size, lines = _fit(draw, text, bold, text_width)
        for line in lines:
            draw.text((left, y), line, font=_font(bold, size), fill="black")
            y += int(size * 1.25)
        y += 12
    draw.text((40, height - 46), t("card.image.scan"), font=_font(regular, 22), fill=red)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def card_png(services: Services, t: Texts, card: MemberCard, name: str) -> bytes:
    return render_card(
        t,
        card_config(services),
        name=name,
        union_body=card.union_body,
        since=month_year(card),
        number=card.number or "",
        qr=verify_url(services, card),
    )


# -- issuing and showing --------------------------------------------------------------------------


def card_message(
    services: Services, t: Texts, address: Address, card: MemberCard, name: str, key: str
) -> Outgoing:
    """The card for one chat: the image, or a link to it on text-only channels."""
    caption = t(key, number=card.number or "")
    if address.channel in TEXT_ONLY_CHANNELS:
        text = t("card.link", caption=caption, link=image_url(services, card))
        return Outgoing(address, Text(text))
    photo = Photo(card_png(services, t, card, name), caption, f"the-doan-vien-{card.number}.png")
    return Outgoing(address, photo, tag=f"card:{card.number}")


async def admitted(
    session: AsyncSession, services: Services, app: MemberApplication, now: datetime
) -> list[Outgoing]:
    """The ``admitted`` hook: issue the card of a just-admitted application, for the member."""
    card = await repo.issue_card(
        session, app, token_id=new_token_id(), member_since=(app.decided_at or now).date(), now=now
    )
    address = await reachable_address(session, app.contact_id)
    if address is None or app.name_enc is None:
        return []
    name = services.crypto.decrypt(app.name_enc)
    return [card_message(services, services.texts, address, card, name, "card.issued")]


async def show_card(ctx: Ctx) -> list[Outgoing]:
    """/thedoanvien: the member's card again; otherwise how to get one."""
    card = await repo.current_card(ctx.session, ctx.contact_id)
    found = await repo.card_by_token(ctx.session, card.token_id) if card else None
    if card is None or found is None or not repo.is_valid(*found) or found[1] is None:
        return [
            ctx.choices(
                ctx.t("card.none"),
                [(ctx.t("join.join_button"), "join:start"), (ctx.t("join.menu"), "menu:main")],
            )
        ]
    app = found[1]
    name = ctx.services.crypto.decrypt(app.name_enc or "")
    return [card_message(ctx.services, ctx.texts, ctx.address, card, name, "card.again")]


# -- the public pages -----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(("html", "j2"))
    )


@dataclass(frozen=True)
class PageResult:
    status: int
    content_type: str
    body: bytes


class PageLimiter:
    """The pages' budget per client: in Redis when configured (shared by every process), in
    this process's memory otherwise, and in memory while Redis does not answer."""

    RETRY = 30.0  # seconds before Redis is tried again after a failure

    def __init__(self, config: CardConfig) -> None:
        self.rate: RateLimitItem = parse(config.rate_limit)
        self.local = MovingWindowRateLimiter(storage_from_string(MEMORY))
        self.shared: MovingWindowRateLimiter | None = None
        self._down_until = 0.0
        if config.limit_storage != MEMORY:
            options: dict[str, Any] = {}
            if "redis" in config.limit_storage.split("://", 1)[0]:
                options = {
                    "implementation": "redispy",  # redis-py, already a dependency (no coredis)
                    "key_prefix": config.limit_prefix,
                    "socket_timeout": 2,
                    "socket_connect_timeout": 2,
                }
            self.shared = MovingWindowRateLimiter(
                storage_from_string(config.limit_storage, **options)
            )

    async def hit(self, client: str) -> bool:
        """Count one request of ``client``; False once it is over the rate."""
        if self.shared is not None and time.monotonic() >= self._down_until:
            try:
                return bool(await self.shared.hit(self.rate, "card-page", client))
            except Exception as exc:  # redis errors, OSError, timeouts: limit locally meanwhile
                self._down_until = time.monotonic() + self.RETRY
                log.warning(
                    "card page: the shared rate limit is unavailable (%s); this process "
                    "limits on its own for %.0f s",
                    type(exc).__name__,
                    self.RETRY,
                )
        return bool(await self.local.hit(self.rate, "card-page", client))


def _limiter(services: Services) -> PageLimiter:
    """One limiter per bot (its services), built on first use."""
    found = services.__dict__.get("_card_page_limiter")
    if found is None:
        found = services.__dict__["_card_page_limiter"] = PageLimiter(card_config(services))
    return found  # type: ignore[no-any-return]


def _page(
    t: Texts, status: int, state: str, heading: dict[str, str] | None = None, who: str = ""
) -> PageResult:
    key = f"card.page.{state}_detail"
    detail = t("card.page.valid_detail", initials=who) if who else t(key)
    html = (
        _templates()
        .get_template("card_verify.html.j2")
        .render(
            title=t("card.page.title"),
            heading=t(f"card.page.{state}", **(heading or {})),
            detail=detail,
            footer=t("card.page.footer"),
            state=state,
        )
    )
    return PageResult(status, "text/html; charset=utf-8", html.encode("utf-8"))


async def _allowed(services: Services, client: str) -> bool:
    return await _limiter(services).hit(client or "?")


async def _lookup(
    services: Services, token: str, purpose: str
) -> tuple[str, MemberCard | None, MemberApplication | None]:
    """("invalid" | "revoked" | "valid", card, application)."""
    token_id = read_token(services.crypto, token, purpose)
    if token_id is None:
        return "invalid", None, None
    async with services.db.session() as session:
        found = await repo.card_by_token(session, token_id)
    if found is None or not repo.is_valid(*found):
        return "revoked", None, None
    return "valid", found[0], found[1]


async def verify_page(services: Services, params: dict[str, str], client: str) -> PageResult:
    """``GET /the/{token}``: valid (union body, month/year, initials), revoked, or invalid."""
    t = services.texts
    if not await _allowed(services, client):
        return _page(t, 429, "limited")
    state, card, app = await _lookup(services, params.get("token", ""), VERIFY)
    if state != "valid" or card is None or app is None:
        return _page(t, 200, state)
    name = services.crypto.decrypt(app.name_enc or "")
    heading = {"union_body": card.union_body, "since": month_year(card)}
    return _page(t, 200, "valid", heading, who=initials(name))


async def image_page(services: Services, params: dict[str, str], client: str) -> PageResult:
    """``GET /the/anh/{token}``: the card image for text-only channels (its own token; the
    QR's does not open it)."""
    t = services.texts
    if not await _allowed(services, client):
        return _page(t, 429, "limited")
    state, card, app = await _lookup(services, params.get("token", ""), IMAGE)
    if state != "valid" or card is None or app is None:
        return _page(t, 404 if state == "invalid" else 200, state)
    name = services.crypto.decrypt(app.name_enc or "")
    return PageResult(200, "image/png", card_png(services, t, card, name))


# -- the member's data rights ---------------------------------------------------------------------


class CardData:
    """Cards for /dulieucuatoi, /rutdongy (revoked) and /xoadulieu (deleted)."""

    async def describe(self, ctx: Ctx) -> list[str]:
        lines = []
        for card in await repo.cards_of(ctx.session, ctx.contact_id):
            key = "card.mydata.revoked" if card.revoked_at else "card.mydata.card"
            lines.append(ctx.t(key, number=card.number or "", since=month_year(card)))
        return lines

    async def withdraw(self, ctx: Ctx) -> bool:
        return await repo.revoke_cards(ctx.session, ctx.contact_id, ctx.now) > 0

    async def erase(self, ctx: Ctx) -> None:
        await repo.delete_cards(ctx.session, ctx.contact_id)


def register() -> Feature:
    return Feature(
        name=__name__,
        commands={"thedoanvien": show_card},
        personal_data=(CardData(),),
        offers={"admitted": admitted},
        web_routes=(
            WebRoute("GET", "/the/anh/{token}", image_page, plain=True),
            WebRoute("GET", "/the/{token}", verify_page, plain=True),
        ),
        config=(CardConfig,),
    )
