"""Fake Zalo Official Account and Zalo Bot Platform servers on 127.0.0.1.

No Zalo emulator exists (../shared/PLATFORMS.md §5), so the adapters' real HTTP clients talk to
these. Both are built from the shapes in PLATFORMS.md §2–§3 and the recorded payloads in
tests/fixtures/zalo/*.json, and both act as the users too: they build incoming events and drive
the bot's webhooks.

FakeZaloOA
- ``POST /v3.0/oa/message/cs`` checks the ``access_token`` header (an expired token gets -216),
  the body (recipient by ``message_id`` or ``user_id``; text 1–2000 characters; at most 5 buttons
  with titles up to 100 and payloads up to 1000 characters, known button types) and does the
  48-hour / 8-free-replies accounting of a reply by ``message_id`` (else -213); a send by user id
  only is a proactive message (``proactive``). Shape errors go to ``violations``.
- ``POST /v2.0/oa/upload/image`` takes a multipart ``file`` (PNG or JPEG by its first bytes, up
  to 1 MB, the ``access_token`` header checked) and answers an ``attachment_id``; ``uploads``
  keeps the images. A message may then carry a media template with that id (text optional, a
  caption): ``SentOA.image`` is the image the worker sees. An unknown id is a violation.
- ``POST /v4/oa/access_token`` rotates single-use refresh tokens: a spent one is refused;
  ``refresh_calls`` counts calls and ``refresh_delay`` widens race windows.
- ``text()``, ``follow()``, ``image()``, ``submit_info()``, ``sticker()`` build events (the
  user's messages open the reply window); ``post_event`` signs and posts one to a webhook.

FakeZaloBot
- ``/bot<token>/<method>``: getMe, getUpdates (one queued update, or HTTP 408 when idle),
  setWebhook, deleteWebhook, getWebhookInfo, sendMessage (text 1–2000 characters, only to chats
  that wrote first), sendChatAction. ``fail_next`` injects 429s.
- ``text()``, ``image()``, ``unsupported()`` build updates (wrapped or bare); ``queue`` feeds
  getUpdates; ``post_webhook`` sends one with the secret header.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "zalo"
WINDOW = timedelta(hours=48)
FREE_REPLIES = 8
BUTTON_TYPES = {"oa.open.url", "oa.query.show", "oa.query.hide", "oa.open.sms", "oa.open.phone"}


def fixture(name: str) -> dict[str, Any]:
    """A recorded payload (a fresh copy each time)."""
    return json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def _ms(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


class _Server:
    """An aiohttp application on 127.0.0.1 with a random port."""

    def __init__(self) -> None:
        self.app = web.Application()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._client: ClientSession | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def client(self) -> ClientSession:
        if self._client is None or self._client.closed:
            # No connection cap: Zalo posts many events at once, each on its own connection
            # (aiohttp's default of 100 would queue a 500-event burst inside the fake).
            self._client = ClientSession(
                timeout=ClientTimeout(total=30), connector=TCPConnector(limit=0)
            )
        return self._client


# ============================================================================ Official Account


@dataclass
class SentOA:
    """One message the bot sent through /v3.0/oa/message/cs."""

    user_id: str
    text: str
    buttons: list[tuple[str, str]]
    by_message_id: bool
    body: dict[str, Any]
    image: bytes | None = None  # the uploaded image of a media message


@dataclass
class _Window:
    message_ids: set[str] = field(default_factory=set)
    last_at: datetime | None = None
    replies: int = 0


class FakeZaloOA(_Server):
    def __init__(
        self,
        *,
        app_id: str = "360846524940903967",
        oa_id: str = "388613280878808645",
        secret_key: str = "oa-secret-key-for-tests",
        app_secret: str = "app-secret-for-tests",
        access_token: str = "ACCESS-0",
        refresh_token: str = "REFRESH-0",
        clock: Callable[[], datetime] = _wall_clock,
        token_lifetime: int = 90000,
        refresh_delay: float = 0.0,
    ) -> None:
        super().__init__()
        self.app_id, self.oa_id, self.secret_key = app_id, oa_id, secret_key
        self.app_secret = app_secret
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.clock = clock
        self.token_lifetime = token_lifetime
        self.refresh_delay = refresh_delay
        self.access_valid = True
        self.refresh_calls = 0
        self.refused_refreshes = 0
        self.sent: list[SentOA] = []
        self.proactive: list[SentOA] = []
        self.refused: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self.windows: dict[str, _Window] = {}
        self.uploads: dict[str, bytes] = {}
        self._ids = itertools.count(1)
        self.app.router.add_post("/v3.0/oa/message/cs", self._message_cs)
        self.app.router.add_post("/v2.0/oa/upload/image", self._upload_image)
        self.app.router.add_post("/v4/oa/access_token", self._access_token)

    # ----------------------------------------------------------------- the users' side

    def _new_msg_id(self) -> str:
        return hashlib.sha1(f"msg-{next(self._ids)}".encode()).hexdigest()[:20]

    def _user_wrote(self, user_id: str, msg_id: str | None, at: datetime) -> None:
        window = self.windows.setdefault(user_id, _Window())
        if msg_id:
            window.message_ids.add(msg_id)
        window.last_at, window.replies = at, 0

    def _stamp(self, event: dict[str, Any], user_id: str, at: datetime | None) -> datetime:
        at = at or self.clock()
        event["app_id"] = self.app_id
        event["timestamp"] = _ms(at)
        if "sender" in event:
            event["sender"]["id"] = user_id
        if "recipient" in event:
            event["recipient"]["id"] = self.oa_id
        return at

    def text(self, user_id: str, text: str, *, at: datetime | None = None) -> dict[str, Any]:
        event = fixture("oa_user_send_text")
        moment = self._stamp(event, user_id, at)
        event["message"] = {"text": text, "msg_id": self._new_msg_id()}
        self._user_wrote(user_id, event["message"]["msg_id"], moment)
        return event

    def follow(self, user_id: str, *, at: datetime | None = None) -> dict[str, Any]:
        event = fixture("oa_follow")
        moment = self._stamp(event, user_id, at)
        event["oa_id"] = self.oa_id
        event["follower"]["id"] = user_id
        self._user_wrote(user_id, None, moment)
        return event

    def image(self, user_id: str, url: str, caption: str = "") -> dict[str, Any]:
        event = fixture("oa_user_send_image")
        moment = self._stamp(event, user_id, None)
        event["message"]["msg_id"] = self._new_msg_id()
        event["message"]["text"] = caption
        event["message"]["attachments"][0]["payload"]["url"] = url
        self._user_wrote(user_id, event["message"]["msg_id"], moment)
        return event

    def sticker(self, user_id: str) -> dict[str, Any]:
        event = fixture("oa_user_send_sticker")
        moment = self._stamp(event, user_id, None)
        event["message"]["msg_id"] = self._new_msg_id()
        self._user_wrote(user_id, event["message"]["msg_id"], moment)
        return event

    def submit_info(self, user_id: str, *, phone: str, name: str) -> dict[str, Any]:
        event = fixture("oa_user_submit_info")
        moment = self._stamp(event, user_id, None)
        event["info"].update(phone=phone, name=name)
        self._user_wrote(user_id, None, moment)
        return event

    def sign(self, raw: bytes, timestamp: str, *, secret: str | None = None) -> str:
        key = self.secret_key if secret is None else secret
        blob = self.app_id.encode() + raw + timestamp.encode() + key.encode()
        return "mac=" + hashlib.sha256(blob).hexdigest()

    async def post_event(
        self,
        webhook_url: str,
        event: dict[str, Any],
        *,
        signature: str = "valid",
        raw: bytes | None = None,
    ) -> tuple[int, float]:
        """Sign (``valid``), forge (``forged``), omit (``missing``) or use a given ``mac=...``
        header, and post; returns (HTTP status, seconds to the answer)."""
        body = raw if raw is not None else json.dumps(event, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if signature == "valid":
            headers["X-ZEvent-Signature"] = self.sign(body, str(event.get("timestamp", "")))
        elif signature == "forged":
            headers["X-ZEvent-Signature"] = self.sign(
                body, str(event.get("timestamp", "")), secret="not-the-secret"
            )
        elif signature.startswith("mac="):
            headers["X-ZEvent-Signature"] = signature
        started = time.perf_counter()
        async with self.client().post(webhook_url, data=body, headers=headers) as resp:
            await resp.read()
            return resp.status, time.perf_counter() - started

    # ----------------------------------------------------------------- helpers for tests

    def to(self, user_id: str) -> list[SentOA]:
        return [m for m in self.sent if m.user_id == user_id]

    def expire_access_token(self) -> None:
        """The current access token stops working (the next send gets -216)."""
        self.access_valid = False

    # ----------------------------------------------------------------- the API

    async def _message_cs(self, request: web.Request) -> web.Response:
        token = request.headers.get("access_token", "")
        if token != self.access_token or not self.access_valid:
            return web.json_response(fixture("oa_error_token_expired"))
        try:
            body = await request.json()
        except ValueError:
            self.violations.append("message/cs: body is not JSON")
            return web.json_response({"error": -100, "message": "invalid body"})
        problem = self._check_body(body)
        if problem:
            self.violations.append(f"message/cs: {problem}")
            return web.json_response({"error": -100, "message": problem})
        recipient, message = body["recipient"], body["message"]
        now = self.clock()
        if "message_id" in recipient:
            user = self._owner(recipient["message_id"])
            window = self.windows.get(user or "")
            if (
                user is None
                or window is None
                or window.last_at is None
                or now - window.last_at > WINDOW
                or window.replies >= FREE_REPLIES
            ):
                self.refused.append(body)
                return web.json_response(fixture("oa_error_outside_window"))
            window.replies += 1
            by_message = True
        else:
            user = str(recipient["user_id"])
            by_message = False
        buttons = [
            (b["title"], b.get("payload", ""))
            for b in (message.get("attachment") or {}).get("payload", {}).get("buttons", [])
        ]
        sent = SentOA(user, message.get("text", ""), buttons, by_message, body, self._image(body))
        self.sent.append(sent)
        if not by_message:
            self.proactive.append(sent)
        reply = fixture("oa_send_success")
        reply["data"]["message_id"] = self._new_msg_id()
        reply["data"]["user_id"] = user
        if by_message:
            reply["data"]["quota"]["remain"] = str(FREE_REPLIES - self.windows[user].replies)
        return web.json_response(reply)

    async def _upload_image(self, request: web.Request) -> web.Response:
        token = request.headers.get("access_token", "")
        if token != self.access_token or not self.access_valid:
            return web.json_response(fixture("oa_error_token_expired"))
        if not request.content_type.startswith("multipart/"):
            self.violations.append(f"upload/image: {request.content_type} is not multipart")
            return web.json_response({"error": -100, "message": "multipart form expected"})
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            self.violations.append("upload/image: no file field")
            return web.json_response({"error": -100, "message": "file is required"})
        data = upload.file.read()
        if not (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff")):
            self.violations.append("upload/image: not a PNG or JPEG")
            return web.json_response({"error": -210, "message": "unsupported file type"})
        if len(data) > 1_000_000:
            self.violations.append(f"upload/image: {len(data)} bytes, over 1 MB")
            return web.json_response({"error": -210, "message": "file too large"})
        attachment_id = hashlib.sha1(f"att-{next(self._ids)}".encode()).hexdigest()
        self.uploads[attachment_id] = data
        return web.json_response(
            {"error": 0, "message": "Success", "data": {"attachment_id": attachment_id}}
        )

    def _image(self, body: dict[str, Any]) -> bytes | None:
        payload = (body["message"].get("attachment") or {}).get("payload") or {}
        if payload.get("template_type") != "media":
            return None
        return self.uploads.get(payload["elements"][0].get("attachment_id", ""))

    def _owner(self, message_id: str) -> str | None:
        for user, window in self.windows.items():
            if message_id in window.message_ids:
                return user
        return None

    def _check_body(self, body: Any) -> str | None:
        if not isinstance(body, dict) or set(body) != {"recipient", "message"}:
            return "body must be {recipient, message}"
        recipient, message = body["recipient"], body["message"]
        if not isinstance(recipient, dict) or len(recipient) != 1:
            return "recipient must have exactly one of message_id, user_id"
        if not ({"message_id", "user_id"} & set(recipient)):
            return "recipient must have message_id or user_id"
        if not isinstance(message, dict) or not set(message) <= {"text", "attachment"}:
            return "message may only have text and attachment"
        text = message.get("text")
        attachment = message.get("attachment")
        payload = attachment.get("payload") if isinstance(attachment, dict) else None
        media = isinstance(payload, dict) and payload.get("template_type") == "media"
        if not (media and text is None) and (
            not isinstance(text, str) or not 1 <= len(text) <= 2000
        ):
            return f"text must be 1-2000 characters (got {len(text or '')})"
        if attachment is None:
            return None
        if attachment.get("type") != "template":
            return "attachment type must be template"
        if media:
            assert isinstance(payload, dict)
            elements = payload.get("elements")
            if not isinstance(elements, list) or len(elements) != 1:
                return "a media template has exactly one element"
            element = elements[0]
            if element.get("media_type") != "image":
                return "media_type must be image"
            if element.get("attachment_id") not in self.uploads and not element.get("url"):
                return "image attachment_id was not uploaded"
            if payload.get("buttons"):
                return "a media template has no buttons"
            return None
        buttons = attachment.get("payload", {}).get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 5:
            return "1-5 buttons"
        for button in buttons:
            if button.get("type") not in BUTTON_TYPES:
                return f"unknown button type {button.get('type')!r}"
            if not 1 <= len(button.get("title", "")) <= 100:
                return "button title must be 1-100 characters"
            payload = button.get("payload")
            if button["type"].startswith("oa.query") and not (
                isinstance(payload, str) and 1 <= len(payload) <= 1000
            ):
                return "query button payload must be 1-1000 characters"
        return None

    async def _access_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if request.headers.get("secret_key") != self.app_secret:
            self.violations.append("access_token: wrong or missing secret_key header")
            return web.json_response(fixture("oa_token_refresh_error"))
        if form.get("app_id") != self.app_id or form.get("grant_type") != "refresh_token":
            self.violations.append(f"access_token: bad form {dict(form)}")
            return web.json_response(fixture("oa_token_refresh_error"))
        self.refresh_calls += 1
        if form.get("refresh_token") != self.refresh_token:
            self.refused_refreshes += 1
            return web.json_response(fixture("oa_token_refresh_error"))
        if self.refresh_delay:
            await asyncio.sleep(self.refresh_delay)
        self.access_token = f"ACCESS-{self.refresh_calls}"
        self.refresh_token = f"REFRESH-{self.refresh_calls}"
        self.access_valid = True
        reply = fixture("oa_token_refresh")
        reply.update(
            access_token=self.access_token,
            refresh_token=self.refresh_token,
            expires_in=str(self.token_lifetime),
        )
        return web.json_response(reply)


# ============================================================================ Bot Platform


class FakeZaloBot(_Server):
    def __init__(self, token: str = "1234567890:fake-zalo-bot-token", *, idle_wait: float = 0.2):
        super().__init__()
        self.token = token
        self.idle_wait = idle_wait
        self.sent: list[tuple[str, str]] = []
        self.calls: list[str] = []
        self.violations: list[str] = []
        self.webhook: dict[str, str] | None = None
        self.known_chats: set[str] = set()
        self._updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._failures: list[tuple[int, float | None]] = []
        self._ids = itertools.count(1)
        self.app.router.add_route("*", "/bot{token}/{method}", self._method)

    @property
    def api_base(self) -> str:
        return self.url

    # ----------------------------------------------------------------- the users' side

    def _message(self, user_id: str, name: str) -> dict[str, Any]:
        self.known_chats.add(user_id)
        return {
            "from": {"id": user_id, "display_name": name, "is_bot": False},
            "chat": {"id": user_id, "chat_type": "PRIVATE"},
            "message_id": hashlib.sha1(f"bot-{next(self._ids)}".encode()).hexdigest()[:20],
            "date": int(time.time() * 1000),
        }

    def text(self, user_id: str, text: str, *, wrapped: bool = True) -> dict[str, Any]:
        update = fixture("bot_update_text")["result"]
        update["message"] = {**self._message(user_id, "Công nhân"), "text": text}
        return {"ok": True, "result": update} if wrapped else update

    def image(self, user_id: str, url: str, caption: str = "") -> dict[str, Any]:
        update = fixture("bot_update_image")
        update["message"] = {
            **self._message(user_id, "Công nhân"),
            "photo": url,
            "caption": caption,
        }
        return update

    def unsupported(self, user_id: str) -> dict[str, Any]:
        update = fixture("bot_update_unsupported")
        update["result"]["message"] = self._message(user_id, "Người dùng Zalo")
        return update

    def queue(self, update: dict[str, Any]) -> None:
        """Make an update available to the next getUpdates (the body's ``result`` part)."""
        self._updates.put_nowait(update.get("result", update) if "ok" in update else update)

    async def post_webhook(
        self, url: str, update: dict[str, Any], *, secret: str | None
    ) -> tuple[int, float]:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Bot-Api-Secret-Token"] = secret
        body = json.dumps(update, ensure_ascii=False).encode()
        started = time.perf_counter()
        async with self.client().post(url, data=body, headers=headers) as resp:
            await resp.read()
            return resp.status, time.perf_counter() - started

    def fail_next(self, code: int = 429, times: int = 1, retry_after: float | None = None) -> None:
        self._failures += [(code, retry_after)] * times

    def to(self, chat_id: str) -> list[str]:
        return [text for chat, text in self.sent if chat == chat_id]

    # ----------------------------------------------------------------- the API

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.match_info["method"]
        self.calls.append(method)
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update(await request.post())
        handler = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendChatAction": self._send_chat_action,
        }.get(method)
        if handler is None:
            self.violations.append(f"unknown method {method}")
            return self._error(404, "Not Found")
        return await handler(params)

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(code: int, description: str, retry_after: float | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        return web.json_response(body, status=code, headers=headers)

    async def _get_me(self, params: dict[str, Any]) -> web.Response:
        return self._ok(fixture("bot_get_me")["result"])

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        wait = min(float(params.get("timeout", 30)), self.idle_wait)
        try:
            update = await asyncio.wait_for(self._updates.get(), timeout=wait)
        except TimeoutError:
            idle = fixture("bot_get_updates_idle")
            return self._error(idle["error_code"], idle["description"])
        return self._ok(update)

    async def _set_webhook(self, params: dict[str, Any]) -> web.Response:
        secret = str(params.get("secret_token", ""))
        if not params.get("url") or not 8 <= len(secret) <= 256:
            self.violations.append(f"setWebhook: bad parameters {sorted(params)}")
            return self._error(400, "Bad Request")
        self.webhook = {"url": str(params["url"]), "secret_token": secret}
        return self._ok({"url": params["url"], "updated_at": int(time.time() * 1000)})

    async def _delete_webhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = None
        return self._ok({"url": "", "updated_at": int(time.time() * 1000)})

    async def _get_webhook_info(self, params: dict[str, Any]) -> web.Response:
        if self.webhook is None:
            return self._error(404, "Not Found")
        return self._ok({"url": self.webhook["url"], "updated_at": 0})

    async def _send_message(self, params: dict[str, Any]) -> web.Response:
        if self._failures:
            code, retry_after = self._failures.pop(0)
            return self._error(code, "Quota exceeded" if code == 429 else "Error", retry_after)
        chat_id, text = str(params.get("chat_id", "")), params.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= 2000:
            size = len(text) if isinstance(text, str) else 0
            self.violations.append(f"sendMessage: text must be 1-2000 characters ({size})")
            return self._error(400, "Bad Request")
        if chat_id not in self.known_chats:
            self.violations.append(f"sendMessage: chat {chat_id} never wrote to the bot")
            return self._error(400, "Bad Request")
        self.sent.append((chat_id, text))
        result = copy.deepcopy(fixture("bot_send_message")["result"])
        result["message_id"] = hashlib.sha1(f"out-{len(self.sent)}".encode()).hexdigest()[:20]
        return self._ok(result)

    async def _send_chat_action(self, params: dict[str, Any]) -> web.Response:
        return self._ok(True)


# ============================================================================ test drivers


def free_port() -> int:
    """A free TCP port on 127.0.0.1 for the bot's own web app."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def settle(app: Any) -> None:
    """Wait until the app has processed everything it acknowledged (its background tasks)."""
    for _ in range(1000):
        pending = [t for t in list(app._tasks) if not t.done()]
        if not pending:
            return
        await asyncio.wait(pending)


@dataclass
class OAWorker:
    """A worker on the Official Account: follows, types, presses quick-reply buttons."""

    fake: FakeZaloOA
    app: Any
    webhook: str
    user_id: str

    @property
    def received(self) -> list[SentOA]:
        return self.fake.to(self.user_id)

    def texts(self) -> list[str]:
        return [m.text for m in self.received]

    async def post(self, event: dict[str, Any], **kwargs: Any) -> int:
        status, _ = await self.fake.post_event(self.webhook, event, **kwargs)
        await settle(self.app)
        return status

    async def _after(self, event: dict[str, Any]) -> list[SentOA]:
        before = len(self.received)
        status = await self.post(event)
        assert status == 200, status
        return self.received[before:]

    async def say(self, text: str) -> list[SentOA]:
        return await self._after(self.fake.text(self.user_id, text))

    async def follow(self) -> list[SentOA]:
        return await self._after(self.fake.follow(self.user_id))

    async def press(self, label: str) -> list[SentOA]:
        """Tap the quick-reply button whose title contains ``label`` in the latest message
        with buttons, or type its number when the choices came as a numbered list."""
        wanted = label.casefold()
        for message in reversed(self.received):
            if message.buttons:
                for title, payload in message.buttons:
                    if wanted in title.casefold():
                        return await self.say(payload)
                break
            number = numbered_option(message.text, label)
            if number is not None:
                return await self.say(str(number))
        raise AssertionError(f"no choice {label!r} in {[m.text[-200:] for m in self.received]}")


def numbered_option(text: str, label: str) -> int | None:
    """The number in front of ``label`` in a numbered list ("3. Gia nhập công đoàn")."""
    import re

    wanted = label.casefold()
    for line in text.splitlines():
        match = re.match(r"^(\d{1,2})\. (.+)$", line.strip())
        if match and wanted in match.group(2).casefold():
            return int(match.group(1))
    return None


@dataclass
class BotWorker:
    """A worker on the Zalo Bot Platform: only text, choices by typing their number."""

    fake: FakeZaloBot
    app: Any
    webhook: str
    secret: str
    user_id: str

    @property
    def received(self) -> list[str]:
        return self.fake.to(self.user_id)

    def texts(self) -> list[str]:
        return list(self.received)

    async def say(self, text: str) -> list[str]:
        before = len(self.received)
        status, _ = await self.fake.post_webhook(
            self.webhook, self.fake.text(self.user_id, text), secret=self.secret
        )
        assert status == 200, status
        await settle(self.app)
        return self.received[before:]

    async def press(self, label: str) -> list[str]:
        for text in reversed(self.received):
            number = numbered_option(text, label)
            if number is not None:
                return await self.say(str(number))
        raise AssertionError(f"no numbered choice {label!r} in {self.received[-1:]}")


# ============================================================================ conversation scripts
# The same conversations as on Telegram, typed and tapped on Zalo. ``worker`` is an OAWorker or
# a BotWorker; each step checks what the worker was shown before the next one.

Worker = Any  # OAWorker, BotWorker or ChatWorker


def as_typed(text: str, shown: str) -> str:
    """A message as shown above the numbered list in ``shown`` ("bấm “Gửi”" reads "gõ số 3
    (“Gửi”)", bot/core/wording.py); with buttons instead of a list, as written."""
    import re

    from bot.core.wording import for_typing

    labels = re.findall(r"^\d+\. (.+)$", shown, re.M)
    return for_typing(text, labels) if labels else text  # buttons (Zalo OA): as written


def _joined(replies: list[Any]) -> str:
    """What the worker sees: the texts, and the quick-reply button titles on the OA."""
    lines = []
    for reply in replies:
        if isinstance(reply, SentOA):
            lines += [reply.text, *(f"[{title}]" for title, _ in reply.buttons)]
        elif isinstance(reply, str):
            lines.append(reply)
        else:  # an Outgoing from the chat driver (Telegram in tests)
            options = getattr(reply.content, "options", ())
            lines += [reply.text, *(f"[{o.label}]" for o in options)]
    return "\n".join(lines)


@dataclass
class ChatWorker:
    """The chat driver (tests/driver.py Chat) with the say/press of the Zalo workers."""

    chat: Any

    async def say(self, text: str) -> list[Any]:
        return list(await self.chat.send(text))

    async def press(self, label: str) -> list[Any]:
        return list(await self.chat.press(label))


async def join_on_zalo(worker: Worker, texts: Any) -> str:
    """Menu -> join -> consent -> the form -> "Gửi"; returns the reference number given."""
    import re

    await worker.say("/menu")
    intro = _joined(await worker.press(texts("menu.join")))
    assert "0,5%" in intro, intro
    asked = _joined(await worker.press("Đồng ý"))
    assert texts("join.ask.full_name") in asked, asked
    await worker.say("nguyễn thị hoa")
    await worker.say("0912 345 678")
    await worker.say("Công ty TNHH May Sông Hồng")
    picks = _joined(await worker.say("le chan"))
    assert "Phường Lê Chân" in picks, picks
    await worker.press("Phường Lê Chân")
    await worker.press("Chưa")
    await worker.press("100–499")
    await worker.press("Không, giữ")
    confirm = _joined(await worker.say("công nhân may"))
    assert "Nguyễn Thị Hoa" in confirm and "0912 345 678" in confirm, confirm
    done = _joined(await worker.press("Gửi"))
    match = re.search(r"KN-\d{4}-\d{6}", done)
    assert match, done
    return match.group(0)


async def question_on_zalo(worker: Worker, texts: Any, question: str) -> str:
    """A question the FAQ answers, then "Hỏi tư vấn viên" to the legal centre; the case number."""
    import re

    answer = _joined(await worker.say(question))
    assert "Hỏi tư vấn viên" in answer, answer  # the way to a person is always offered
    notice = _joined(await worker.press("Hỏi tư vấn viên"))
    assert "91/2025/QH15" in notice, notice  # the question's data notice first
    prefilled = _joined(await worker.press("Đồng ý"))
    assert as_typed(texts("relay.form.workplace.prompt"), prefilled) in prefilled, prefilled
    await worker.press("Bỏ qua")
    await worker.press("Ẩn danh")
    submitted = _joined(await worker.press("Gửi"))
    match = re.search(r"\b[A-Z]{2,3}-\d{4}-\d{3,6}\b", submitted)
    assert match, submitted
    return match.group(0)


async def lead_on_zalo(worker: Worker, texts: Any, company: str) -> str:
    """ "Công ty chưa có công đoàn": the report form to "Gửi"; the worker's last reply."""
    await worker.say("/menu")
    notice = _joined(await worker.press(texts("menu.lead")))
    assert "91/2025/QH15" in notice, notice  # the report's data notice first
    asked = _joined(await worker.press("Đồng ý"))
    assert texts("leads.ask.company") in asked, asked
    await worker.say(company)
    picks = _joined(await worker.say("Lê Chân"))
    if "Phường Lê Chân" in picks and texts("leads.ask.size_band") not in picks:
        await worker.press("Phường Lê Chân")
    await worker.press("25–99")
    await worker.press("Bỏ qua")  # industrial park
    await worker.press("Bỏ qua")  # tax code
    await worker.press("Không, tôi muốn ẩn danh")
    return _joined(await worker.press("Gửi"))
