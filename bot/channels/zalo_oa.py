"""Zalo Official Account (Open API v3): signed webhooks in, consultation messages out.

A thin aiohttp client; no Zalo SDK is worth depending on (../shared/PLATFORMS.md §4).

Receiving (``POST /webhooks/zalo-oa``). Zalo signs each event with ``X-ZEvent-Signature`` =
``"mac=" + sha256_hex(app_id + raw_body + timestamp + oa_secret_key)``, the timestamp taken from
the JSON body (PLATFORMS §3, the Chatwoot form). A missing or wrong signature is answered 401 and
logged as a warning (together with whether the ``X-ZEvent-Timestamp`` header variant would have
matched, to settle the conflicting sources during rollout); an event older than ``max_age`` is
refused the same way. A valid event is recorded durably by ``deliver`` (App.ingest, which also
drops replays by the dedupe key ``zalo_oa:<msg_id>`` or ``zalo_oa:<sha256 of the body>``) and
answered 200 at once; the work happens afterwards, well inside Zalo's 2-second budget.

Events: ``user_send_text`` is text, a ``/command`` or, when it carries a button payload (buttons
are ``oa.query.hide``: the payload comes back as a hidden user message ``#btn:<payload>``), a
button press; ``follow`` is the welcome (``/start``); ``user_send_image`` and ``user_send_file``
are media (the attachment URLs), for legal cases; ``user_submit_info`` (the answer to Zalo's
"share your information" form) becomes a CONTACT event with the phone number and name, which the
form runner accepts wherever it asks for a phone (the join form's prefill); stickers, audio,
video, location and links are UNSUPPORTED (the bot answers with the menu); everything else
(seen/received receipts, unfollow, anonymous users, the OA's own messages) is acknowledged and
ignored.

Sending (``POST /v3.0/oa/message/cs``). A photo (the membership card) is uploaded first (``POST
/v2.0/oa/upload/image``, multipart field ``file``, PNG or JPEG up to 1 MB; PLATFORMS §3) and sent as
a media template with the returned ``attachment_id`` and the caption as its text; the upload is done
when the message is sent, so a held photo is uploaded when it finally goes out. The OA may answer a
worker with 8 free replies within 48 hours of their last message, and only a message carrying the
incoming ``message_id`` counts as a reply. The engine records each message's id and time on the
worker's channel identity; the window store (storage/zalo.py, built by app.py) counts replies
against that and hands out reply slots atomically across processes, so acknowledging a webhook
writes nothing but the inbox row. What may not be sent (window closed, replies used up, or Zalo
refusing with -213/-201) is held in ``zalo_oa_undelivered``, logged as a warning, and reported in
the receipt, so the outbox row ends failed with a readable error; held messages go out first, in
order, the next time the bot answers the worker (they have written again). Staff list them with
``storage.zalo.list_undelivered``.

Choices: up to 5 options are quick-reply buttons; more become a numbered list, and a typed
number is mapped back here (the engine maps numbers only for channels without buttons).

Tokens: the access token is refreshed before it expires and on error -216 (then the call is
retried once). Refresh tokens are single-use, so rotation goes through the token store, which
locks the OA's row and skips the refresh call when another process already rotated.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import logging
import re
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from bot.channels.base import (
    BadBody,
    Capabilities,
    Channel,
    Deliver,
    parse_json_body,
    split_text,
)
from bot.core.events import (
    NAME_LIMIT,
    Address,
    Choice,
    Choices,
    Content,
    CreateTopic,
    Inbound,
    Kind,
    Outgoing,
    Photo,
    Receipt,
    RelayCopy,
    RemoveKeyboard,
    RequestContact,
    SendStatus,
    Text,
    clean_text,
    content_from_json,
    content_to_json,
    pick_by_number,
    plausible_id,
)
from bot.core.textnorm import typed_number
from bot.core.wording import numbered_list

log = logging.getLogger(__name__)

CHANNEL = "zalo_oa"
WEBHOOK_PATH = "/webhooks/zalo-oa"
SIGNATURE_HEADER = "X-ZEvent-Signature"
TIMESTAMP_HEADER = "X-ZEvent-Timestamp"
DEFAULT_API_BASE = "https://openapi.zalo.me"
DEFAULT_OAUTH_BASE = "https://oauth.zaloapp.com"
MAX_TEXT = 2000
UPLOAD_IMAGE_PATH = "/v2.0/oa/upload/image"
MAX_IMAGE_BYTES = 1_000_000  # [secondary] Zalo's upload limit for jpg/png
IMAGE_KEY = "_image"  # in a rendered body: the Photo to upload before the body is sent
MAX_BUTTONS = 5
MAX_BUTTON_TITLE = 100
MAX_BUTTON_PAYLOAD = 1000
BUTTON_PREFIX = "#btn:"
FOLLOW_MARKER = "follow:"
TOKEN_EXPIRED = -216
WINDOW_ERRORS = frozenset({-213, -201})  # [unverified] "outside the reply window"
REFRESH_MARGIN = timedelta(minutes=5)
SEEDED_LIFETIME = timedelta(hours=1)  # configured token of unknown age: refresh early
MAX_AGE = timedelta(hours=1)
MAX_SKEW = timedelta(minutes=5)

_USER_EVENTS = {
    "user_send_text",
    "user_send_image",
    "user_send_file",
    "user_send_link",
    "user_send_audio",
    "user_send_video",
    "user_send_sticker",
    "user_send_location",
    "user_send_gif",
    "user_send_business_card",
    "user_submit_info",
}
_MEDIA_EVENTS = {"user_send_image", "user_send_file"}
_COMMAND = re.compile(r"/([A-Za-z0-9_]{1,64})(?:\s+(.*))?", re.DOTALL)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- what app.py provides


class OATokens(Protocol):
    @property
    def access_token(self) -> str: ...
    @property
    def refresh_token(self) -> str: ...
    @property
    def expires_at(self) -> datetime: ...


class Reservation(Protocol):
    @property
    def ok(self) -> bool: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...


class HeldMessage(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def content(self) -> dict[str, Any]: ...
    @property
    def tag(self) -> str | None: ...


Refresher = Callable[[str], Awaitable[tuple[str, str, int]]]


class TokenStore(Protocol):
    """The OA's token pair in the database (storage/zalo.py ZaloOAStore)."""

    async def load_tokens(self, oa_id: str) -> OATokens | None: ...
    async def seed_tokens(
        self, oa_id: str, access_token: str, refresh_token: str, expires_at: datetime
    ) -> OATokens: ...
    async def rotate_tokens(
        self, oa_id: str, stale_access_token: str, refresh: Refresher, now: datetime
    ) -> OATokens: ...


