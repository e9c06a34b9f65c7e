"""Telegram through aiogram 3, used as transport only.

aiogram fetches updates (long polling) and makes the HTTP calls; one catch-all router turns every
update into an ``Inbound`` and hands it to ``deliver``; ``send`` renders ``Outgoing`` items as Bot
API calls. No handler logic lives here (../shared/DESIGN.md, "Channels").

Ordering and acknowledgement. In polling mode updates are delivered one chat after another in
the order Telegram sent them, different chats concurrently; the next ``getUpdates`` (which
confirms the previous batch to Telegram) waits until every delivery of the batch has returned,
so an update is confirmed only after ``deliver`` has recorded it. In webhook mode the HTTP answer
is sent only after ``deliver`` returned: 200 when it succeeded, 500 (Telegram retries) when not.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError, TelegramRetryAfter
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
    Update,
    User,
)
from aiohttp import web
from pydantic import ValidationError

from bot.channels.base import (
    Capabilities,
    Channel,
    Deliver,
    SendMark,
    parse_json_body,
    split_text,
)
from bot.channels.throttle import Limiter, Throttle
from bot.core.events import (
    NAME_LIMIT,
    Address,
    Choice,
    Choices,
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
    TryLater,
    clean_text,
)

log = logging.getLogger(__name__)

CHANNEL = "telegram"
WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_BYTES = 64
MAX_TOPIC_NAME = 128
SEND_ATTEMPTS = 3
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
BOT_COMMANDS = (
    ("start", "Bắt đầu và xem menu chính"),
    ("menu", "Mở menu chính"),
    ("huy", "Hủy việc đang làm dở"),
    ("trogiup", "Xem hướng dẫn sử dụng"),
)
# Shown above the option buttons that accompany a share-contact keyboard: a reply keyboard and
# an inline keyboard cannot be attached to the same message.
OPTIONS_PROMPT = "Hoặc bạn chọn:"

# The mark of the send in progress in this task (``send_marked``), told around each API call.
_MARK: contextvars.ContextVar[SendMark | None] = contextvars.ContextVar("mark", default=None)
_CHAT_TYPES = frozenset({"private", "group", "supergroup"})
_COMMAND = re.compile(r"/([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9_]{1,64}))?(?:\s+(.*))?", re.DOTALL)
# Things people send that the bot cannot read; they get a polite "please type" reply upstream.
_UNSUPPORTED = frozenset(
    {
        "animation",
        "audio",
        "live_photo",
        "paid_media",
        "sticker",
        "story",
        "video",
        "video_note",
        "voice",
        "checklist",
        "dice",
        "game",
        "poll",
        "venue",
        "location",
        "users_shared",
        "user_shared",
        "chat_shared",
        "web_app_data",
        "rich_message",
        "giveaway",
        "invoice",
    }
)


# --------------------------------------------------------------------------- updates -> Inbound


def update_to_inbound(update: Update, bot_username: str | None) -> Inbound | None:
    """The neutral record for one update, or None for updates the bot ignores.

    Messages (and edits) from people in private chats, groups and supergroups, and button
    presses, become ``Inbound``; service messages, channel posts, bots and membership changes
    (``my_chat_member`` ...) are ignored. ``/cmd@otherbot`` is ignored too: it is not for us.
    """
    key = f"{CHANNEL}:{update.update_id}"
    inbound: Inbound | None = None
    if update.callback_query is not None:
        inbound = _from_callback(update.callback_query, key)
    elif update.message is not None:
        inbound = _from_message(update.message, key, False, bot_username)
    elif update.edited_message is not None:
        inbound = _from_message(update.edited_message, key, True, bot_username)
    # Update ids grow in the order Telegram made the updates: the person's order.
    return dataclasses.replace(inbound, sequence=update.update_id) if inbound else None


def _from_message(
    message: Message, key: str, edited: bool, bot_username: str | None
) -> Inbound | None:
    user = message.from_user
    chat = message.chat
    if user is None or user.is_bot or chat.type not in _CHAT_TYPES:
        return None
    base: dict[str, Any] = {
        "address": Address(CHANNEL, str(chat.id), _thread_id(message)),
        "user_id": str(user.id),
        "dedupe_key": key,
        "display_name": _display_name(user),
        "message_id": str(message.message_id),
        "chat_type": chat.type,
        "edited": edited,
        "reply_to": _reply_to(message),
    }
    if message.text is not None:
        text = clean_text(message.text) or ""
        command = _COMMAND.fullmatch(text.strip())
        if command is None:
            return Inbound(kind=Kind.TEXT, text=text, **base)
        name, target, args = command.groups()
        if target and bot_username and target.lower() != bot_username.lower():
            return None
        return Inbound(
            kind=Kind.COMMAND, text=text, command=name.lower(), args=(args or "").strip(), **base
        )
    caption = clean_text(message.caption) or ""
    if message.contact is not None:
        contact = message.contact
        if contact.user_id is not None and contact.user_id != user.id:
            return Inbound(kind=Kind.UNSUPPORTED, **base)  # someone else's card, not a phone share
        return Inbound(kind=Kind.CONTACT, phone=contact.phone_number, **base)
    if message.photo:
        return Inbound(kind=Kind.MEDIA, text=caption, media=(message.photo[-1].file_id,), **base)
    if message.document is not None and message.animation is None:
        return Inbound(kind=Kind.MEDIA, text=caption, media=(message.document.file_id,), **base)
    content_type = getattr(message.content_type, "value", message.content_type)
    if content_type in _UNSUPPORTED or (content_type == "unknown" and chat.type == "private"):
        return Inbound(kind=Kind.UNSUPPORTED, text=caption, **base)
    return None


def _from_callback(query: CallbackQuery, key: str) -> Inbound | None:
    message = query.message
    if message is None or query.data is None or message.chat.type not in _CHAT_TYPES:
        return None
    thread = _thread_id(message) if isinstance(message, Message) else None
    return Inbound(
        address=Address(CHANNEL, str(message.chat.id), thread),
        user_id=str(query.from_user.id),
        kind=Kind.BUTTON,
        dedupe_key=key,
        display_name=_display_name(query.from_user),
        payload=clean_text(query.data),
        message_id=str(message.message_id),
        chat_type=message.chat.type,
    )


def _thread_id(message: Message) -> str | None:
    """Forum topics only: in ordinary supergroups message_thread_id marks reply threads."""
    if message.is_topic_message and message.message_thread_id is not None:
        return str(message.message_thread_id)
    return None


def _reply_to(message: Message) -> str | None:
    """The message a person replied to; not the implicit reply to a forum topic's first message."""
    original = message.reply_to_message
    if original is None or original.forum_topic_created is not None:
        return None
    if message.is_topic_message and original.message_id == message.message_thread_id:
        return None
    return str(original.message_id)


