"""Zalo Bot Platform: the Telegram-like token API, text only (../shared/PLATFORMS.md §2).

A thin aiohttp client: ``{api_base}/bot<token>/<method>`` with JSON bodies, replies shaped
``{ok, result, description, error_code}``.

Receiving. Production uses the webhook ``POST /webhooks/zalo-bot``: Zalo sends the secret given
to ``setWebhook`` in ``X-Bot-Api-Secret-Token``; it is compared in constant time and a mismatch
is answered 403 and logged. Bodies come wrapped (``{"ok": true, "result": {...}}``) or bare
(``{"event_name", "message"}``); both are accepted. The event is recorded by ``deliver``
(App.ingest) before the 200 answer. Development uses ``getUpdates`` long polling (webhook and
polling exclude each other); an idle poll ends with HTTP 408, which is normal. There is no
``update_id`` and no offset: duplicates are recognised by ``zalo_bot:<message_id>``.

Events: ``message.text.received`` is text or a ``/command``; ``message.image.received`` is media
(the photo URL); stickers and ``message.unsupported.received`` (protected users: children,
people with disabilities, whose content the platform withholds) are UNSUPPORTED, which the bot
answers with the plain menu text.

Sending: ``sendMessage(chat_id, text)`` only. No buttons: choices are a numbered list and the
engine maps a typed number ("1", "số 1", " 1 ") back to the option. Text longer than 2,000
characters is split at sentence boundaries. A 429 is honoured (``retry_after`` when given, else
a short back-off) and retried; the bot cannot message anyone who has not written to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

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
    plausible_id,
)
from bot.core.wording import for_typing, numbered_list

log = logging.getLogger(__name__)

CHANNEL = "zalo_bot"
WEBHOOK_PATH = "/webhooks/zalo-bot"
SECRET_HEADER = "X-Bot-Api-Secret-Token"
DEFAULT_API_BASE = "https://bot-api.zaloplatforms.com"
MAX_TEXT = 2000
SEND_ATTEMPTS = 3
_COMMAND = re.compile(r"/([A-Za-z0-9_]{1,64})(?:\s+(.*))?", re.DOTALL)

Sleep = Callable[[float], Awaitable[None]]


class ZaloBotError(Exception):
    def __init__(self, code: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(f"Zalo Bot error {code}: {description}")
        self.code = code
        self.description = description
        self.retry_after = retry_after


# --------------------------------------------------------------------------- update -> Inbound


def unwrap(body: Any) -> list[dict[str, Any]]:
    """The updates in a webhook body or a getUpdates result: wrapped, bare, or a list."""
    if isinstance(body, dict) and "result" in body and "event_name" not in body:
        body = body["result"]
    if isinstance(body, list):
        return [u for u in body if isinstance(u, dict)]
    return [body] if isinstance(body, dict) and body.get("event_name") else []


def update_to_inbound(update: Mapping[str, Any]) -> Inbound | None:
    """The neutral record for one update, or None for what the bot ignores (its own messages)."""
    message = update.get("message")
    if not isinstance(message, dict):
        return None
    sender = message.get("from") if isinstance(message.get("from"), dict) else {}
    chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
    user = str(sender.get("id") or "")
    chat_id = str(chat.get("id") or user)
    if not plausible_id(user) or not plausible_id(chat_id) or sender.get("is_bot"):
        return None
    msg_id = str(message.get("message_id") or "") or None
    raw = json.dumps(update, sort_keys=True, ensure_ascii=False).encode()
    base: dict[str, Any] = {
        "address": Address(CHANNEL, chat_id),
        "user_id": user,
        "dedupe_key": f"{CHANNEL}:{msg_id or hashlib.sha256(raw).hexdigest()}",
        "display_name": clean_text(str(sender.get("display_name") or ""), NAME_LIMIT) or "",
        "message_id": msg_id,
        "chat_type": "group" if str(chat.get("chat_type", "")).upper() == "GROUP" else "private",
    }
    event = str(update.get("event_name", ""))
    if event == "message.text.received":
        text = clean_text(str(message.get("text") or "")) or ""
        command = _COMMAND.fullmatch(text.strip())
        if command is None:
            return Inbound(kind=Kind.TEXT, text=text, **base)
        name, args = command.groups()
        return Inbound(
            kind=Kind.COMMAND, text=text, command=name.lower(), args=(args or "").strip(), **base
        )
    if event == "message.image.received":
        photo = message.get("photo_url") or message.get("photo") or ""
        urls = (str(photo),) if isinstance(photo, str) and photo else ()
        caption = clean_text(str(message.get("caption") or "")) or ""
        return Inbound(kind=Kind.MEDIA, text=caption, media=urls, **base)
    return Inbound(kind=Kind.UNSUPPORTED, **base)


def render_text(content: Content) -> str:
    """Everything becomes plain text; choices become the numbered list the engine maps back."""
    if isinstance(content, Choices | RequestContact):
        if content.options:
            return numbered_list(content.text, content.options)
        return for_typing(content.text)
    if isinstance(content, Text | RemoveKeyboard):
        return for_typing(content.text)  # no buttons on the Zalo Bot: "bấm" reads "chọn"
    if isinstance(content, Photo | RelayCopy):
        return content.caption
    if isinstance(content, CreateTopic):
        return ""
    raise TypeError(f"unknown content {type(content).__name__}")


# --------------------------------------------------------------------------- the channel


class ZaloBotChannel(Channel):
    name = CHANNEL
    capabilities = Capabilities(
        buttons=False, max_text=MAX_TEXT, can_message_first=False, photos=False
    )

    def __init__(
        self,
        token: str,
        *,
        api_base: str = DEFAULT_API_BASE,
        secret: str | None = None,
        webhook_url: str | None = None,
        poll_timeout: int = 30,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not token:
            raise ValueError("the Zalo Bot channel needs ZALO_BOT_TOKEN")
        if secret is not None and not 8 <= len(secret) <= 256:
            raise ValueError("ZALO_BOT_SECRET must be 8-256 characters")
        self.token = token
        self.api_base = api_base.rstrip("/")
        self.secret = secret
        self.webhook_url = webhook_url
        # With a secret the bot is served by webhook (the shared web app); without, it polls.
        self.uses_webhook = secret is not None
        self.poll_timeout = poll_timeout
        self._sleep = sleep
        self._http: aiohttp.ClientSession | None = None
        self._stopped = False
        self._poller: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, extra: Mapping[str, Any]) -> ZaloBotChannel:
        """Build from settings.extra (the ZALO_BOT_* environment variables, lower-cased)."""
        return cls(
            str(extra.get("zalo_bot_token") or ""),
            api_base=str(extra.get("zalo_bot_api_base") or DEFAULT_API_BASE),
            secret=str(extra["zalo_bot_secret"]) if extra.get("zalo_bot_secret") else None,
            webhook_url=str(extra.get("zalo_bot_webhook_url") or "") or None,
        )

    # ----------------------------------------------------------------- lifecycle

    async def start(self, deliver: Deliver) -> None:
        """Webhook mode: register the URL when one is configured. Otherwise poll."""
        if self.uses_webhook:
            if self.webhook_url:
                try:
                    await self.call(
                        "setWebhook", url=self.webhook_url, secret_token=self.secret or ""
                    )
                    log.info("zalo_bot: webhook set to %s", self.webhook_url)
                except (ZaloBotError, aiohttp.ClientError, TimeoutError) as e:
                    log.error("zalo_bot: setWebhook failed: %s", e)
            return
        with contextlib.suppress(ZaloBotError, aiohttp.ClientError, TimeoutError):
            await self.call("deleteWebhook")
        self._poller = asyncio.create_task(self._poll(deliver))
        log.info("zalo_bot: polling getUpdates (development mode)")

    async def stop(self) -> None:
        self._stopped = True
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[aiohttp.ClientSession]:
        """The shared HTTP session; after stop() (a send finishing during shutdown) a
        temporary one that is closed right after."""
        if self._stopped:
            async with aiohttp.ClientSession() as temporary:
                yield temporary
            return
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        yield self._http

    async def _poll(self, deliver: Deliver) -> None:
        """Long poll forever; 408 means "nothing new", errors back off up to 30 seconds."""
        backoff = 1.0
        while True:
            try:
                result = await self.call(
                    "getUpdates", timeout=self.poll_timeout, _wait=self.poll_timeout + 10
                )
            except ZaloBotError as e:
                if e.code == 408:
                    backoff = 1.0
                    continue
                log.warning("zalo_bot: getUpdates failed: %s", e)
                await self._sleep(backoff)
                backoff = min(30.0, backoff * 2)
                continue
            except (aiohttp.ClientError, TimeoutError) as e:
                log.warning("zalo_bot: getUpdates network error: %r", e)
                await self._sleep(backoff)
                backoff = min(30.0, backoff * 2)
                continue
            backoff = 1.0
            for update in unwrap(result):
                inbound = update_to_inbound(update)
                if inbound is None:
                    continue
                try:
                    await deliver(inbound)
                except Exception:
                    log.exception("zalo_bot: delivery of %s failed", inbound.dedupe_key)

    # ----------------------------------------------------------------- webhook

    def setup_web(self, app: web.Application, deliver: Deliver) -> None:
        if not self.uses_webhook:
            return

        async def handler(request: web.Request) -> web.StreamResponse:
            return await self.on_webhook(request, deliver)

        app.router.add_post(WEBHOOK_PATH, handler)

    async def on_webhook(self, request: web.Request, deliver: Deliver) -> web.StreamResponse:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), (self.secret or "").encode()):
            log.warning(
                "zalo_bot webhook: rejected a request from %s with %s secret token",
                request.remote,
                "a wrong" if given else "no",
            )
            return web.Response(status=403, text="forbidden")
        try:
            body = parse_json_body(await request.read())
        except BadBody:
            log.warning("zalo_bot webhook: unreadable body refused")
            return web.Response(status=400, text="bad body")
        for update in unwrap(body):
            inbound = update_to_inbound(update)
            if inbound is None:
                continue
            try:
                await deliver(inbound)
            except Exception:
                log.exception("zalo_bot webhook: recording %s failed", inbound.dedupe_key)
                return web.Response(status=500, text="retry later")
        return web.json_response({"ok": True})

    # ----------------------------------------------------------------- sending

    async def send(self, out: Outgoing) -> Receipt:
        text = render_text(out.content)
        if not text.strip():
            kind = type(out.content).__name__
            log.error("zalo_bot: %s cannot be shown on the Zalo Bot Platform", kind)
            return Receipt(ok=False, error=f"zalo_bot cannot show {kind}")
        ids: list[str] = []
        try:
            for part in split_text(text, MAX_TEXT):
                result = await self._send_part(out.address.chat_id, part)
                ids.append(str((result or {}).get("message_id") or ""))
        except ZaloBotError as e:
            log.warning("zalo_bot: sendMessage to %s failed: %s", out.address.chat_id, e)
            limited = e.code == 429
            return Receipt(
                ok=False,
                error="rate_limited" if limited else str(e),
                extra={"message_ids": ",".join(ids)},
                status=SendStatus.RATE_LIMITED if limited else SendStatus.FAILED,
            )
        except (aiohttp.ClientError, TimeoutError) as e:
            log.warning("zalo_bot: network error sending to %s: %r", out.address.chat_id, e)
            return Receipt(ok=False, error=f"zalo_bot network error: {e!r}")
        return Receipt(message_id=ids[0], extra={"message_ids": ",".join(ids)})

    async def _send_part(self, chat_id: str, text: str) -> Any:
        """sendMessage, waiting out a 429 (retry_after when given) up to SEND_ATTEMPTS times."""
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                return await self.call("sendMessage", chat_id=chat_id, text=text)
            except ZaloBotError as e:
                if e.code != 429 or attempt == SEND_ATTEMPTS:
                    raise
                wait = e.retry_after if e.retry_after is not None else float(2 ** (attempt - 1))
                log.warning("zalo_bot: 429 for chat %s, waiting %.1fs", chat_id, wait)
                await self._sleep(min(wait, 60.0))
        raise AssertionError("unreachable")

    async def call(self, method: str, *, _wait: float = 15, **params: Any) -> Any:
        """One API method; returns ``result`` or raises ZaloBotError with the error code."""
        url = f"{self.api_base}/bot{self.token}/{method}"
        async with (
            self._client() as client,
            client.post(url, json=params, timeout=aiohttp.ClientTimeout(total=_wait)) as resp,
        ):
            try:
                reply = await resp.json(content_type=None)
            except (ValueError, aiohttp.ContentTypeError):
                reply = None
            retry_header = resp.headers.get("Retry-After")
        if isinstance(reply, dict) and reply.get("ok"):
            return reply.get("result")
        detail = reply if isinstance(reply, dict) else {}
        code = int(detail.get("error_code") or resp.status)
        parameters = detail.get("parameters") if isinstance(detail.get("parameters"), dict) else {}
        retry_after = parameters.get("retry_after") or retry_header
        raise ZaloBotError(
            code,
            str(detail.get("description") or f"HTTP {resp.status}"),
            float(retry_after) if retry_after is not None else None,
        )