class WindowStore(Protocol):
    """Reply windows, free-reply counters and held messages (storage/zalo.py ZaloOAStore)."""

    async def numbered_for(self, oa_id: str, user_id: str) -> list[str] | None: ...
    async def reserve(
        self,
        oa_id: str,
        user_id: str,
        parts: int,
        now: datetime,
        *,
        channel: str = CHANNEL,
        numbered: list[str] | None = None,
        content: dict[str, Any] | None = None,
        tag: str | None = None,
        held_first: bool = True,
    ) -> Reservation: ...
    async def release(self, oa_id: str, user_id: str, parts: int) -> None: ...
    async def hold(
        self,
        oa_id: str,
        user_id: str,
        content: dict[str, Any],
        tag: str | None,
        reason: str,
        now: datetime,
    ) -> int: ...
    async def held_for(self, oa_id: str, user_id: str) -> list[Any]: ...
    async def mark_delivered(self, held_id: int, now: datetime) -> None: ...


class OAStore(TokenStore, WindowStore, Protocol):
    async def close(self) -> None: ...


# --------------------------------------------------------------------------- webhook -> Inbound


def signature(app_id: str, raw_body: bytes, timestamp: str, secret_key: str) -> str:
    """The value Zalo puts in X-ZEvent-Signature: a plain SHA-256, not an HMAC."""
    digest = hashlib.sha256(
        app_id.encode() + raw_body + timestamp.encode() + secret_key.encode()
    ).hexdigest()
    return f"mac={digest}"