def _display_name(user: User) -> str:
    name = " ".join(p for p in (user.first_name, user.last_name) if p)
    return clean_text(name, NAME_LIMIT) or ""


# --------------------------------------------------------------------------- ordered delivery


class _Lanes:
    """Run work for one chat strictly in submission order; different chats run concurrently."""

    def __init__(self) -> None:
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, key: str, work: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.create_task(self._run(self._tails.get(key), work))
        self._tails[key] = task
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._done, key))

    @staticmethod
    async def _run(
        previous: asyncio.Task[None] | None, work: Callable[[], Awaitable[None]]
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        await work()

    def _done(self, key: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._tails.get(key) is task:
            del self._tails[key]

    @property
    def busy(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.wait(list(self._tasks))


# --------------------------------------------------------------------------- the channel


class TelegramChannel(Channel):
    """The Telegram adapter: polling or webhook in, rate-limited Bot API calls out."""

    name = CHANNEL
    capabilities = Capabilities(
        buttons=True,
        max_text=MAX_TEXT,
        can_message_first=True,
        request_contact=True,
        topics=True,
    )

    def __init__(
        self,
        token: str,
        *,
        api_base: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        poll_timeout: int = 30,
        throttle: Limiter | None = None,
    ) -> None:
        if webhook_url and not webhook_secret:
            raise ValueError("a Telegram webhook needs a secret (TELEGRAM_WEBHOOK_SECRET)")
        session = (
            AiohttpSession(api=TelegramAPIServer.from_base(api_base))
            if api_base
            else AiohttpSession()
        )
        session.middleware(self._confirm_gate)
        self.bot = Bot(token, session=session)
        self.webhook_url = webhook_url
        self._secret = webhook_secret or ""
        self._poll_timeout = poll_timeout
        self._throttle = throttle or Throttle()
        self._username: str | None = None
        self._deliver: Deliver | None = None
        self._dispatcher: Dispatcher | None = None
        self._polling: asyncio.Task[None] | None = None
        self._lanes = _Lanes()
        self._stopping = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()

    @property
    def username(self) -> str | None:
        """The bot's username, read from ``getMe`` when the channel starts (for invite links,
        so only the token needs setting)."""
        return self._username

    @property
    def throttle(self) -> Limiter:
        """The outbound pace (shared through Redis or this process's own)."""
        return self._throttle

    @property
    def uses_webhook(self) -> bool:
        """True when updates arrive by webhook, so the app must serve its HTTP application."""
        return bool(self.webhook_url)

    @property
    def redelivers_until_confirmed(self) -> bool:  # type: ignore[override]
        """Polling confirms an update (offset) only after delivery returned."""
        return not self.webhook_url

    # ----------------------------------------------------------------- receiving

    async def start(self, deliver: Deliver) -> None:
        """Learn the bot's username, publish the command menu, then poll or set the webhook."""
        self._deliver = deliver
        me = await self.bot.me()
        self._username = me.username
        await self._publish_commands()
        if self.webhook_url:
            await self.bot.set_webhook(
                self.webhook_url,
                secret_token=self._secret,
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
            )
            log.info("telegram: webhook set for @%s", self._username)
            return
        await self.bot.delete_webhook(drop_pending_updates=False)
        router = Router(name="congdoan-transport")
        router.message.register(self._on_update)
        router.edited_message.register(self._on_update)
        router.callback_query.register(self._on_update)
        self._dispatcher = Dispatcher()
        self._dispatcher.include_router(router)
        self._polling = asyncio.create_task(
            self._dispatcher.start_polling(
                self.bot,
                polling_timeout=self._poll_timeout,
                handle_as_tasks=False,
                handle_signals=False,
                close_bot_session=False,
                allowed_updates=ALLOWED_UPDATES,
            )
        )
        log.info("telegram: polling as @%s", self._username)

    async def stop(self) -> None:
        """Stop polling, let deliveries in progress finish, close the HTTP session."""
        if self._polling is not None and self._dispatcher is not None:
            with contextlib.suppress(RuntimeError):
                await asyncio.wait_for(self._dispatcher.stop_polling(), 10)
            if not self._polling.done():
                self._polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._polling
            self._polling = None
        self._stopping.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._lanes.drain(), 30)
        if self._background:
            await asyncio.wait(list(self._background), timeout=5)
        await self.bot.session.close()
        await self._throttle.close()

    async def _on_update(self, event: object, event_update: Update) -> None:
        """The one catch-all handler: convert, answer a button press at once, queue delivery."""
        if event_update.callback_query is not None:
            self._answer_callback_soon(event_update.callback_query.id)
        inbound = update_to_inbound(event_update, self._username)
        if inbound is None or self._deliver is None:
            return
        deliver = self._deliver
        self._lanes.submit(
            inbound.address.chat_id,
            functools.partial(_guarded, deliver, inbound, self._stopping),
        )

    async def _confirm_gate(
        self, make_request: Callable[..., Awaitable[Any]], bot: Bot, method: TelegramMethod[Any]
    ) -> Any:
        """Hold the next getUpdates (it confirms the last batch) until that batch is delivered."""
        if isinstance(method, GetUpdates):
            await self._lanes.drain()
        return await make_request(bot, method)

    def _answer_callback_soon(self, query_id: str) -> None:
        task = asyncio.create_task(self._answer_callback(query_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _answer_callback(self, query_id: str) -> None:
        """Stop the button's loading spinner; the reply itself comes from the engine."""
        try:
            await self.bot.answer_callback_query(query_id)
        except TelegramAPIError as e:
            log.info("telegram: could not answer callback query: %s", e.message)

    async def _publish_commands(self) -> None:
        commands = [BotCommand(command=c, description=d) for c, d in BOT_COMMANDS]
        try:
            await self.bot.set_my_commands(commands)
        except TelegramAPIError as e:
            log.warning("telegram: setMyCommands failed: %s", e.message)

    # ----------------------------------------------------------------- webhook

    def setup_web(self, app: web.Application, deliver: Deliver) -> None:
        """Webhook mode only: ``POST /webhooks/telegram`` on the shared aiohttp application."""
        if not self.webhook_url:
            return
        app.router.add_post(WEBHOOK_PATH, functools.partial(self._on_webhook, deliver))

    async def _on_webhook(self, deliver: Deliver, request: web.Request) -> web.StreamResponse:
        """Check the secret, parse, deliver (the app records the update), then answer."""
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            log.warning(
                "telegram webhook: rejected a request from %s with %s secret token",
                request.remote,
                "a wrong" if given else "no",
            )
            return web.Response(status=403, text="forbidden")
        try:
            data = parse_json_body(await request.read())
            update = Update.model_validate(data, context={"bot": self.bot})
        except (ValueError, ValidationError):
            log.warning("telegram webhook: a request body that is not an Update was refused")
            return web.Response(status=400, text="bad update")
        if update.callback_query is not None:
            self._answer_callback_soon(update.callback_query.id)
        inbound = update_to_inbound(update, self._username)
        if inbound is not None:
            try:
                await deliver(inbound)
            except Exception:
                log.exception("telegram webhook: delivery of %s failed", inbound.dedupe_key)
                return web.Response(status=500, text="retry later")
        return web.Response(text="ok")

    # ----------------------------------------------------------------- sending

    async def send(self, out: Outgoing) -> Receipt:
        """Render one item; platform errors become a failed receipt, never an exception."""
        try:
            return await self._render(out)
        except TelegramForbiddenError as e:
            log.info("telegram: chat %s is unreachable: %s", out.address.chat_id, e.message)
            return Receipt(
                ok=False,
                error="blocked",
                extra={"description": e.message},
                status=SendStatus.BLOCKED,
            )
        except TelegramRetryAfter as e:
            log.warning("telegram: still rate limited after %d tries", SEND_ATTEMPTS)
            return Receipt(
                ok=False,
                error="rate_limited",
                extra={"retry_after": str(e.retry_after)},
                status=SendStatus.RATE_LIMITED,
            )
        except TelegramAPIError as e:
            log.warning("telegram: %s failed: %s", type(out.content).__name__, e.message)
            return Receipt(ok=False, error=f"{type(e).__name__}: {e.message}")
        except (ValueError, TypeError) as e:
            log.error("telegram: cannot render %s: %s", type(out.content).__name__, e)
            return Receipt(ok=False, error=f"invalid: {e}")

    async def send_marked(self, out: Outgoing, mark: SendMark) -> Receipt:
        """``send``, marking the message under way right before each Bot API call (after the
        pace allowed it), and back when Telegram refused it with 429."""
        token = _MARK.set(mark)
        try:
            return await self.send(out)
        finally:
            _MARK.reset(token)

    async def _render(self, out: Outgoing) -> Receipt:
        content = out.content
        if isinstance(content, Text):
            return await self._send_text(out, content.text)
        if isinstance(content, Choices):
            return await self._send_text(out, content.text, self._inline(content.options))
        if isinstance(content, RequestContact):
            return await self._send_contact_request(out, content)
        if isinstance(content, RemoveKeyboard):
            return await self._send_text(
                out, content.text, ReplyKeyboardRemove(remove_keyboard=True)
            )
        if isinstance(content, Photo):
            return await self._send_photo(out, content)
        if isinstance(content, RelayCopy):
            return await self._copy(out, content)
        if isinstance(content, CreateTopic):
            return await self._create_topic(out, content)
        raise TypeError(f"unknown content {type(content).__name__}")

    async def _send_text(
        self,
        out: Outgoing,
        text: str,
        markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None = None,
    ) -> Receipt:
        """sendMessage, split at 4,096 characters; the keyboard rides on the last part."""
        if not text.strip():
            raise ValueError("Telegram cannot send an empty message")
        parts = split_text(text, MAX_TEXT)
        ids: list[str] = []
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            message = await self._call(
                out,
                lambda part=part, first=(i == 0), last=last: self.bot.send_message(
                    int(out.address.chat_id),
                    part,
                    reply_markup=markup if last else None,
                    **self._placement(out, first),
                ),
            )
            ids.append(str(message.message_id))
        return _receipt(ids, out)

    async def _send_contact_request(self, out: Outgoing, content: RequestContact) -> Receipt:
        """A share-phone keyboard (private chats only); options follow as an inline keyboard."""
        if _is_group(out.address.chat_id):
            if content.options:
                return await self._send_text(out, content.text, self._inline(content.options))
            return await self._send_text(out, content.text)
        keyboard = ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text=content.button_label, request_contact=True)]],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
        receipt = await self._send_text(out, content.text, keyboard)
        if content.options:
            follow = Outgoing(out.address, Choices(OPTIONS_PROMPT, content.options), out.tag)
            extra = await self._send_text(follow, OPTIONS_PROMPT, self._inline(content.options))
            ids = receipt.extra["message_ids"] + "," + extra.extra["message_ids"]
            receipt = Receipt(message_id=receipt.message_id, extra={"message_ids": ids})
        return receipt

    async def _send_photo(self, out: Outgoing, content: Photo) -> Receipt:
        caption = content.caption if len(content.caption) <= MAX_CAPTION else ""
        upload = BufferedInputFile(content.data, filename=content.filename)
        message = await self._call(
            out,
            lambda: self.bot.send_photo(
                int(out.address.chat_id),
                upload,
                caption=caption or None,
                **self._placement(out, True),
            ),
        )
        ids = [str(message.message_id)]
        if content.caption and not caption:  # too long for a caption: send it as text after
            rest = await self._send_text(
                Outgoing(out.address, Text(content.caption)), content.caption
            )
            ids += rest.extra["message_ids"].split(",")
        return _receipt(ids, out)

    async def _copy(self, out: Outgoing, content: RelayCopy) -> Receipt:
        caption = content.caption if len(content.caption) <= MAX_CAPTION else ""
        copied = await self._call(
            out,
            lambda: self.bot.copy_message(
                int(out.address.chat_id),
                int(content.from_chat_id),
                int(content.message_id),
                caption=caption or None,
                **self._placement(out, True),
            ),
        )
        ids = [str(copied.message_id)]
        if content.caption and not caption:
            rest = await self._send_text(
                Outgoing(out.address, Text(content.caption)), content.caption
            )
            ids += rest.extra["message_ids"].split(",")
        return _receipt(ids, out)

    async def _create_topic(self, out: Outgoing, content: CreateTopic) -> Receipt:
        name = content.name.strip()[:MAX_TOPIC_NAME]
        if not name:
            raise ValueError("a forum topic needs a name")
        topic = await self._call(
            out, lambda: self.bot.create_forum_topic(int(out.address.chat_id), name)
        )
        return Receipt(thread_id=str(topic.message_thread_id))

    def _placement(self, out: Outgoing, first: bool) -> dict[str, Any]:
        """Topic, reply target and paid broadcast; only a split message's first part replies."""
        placement: dict[str, Any] = {}
        if out.paid_broadcast:
            placement["allow_paid_broadcast"] = True
        if out.address.thread_id:
            placement["message_thread_id"] = int(out.address.thread_id)
        if first and out.reply_to:
            placement["reply_parameters"] = ReplyParameters(
                message_id=int(out.reply_to), allow_sending_without_reply=True
            )
        return placement

    @staticmethod
    def _inline(options: tuple[Choice, ...]) -> InlineKeyboardMarkup | None:
        """One button per row; payloads over Telegram's 64-byte callback limit are left out."""
        rows = []
        for option in options:
            size = len(option.payload.encode())
            if not 1 <= size <= MAX_CALLBACK_BYTES:
                log.error(
                    "telegram: button %r dropped, payload is %d bytes (limit %d)",
                    option.label,
                    size,
                    MAX_CALLBACK_BYTES,
                )
                continue
            rows.append([InlineKeyboardButton(text=option.label, callback_data=option.payload)])
        return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None

    async def _call(self, out: Outgoing, request: Callable[[], Awaitable[Any]]) -> Any:
        """Wait for the rate limiter, call, and on 429 wait ``retry_after`` and try again."""
        chat_id = out.address.chat_id
        group = _is_group(chat_id)
        mark = _MARK.get()
        for attempt in range(1, SEND_ATTEMPTS + 1):
            await self._throttle.acquire(chat_id, group=group, paid=out.paid_broadcast)
            if mark is not None:
                await mark.starting()
            try:
                result = await request()
            except TelegramRetryAfter as e:
                if mark is not None:
                    await mark.refused()
                log.warning(
                    "telegram: 429 for chat %s, retry after %ss (try %d)",
                    chat_id,
                    e.retry_after,
                    attempt,
                )
                if attempt == SEND_ATTEMPTS:
                    raise
                await self._throttle.pause(chat_id, e.retry_after, group=group)
                continue
            if mark is not None:
                mark.delivered()
            return result
        raise AssertionError("unreachable")


async def fetch_username(token: str, api_base: str | None = None) -> str | None:
    """The bot's username from ``getMe``, for tools that run without the channel (a QR poster);
    None when Telegram cannot be reached."""
    session = (
        AiohttpSession(api=TelegramAPIServer.from_base(api_base)) if api_base else AiohttpSession()
    )
    bot = Bot(token, session=session)
    try:
        return (await bot.me()).username
    except Exception as exc:  # a tool's fallback, said to the operator
        log.warning("telegram: getMe failed: %s", exc)
        return None
    finally:
        await session.close()


async def _guarded(deliver: Deliver, inbound: Inbound, stopping: asyncio.Event) -> None:
    """Deliver a polled update; while delivery says ``TryLater`` (the database is down or
    full), try again with a growing pause.

    The next ``getUpdates`` waits for this, so Telegram keeps the update unconfirmed until it
    is handled: nothing is lost, and the chat's later updates stay behind it. Any other
    failure is logged and polling goes on."""
    pause = 0.5
    while True:
        try:
            await deliver(inbound)
            return
        except TryLater as exc:
            log.warning("telegram: %s kept for a retry: %s", inbound.dedupe_key, exc)
        except Exception:
            log.exception("telegram: delivery of %s failed", inbound.dedupe_key)
            return
        if stopping.is_set():
            return  # not confirmed: Telegram delivers it again after the restart
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), pause)
        pause = min(pause * 2, 30.0)


def _is_group(chat_id: str) -> bool:
    """Telegram ids of groups, supergroups and channels are negative; users are positive."""
    return chat_id.startswith("-")


def _receipt(ids: list[str], out: Outgoing) -> Receipt:
    thread = out.address.thread_id
    return Receipt(message_id=ids[0], thread_id=thread, extra={"message_ids": ",".join(ids)})