# The body's "timestamp" (milliseconds, a string or a number), read before the body is parsed.
_TIMESTAMP = re.compile(rb'"timestamp"\s*:\s*"?([0-9]{1,20})"?')


def event_time(data: Mapping[str, Any]) -> datetime | None:
    """The event's ``timestamp`` (milliseconds, sent as a string) as an aware datetime."""
    try:
        return datetime.fromtimestamp(int(str(data.get("timestamp", ""))) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def event_to_inbound(data: Mapping[str, Any], raw_body: bytes) -> Inbound | None:
    """The neutral record for one OA event, or None for events the bot does not answer."""
    name = str(data.get("event_name", ""))
    if name == "follow":
        follower = _id(data.get("follower")) or _id(data.get("sender"))
        if not follower:
            return None
        return Inbound(
            Address(CHANNEL, follower),
            follower,
            Kind.COMMAND,
            dedupe_key=_dedupe(None, raw_body),
            text="/start",
            command="start",
            # Recorded by the engine as the last message id: no message to reply to, so the
            # welcome goes by user id (PLATFORMS §3: a follow has no msg_id).
            message_id=FOLLOW_MARKER + str(data.get("timestamp", "")),
        )
    if name not in _USER_EVENTS:
        return None
    user = _id(data.get("sender"))
    if not user:
        return None
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    msg_id = str(message.get("msg_id") or "") or None
    base: dict[str, Any] = {
        "address": Address(CHANNEL, user),
        "user_id": user,
        "dedupe_key": _dedupe(msg_id, raw_body),
        "message_id": msg_id,
    }
    if name == "user_send_text":
        return text_inbound(clean_text(str(message.get("text") or "")) or "", base)
    if name in _MEDIA_EVENTS:
        urls = tuple(_attachment_urls(message))
        caption = clean_text(str(message.get("text") or "")) or ""
        return Inbound(kind=Kind.MEDIA, text=caption, media=urls, **base)
    if name == "user_submit_info":
        info = data.get("info") if isinstance(data.get("info"), dict) else {}
        phone = str(info.get("phone") or "").strip() or None
        name_given = clean_text(str(info.get("name") or "").strip(), NAME_LIMIT) or ""
        if phone is None:
            return Inbound(kind=Kind.UNSUPPORTED, display_name=name_given, **base)
        return Inbound(kind=Kind.CONTACT, phone=phone, display_name=name_given, **base)
    return Inbound(kind=Kind.UNSUPPORTED, **base)


def text_inbound(text: str, base: dict[str, Any]) -> Inbound:
    """Text, a /command, or a quick-reply button's hidden payload."""
    stripped = text.strip()
    if stripped.startswith(BUTTON_PREFIX) and len(stripped) > len(BUTTON_PREFIX):
        return Inbound(kind=Kind.BUTTON, payload=stripped[len(BUTTON_PREFIX) :], **base)
    command = _COMMAND.fullmatch(stripped)
    if command is not None:
        name, args = command.groups()
        return Inbound(
            kind=Kind.COMMAND, text=text, command=name.lower(), args=(args or "").strip(), **base
        )
    return Inbound(kind=Kind.TEXT, text=text, **base)


def is_number(inbound: Inbound) -> bool:
    """Typed text that could pick from a numbered list ("2", "số 2")."""
    return inbound.kind is Kind.TEXT and typed_number(inbound.text) is not None


def map_number(inbound: Inbound, numbered: list[str] | None) -> Inbound:
    """A number typed after a numbered list (more than 5 options) picks that option."""
    return pick_by_number(inbound, numbered)


def _id(value: Any) -> str:
    found = str(value.get("id") or "") if isinstance(value, dict) else ""
    return found if plausible_id(found) else ""


def _dedupe(msg_id: str | None, raw_body: bytes) -> str:
    return f"{CHANNEL}:{msg_id or hashlib.sha256(raw_body).hexdigest()}"


def _attachment_urls(message: Mapping[str, Any]) -> list[str]:
    urls = []
    for attachment in message.get("attachments") or []:
        payload = attachment.get("payload") if isinstance(attachment, dict) else None
        if isinstance(payload, dict) and payload.get("url"):
            urls.append(str(payload["url"]))
    return urls


# --------------------------------------------------------------------------- Outgoing -> messages


class CannotRender(ValueError):
    """A content item the OA cannot show (a forum topic, a copy of a Telegram message)."""


@dataclass(frozen=True)
class Rendered:
    """The message bodies one item becomes (each is one API call and one reply slot)."""

    bodies: list[dict[str, Any]]
    numbered: list[str] | None = None


def render(content: Content) -> Rendered:
    if isinstance(content, Choices):
        return _choices(content.text, content.options)
    if isinstance(content, RequestContact):
        # No share-phone button on Zalo: the prompt asks the worker to type the number.
        return _choices(content.text, content.options)
    if isinstance(content, Text | RemoveKeyboard):
        return Rendered(_texts(content.text))
    if isinstance(content, Photo):
        return Rendered(_photo(content))
    if isinstance(content, RelayCopy):
        if not content.caption.strip():
            raise CannotRender(f"{type(content).__name__} without a caption")
        return Rendered(_texts(content.caption))
    if isinstance(content, CreateTopic):
        raise CannotRender("Zalo has no forum topics")
    raise CannotRender(f"unknown content {type(content).__name__}")


def _texts(text: str) -> list[dict[str, Any]]:
    if not text.strip():
        raise CannotRender("empty message")
    return [{"text": part} for part in split_text(text, MAX_TEXT)]


def _photo(photo: Photo) -> list[dict[str, Any]]:
    """The caption's parts with the image on the last one (uploaded when it is sent)."""
    if not photo.data:
        raise CannotRender("empty photo")
    if len(photo.data) > MAX_IMAGE_BYTES:
        raise CannotRender(f"photo of {len(photo.data)} bytes, Zalo takes up to 1 MB")
    bodies = _texts(photo.caption) if photo.caption.strip() else [{}]
    bodies[-1][IMAGE_KEY] = photo
    return bodies


def media_message(body: dict[str, Any], attachment_id: str) -> dict[str, Any]:
    """A rendered body with its photo replaced by the uploaded image's media template."""
    message = {key: value for key, value in body.items() if key != IMAGE_KEY}
    message["attachment"] = {
        "type": "template",
        "payload": {
            "template_type": "media",
            "elements": [{"media_type": "image", "attachment_id": attachment_id}],
        },
    }
    return message


def _choices(text: str, options: tuple[Choice, ...]) -> Rendered:
    if not options:
        return Rendered(_texts(text))
    fits = len(options) <= MAX_BUTTONS and all(
        0 < len(BUTTON_PREFIX + o.payload) <= MAX_BUTTON_PAYLOAD for o in options
    )
    if not fits:
        listed = numbered_list(text, options)
        return Rendered(_texts(listed), [o.payload for o in options])
    bodies = _texts(text or "👇")
    bodies[-1]["attachment"] = {
        "type": "template",
        "payload": {
            "buttons": [
                {
                    "title": o.label[:MAX_BUTTON_TITLE],
                    "type": "oa.query.hide",
                    "payload": BUTTON_PREFIX + o.payload,
                }
                for o in options
            ]
        },
    }
    return Rendered(bodies)


# --------------------------------------------------------------------------- the channel


class ZaloOAError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"Zalo OA error {code}: {message}")
        self.code = code
        self.message = message


@dataclass
class _Token:
    access_token: str
    expires_at: datetime


@dataclass
class OAConfig:
    app_id: str
    secret_key: str
    oa_id: str = ""
    app_secret: str = ""
    access_token: str = ""
    refresh_token: str = ""
    api_base: str = DEFAULT_API_BASE
    oauth_base: str = DEFAULT_OAUTH_BASE
    max_age: timedelta = MAX_AGE

    @property
    def account(self) -> str:
        """The key of the token row and the windows: the OA id, or the app id without one."""
        return self.oa_id or self.app_id


class ZaloOAChannel(Channel):
    name = CHANNEL
    capabilities = Capabilities(
        buttons=True,
        max_text=MAX_TEXT,
        can_message_first=False,
        request_contact=False,
        photos=True,
    )
    uses_webhook = True

    def __init__(
        self, config: OAConfig, store: OAStore | None = None, *, clock: Clock = _utcnow
    ) -> None:
        if not config.app_id or not config.secret_key:
            raise ValueError("Zalo OA needs ZALO_OA_APP_ID and ZALO_OA_SECRET_KEY")
        self.config = config
        self.store = store
        self._clock = clock
        self._http: aiohttp.ClientSession | None = None
        self._stopped = False
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self._user_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    @classmethod
    def from_settings(cls, extra: Mapping[str, Any], store: OAStore) -> ZaloOAChannel:
        """Build from settings.extra (the ZALO_* environment variables, lower-cased)."""

        def get(key: str, default: str = "") -> str:
            return str(extra.get(key) or default).strip()

        config = OAConfig(
            app_id=get("zalo_oa_app_id"),
            secret_key=get("zalo_oa_secret_key"),
            oa_id=get("zalo_oa_id"),
            app_secret=get("zalo_app_secret"),
            access_token=get("zalo_oa_access_token"),
            refresh_token=get("zalo_oa_refresh_token"),
            api_base=get("zalo_oa_api_base", DEFAULT_API_BASE).rstrip("/"),
            oauth_base=get("zalo_oauth_base", DEFAULT_OAUTH_BASE).rstrip("/"),
        )
        return cls(config, store)

    def attach_store(self, store: OAStore) -> None:
        """Give the channel its database store (tests build it once the app's DB exists)."""
        self.store = store

    def _store(self) -> OAStore:
        if self.store is None:
            raise RuntimeError("the Zalo OA channel has no token/window store")
        return self.store

    # ----------------------------------------------------------------- lifecycle

    async def start(self, deliver: Deliver) -> None:
        """Nothing to poll: events arrive at the webhook. Load (or seed) the token pair."""
        if self.config.access_token or self.store is not None:
            try:
                await self._current_token()
            except Exception:
                log.exception("zalo_oa: could not load the access token; sending will fail")
        log.info("zalo_oa: webhook at %s for OA %s", WEBHOOK_PATH, self.config.account)

    async def stop(self) -> None:
        self._stopped = True
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self.store is not None:
            await self.store.close()

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[aiohttp.ClientSession]:
        """The shared HTTP session; after stop() (a send finishing during shutdown) a
        temporary one that is closed right after."""
        timeout = aiohttp.ClientTimeout(total=15)
        if self._stopped:
            async with aiohttp.ClientSession(timeout=timeout) as temporary:
                yield temporary
            return
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=timeout)
        yield self._http

    # ----------------------------------------------------------------- webhook

    def setup_web(self, app: web.Application, deliver: Deliver) -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self.on_webhook(request, deliver)

        app.router.add_post(WEBHOOK_PATH, handler)

    async def on_webhook(self, request: web.Request, deliver: Deliver) -> web.StreamResponse:
        """Verify, record (deliver), answer. Processing continues after the answer."""
        raw = await request.read()
        given = request.headers.get(SIGNATURE_HEADER, "").strip()
        if not given:
            log.warning("zalo_oa webhook: request from %s without a signature", request.remote)
            return web.Response(status=401, text="missing signature")
        # The signature is checked before the body is parsed: the timestamp it covers is read
        # from the raw bytes, and the parsed body must carry the same one afterwards.
        # (Every "timestamp" in the body is tried, at most a few: one of them is the top level's.)
        timestamp = next(
            (
                ts
                for ts in [m.group(1).decode("ascii") for m in _TIMESTAMP.finditer(raw)][:4]
                if hmac.compare_digest(
                    given.encode(),
                    signature(self.config.app_id, raw, ts, self.config.secret_key).encode(),
                )
            ),
            None,
        )
        if timestamp is None:
            header_ts = request.headers.get(TIMESTAMP_HEADER, "")
            variant = signature(self.config.app_id, raw, header_ts, self.config.secret_key)
            log.warning(
                "zalo_oa webhook: forged or wrong signature from %s; header-timestamp variant %s",
                request.remote,
                "matches"
                if header_ts and hmac.compare_digest(given.encode(), variant.encode())
                else "no match",
            )
            return web.Response(status=401, text="bad signature")
        try:
            data = parse_json_body(raw)
            if not isinstance(data, dict) or str(data.get("timestamp", "")) != timestamp:
                raise BadBody("not an object with the signed timestamp")
        except BadBody:
            log.warning("zalo_oa webhook: unreadable body from %s refused", request.remote)
            return web.Response(status=400, text="bad body")
        at = event_time(data)
        now = self._clock()
        if at is None or now - at > self.config.max_age or at - now > MAX_SKEW:
            log.warning(
                "zalo_oa webhook: stale or undated event %s from %s refused (timestamp %r)",
                str(data.get("event_name", "?"))[:40],
                request.remote,
                timestamp[:20],
            )
            return web.Response(status=401, text="stale event")
        inbound = event_to_inbound(data, raw)
        if inbound is not None:  # Zalo's millisecond timestamp orders the person's events
            inbound = dataclasses.replace(inbound, sequence=int(at.timestamp() * 1000))
        if inbound is None:
            return web.json_response({"error": 0, "message": "ignored"})
        oa = _id(data.get("recipient")) or str(data.get("oa_id") or "")
        if self.config.oa_id and oa and oa != self.config.oa_id:
            log.warning("zalo_oa webhook: event for another OA (%s) ignored", oa)
            return web.json_response({"error": 0, "message": "ignored"})
        try:
            if self.store is not None and is_number(inbound):
                numbered = await self.store.numbered_for(self.config.account, inbound.user_id)
                inbound = map_number(inbound, numbered)
            await deliver(inbound)
        except Exception:
            log.exception("zalo_oa webhook: recording %s failed", inbound.dedupe_key)
            return web.Response(status=500, text="retry later")
        return web.json_response({"error": 0, "message": "ok"})

    # ----------------------------------------------------------------- sending

    async def send(self, out: Outgoing) -> Receipt:
        """Render, take reply slots, call the API; never raises for platform errors."""
        try:
            rendered = render(out.content)
        except CannotRender as e:
            log.error("zalo_oa: cannot send %s: %s", type(out.content).__name__, e)
            return Receipt(ok=False, error=f"zalo_oa cannot show this: {e}")
        user = out.address.chat_id
        lock = self._user_locks.get(user)
        if lock is None:
            lock = self._user_locks[user] = asyncio.Lock()
        async with lock:
            try:
                return await self._send_rendered(out, rendered)
            except (aiohttp.ClientError, TimeoutError) as e:
                log.warning("zalo_oa: network error sending to %s: %r", user, e)
                return Receipt(ok=False, error=f"zalo_oa network error: {e!r}")

    async def _send_rendered(self, out: Outgoing, rendered: Rendered) -> Receipt:
        store = self._store()
        user = out.address.chat_id
        content = content_to_json(out.content)
        now = self._clock()
        parts = len(rendered.bodies)
        slot = await store.reserve(
            self.config.account, user, parts, now,
            numbered=rendered.numbered, content=content, tag=out.tag,
        )  # fmt: skip
        if slot.reason == "held_first":
            await self._deliver_held(user)
            slot = await store.reserve(
                self.config.account, user, parts, self._clock(),
                numbered=rendered.numbered, content=content, tag=out.tag, held_first=False,
            )  # fmt: skip
        if not slot.ok:
            if slot.reason == "already_delivered":
                return Receipt(ok=True, extra={"delivered_from_queue": "yes"})
            return await self._hold(out, content, slot.reason or "window_closed")
        ids: list[str] = []
        for index, body in enumerate(rendered.bodies):
            try:
                ids.append(await self._post(slot.message_id, user, body))
            except ZaloOAError as e:
                await store.release(self.config.account, user, parts - index)
                if e.code in WINDOW_ERRORS:
                    return await self._hold(out, content, f"refused_{e.code}")
                log.warning("zalo_oa: sending to %s failed: %s", user, e)
                return Receipt(ok=False, error=str(e), extra={"message_ids": ",".join(ids)})
        return Receipt(message_id=ids[0], extra={"message_ids": ",".join(ids)})

    async def _hold(self, out: Outgoing, content: dict[str, Any], reason: str) -> Receipt:
        """Queue what may not be sent now and say so loudly: never drop a message silently."""
        user = out.address.chat_id
        held = await self._store().hold(
            self.config.account, user, content, out.tag, reason, self._clock()
        )
        explanation = {
            "window_closed": "more than 48 hours since the worker's last message",
            "quota_used": "the 8 free replies of the 48-hour window are used",
        }.get(reason, f"Zalo refused the reply ({reason})")
        log.warning(
            "zalo_oa: message to worker %s NOT sent: %s; held as zalo_oa_undelivered #%d, "
            "it goes out when the worker writes again (tag %s)",
            user,
            explanation,
            held,
            out.tag,
        )
        return Receipt(
            ok=False,
            error=(
                f"zalo_oa not sent: {explanation}; held as zalo_oa_undelivered #{held} "
                "until the worker writes again"
            ),
            extra={"held_id": str(held), "reason": reason, "final": "yes"},
            status=SendStatus.HELD,
        )

    async def _deliver_held(self, user: str) -> None:
        """The worker is back: send what was held for them, oldest first, while slots last."""
        store = self._store()
        for held in await store.held_for(self.config.account, user):
            try:
                rendered = render(content_from_json(held.content))
            except (CannotRender, KeyError, TypeError) as e:
                log.error("zalo_oa: held message #%d cannot be rendered: %s", held.id, e)
                continue
            slot = await store.reserve(
                self.config.account, user, len(rendered.bodies), self._clock(),
                numbered=rendered.numbered, held_first=False,
            )  # fmt: skip
            if not slot.ok:
                return
            try:
                for body in rendered.bodies:
                    await self._post(slot.message_id, user, body)
            except ZaloOAError as e:
                log.warning("zalo_oa: held message #%d still not delivered: %s", held.id, e)
                return
            await store.mark_delivered(held.id, self._clock())
            log.info("zalo_oa: held message #%d delivered to %s", held.id, user)

    async def _post(self, message_id: str | None, user: str, body: dict[str, Any]) -> str:
        """One consultation message; refreshes the token once on -216. Returns the message id."""
        by_message = message_id and not message_id.startswith(FOLLOW_MARKER)
        recipient = {"message_id": message_id} if by_message else {"user_id": user}
        token = await self._current_token()
        for attempt in (1, 2):
            try:
                message = await self._with_upload(body, token)
            except ZaloOAError as e:
                if e.code == TOKEN_EXPIRED and attempt == 1:
                    log.info("zalo_oa: access token expired (-216) on upload; refreshing")
                    token = await self._refresh(token)
                    continue
                raise
            payload = {"recipient": recipient, "message": message}
            reply = await self._call_api("/v3.0/oa/message/cs", token, payload)
            code = int(reply.get("error", 0) or 0)
            if code == 0:
                data = reply.get("data") or {}
                return str(data.get("message_id") or "")
            if code == TOKEN_EXPIRED and attempt == 1:
                log.info("zalo_oa: access token expired (-216); refreshing")
                token = await self._refresh(token)
                continue
            raise ZaloOAError(code, str(reply.get("message", "")))
        raise AssertionError("unreachable")

    async def _with_upload(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        """The body as sent: a photo in it is uploaded and replaced by its attachment id."""
        photo = body.get(IMAGE_KEY)
        if not isinstance(photo, Photo):
            return body
        return media_message(body, await self._upload_image(photo, token))

    async def _upload_image(self, photo: Photo, token: str) -> str:
        """``POST /v2.0/oa/upload/image``; the ``attachment_id`` Zalo gives the image."""
        kind = "image/jpeg" if photo.data[:3] == b"\xff\xd8\xff" else "image/png"
        form = aiohttp.FormData()
        form.add_field("file", photo.data, filename=photo.filename, content_type=kind)
        async with (
            self._client() as client,
            client.post(
                self.config.api_base + UPLOAD_IMAGE_PATH, data=form, headers={"access_token": token}
            ) as resp,
        ):
            if resp.status >= 500:
                raise ZaloOAError(resp.status, f"upload HTTP {resp.status}")
            try:
                reply = await resp.json(content_type=None)
            except (ValueError, aiohttp.ContentTypeError) as e:
                raise ZaloOAError(resp.status, f"unreadable upload reply: {e}") from e
        if not isinstance(reply, dict):
            raise ZaloOAError(resp.status, "unreadable upload reply")
        code = int(reply.get("error", 0) or 0)
        found = (reply.get("data") or {}).get("attachment_id") if code == 0 else None
        if not found:
            raise ZaloOAError(code or -1, f"upload refused: {reply.get('message', '')}")
        return str(found)

    async def _call_api(self, path: str, token: str, payload: dict[str, Any]) -> dict[str, Any]:
        async with (
            self._client() as client,
            client.post(
                self.config.api_base + path,
                json=payload,
                headers={"access_token": token},
            ) as resp,
        ):
            if resp.status >= 500:
                raise ZaloOAError(resp.status, f"HTTP {resp.status}")
            try:
                reply = await resp.json(content_type=None)
            except (ValueError, aiohttp.ContentTypeError) as e:
                raise ZaloOAError(resp.status, f"unreadable reply: {e}") from e
        if not isinstance(reply, dict):
            raise ZaloOAError(resp.status, "unreadable reply")
        return reply

    # ----------------------------------------------------------------- tokens

    async def _current_token(self) -> str:
        """The access token, refreshed first when it expires within five minutes."""
        if self._token is None:
            async with self._token_lock:
                if self._token is None:
                    self._token = await self._load_token()
        if self._token.expires_at - self._clock() < REFRESH_MARGIN:
            return await self._refresh(self._token.access_token)
        return self._token.access_token

    async def _load_token(self) -> _Token:
        store = self._store()
        found = await store.load_tokens(self.config.account)
        if found is None:
            if not self.config.access_token:
                raise ZaloOAError(0, "no access token: set ZALO_OA_ACCESS_TOKEN")
            found = await store.seed_tokens(
                self.config.account,
                self.config.access_token,
                self.config.refresh_token,
                self._clock() + SEEDED_LIFETIME,
            )
        return _Token(found.access_token, found.expires_at)

    async def _refresh(self, stale: str) -> str:
        """Rotate the pair once per stale token, across tasks (lock) and processes (store)."""
        async with self._token_lock:
            if self._token is not None and self._token.access_token != stale:
                return self._token.access_token
            fresh = await self._store().rotate_tokens(
                self.config.account, stale, self._call_refresh, self._clock()
            )
            self._token = _Token(fresh.access_token, fresh.expires_at)
            return fresh.access_token

    async def _call_refresh(self, refresh_token: str) -> tuple[str, str, int]:
        """POST /v4/oa/access_token; returns (access, refresh, expires_in seconds)."""
        if not refresh_token or not self.config.app_secret:
            raise ZaloOAError(0, "cannot refresh: set ZALO_OA_REFRESH_TOKEN and ZALO_APP_SECRET")
        async with (
            self._client() as client,
            client.post(
                self.config.oauth_base + "/v4/oa/access_token",
                data={
                    "refresh_token": refresh_token,
                    "app_id": self.config.app_id,
                    "grant_type": "refresh_token",
                },
                headers={"secret_key": self.config.app_secret},
            ) as resp,
        ):
            reply = await resp.json(content_type=None)
        if not isinstance(reply, dict) or not reply.get("access_token"):
            detail = reply if isinstance(reply, dict) else {}
            log.error(
                "zalo_oa: token refresh refused (%s %s); re-authorise the OA and set a new "
                "ZALO_OA_REFRESH_TOKEN",
                detail.get("error"),
                detail.get("error_description") or detail.get("message"),
            )
            raise ZaloOAError(
                int(detail.get("error") or 0), str(detail.get("error_description") or "refused")
            )
        return (
            str(reply["access_token"]),
            str(reply["refresh_token"]),
            int(str(reply.get("expires_in") or 3600)),
        )
