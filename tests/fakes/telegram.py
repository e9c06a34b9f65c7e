"""A fake Telegram Bot API server on 127.0.0.1 that checks every request against the real spec.

No offline Telegram emulator is usable (../shared/PLATFORMS.md §5), so tests run the bot's real
HTTP client (aiogram's ``AiohttpSession``) against this server. It speaks the Bot API's shape
(``POST /bot<token>/<method>`` with JSON, url-encoded or multipart bodies; ``{"ok": ...}``
replies), validates each request against ``../shared/data/telegram-bot-api-10.1.json`` (unknown
method or field, missing required field, wrong type, documented length limits) and records every
violation in ``fake.violations``, which tests assert stays empty. Its own answers and the updates it
generates are checked against the same spec (``fake.fake_errors``), so the bot is never tested
against objects real Telegram would not send.

A test acts as the users (``send_text``, ``press_button``, ``send_contact`` ...), reads what the
bot sent (``sent``, ``wait_for``), injects faults (``fail_next``, ``block``) and drives webhooks
(``deliver_webhook``). ``getUpdates`` is a real long poll with offset confirmation.

``rate_cap=RateCap(...)`` makes the fake enforce Telegram's flood limits the way the real server
answers them: a message method called above ``per_second`` in any sliding second (all chats) or
above ``per_chat_per_second`` for one chat is refused with 429 and ``retry_after``, and nothing is
delivered. Tests scale the cap (and the bot's pace with it) to keep their wall time short; the
refusals are kept in ``rate_limited`` so a test can check each one was retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import itertools
import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

log = logging.getLogger("tests.fakes.telegram")

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO_ROOT / ".." / "shared" / "data" / "telegram-bot-api-10.1.json"
DEFAULT_TOKEN = "123456:TEST-fake-token"

# Update types Telegram sends when allowed_updates is empty (its documented default).
_NOT_DEFAULT_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# Methods whose successful calls put a message in a chat; ``wait_for`` counts these.
MESSAGE_METHODS = frozenset({"sendMessage", "sendPhoto", "copyMessage"})
_LIMIT = re.compile(r"(\d+)-(\d+) (characters|bytes)")
_CONST = re.compile(r"(?:must be|always) [“\"]?([a-z_]+)[”\"]?$")
_INT = re.compile(r"-?\d+")
_FLOAT = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_PRIMITIVES = ("Integer", "Float", "Boolean", "String", "InputFile")
_BUTTON_LOOKS = frozenset({"text", "icon_custom_emoji_id", "style"})


class SpecMissingError(FileNotFoundError):
    """The Bot API spec is not at ../shared/data; tests skip instead of failing."""


def skip_without_spec() -> None:
    """Skip the calling test when the spec file is absent, naming the path in the reason."""
    import pytest

    if not SPEC_PATH.exists():
        pytest.skip(f"Telegram Bot API spec not found at {SPEC_PATH.resolve()}")


@functools.cache
def load_spec(path: Path = SPEC_PATH) -> dict[str, Any]:
    if not path.exists():
        raise SpecMissingError(f"Telegram Bot API spec not found at {path.resolve()}")
    return json.loads(path.read_text("utf-8"))


# --------------------------------------------------------------------------- spec checking


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    filename: str
    data: bytes


class SpecChecker:
    """Checks values against the spec's type strings ("Integer", "Array of X", object types).

    ``form=True`` means the value came from a url-encoded or multipart field, so it is a string
    that must parse as the expected type (objects and arrays as JSON), the way Telegram reads
    form bodies. Nested values (inside decoded JSON) are checked strictly.
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        self.types: dict[str, dict[str, Any]] = spec["types"]
        self.methods: dict[str, dict[str, Any]] = {k.lower(): v for k, v in spec["methods"].items()}

    def method(self, name: str) -> dict[str, Any] | None:
        return self.methods.get(name.lower())

    def check_params(
        self, method: dict[str, Any], params: dict[str, Any], files: dict[str, Upload], form: bool
    ) -> tuple[dict[str, Any], list[str]]:
        attached = {
            v[len("attach://") :]
            for v in params.values()
            if isinstance(v, str) and v.startswith("attach://")
        }
        own = {k: v for k, v in params.items() if k not in attached or k in _field_names(method)}
        return self._check_fields(method["name"], method.get("fields", []), own, files, form)

    def check(
        self, value: Any, types: list[str], path: str, files: dict[str, Upload], form: bool
    ) -> tuple[Any, list[str]]:
        if "InputFile" in types and isinstance(value, str) and value.startswith("attach://"):
            if value[len("attach://") :] not in files:
                return value, [f"{path}: {value} names no uploaded file part"]
        order = sorted(types, key=lambda t: t == "String") if form else types
        near_misses: list[list[str]] = []
        for type_name in order:
            matched, decoded, errors = self._match(value, type_name, path, files, form)
            if matched and not errors:
                return decoded, []
            if matched:
                near_misses.append(errors)
        if near_misses:
            return value, min(near_misses, key=len)
        return value, [f"{path}: expected {' or '.join(types)}, got {_describe(value)}"]

    def _match(
        self, value: Any, type_name: str, path: str, files: dict[str, Upload], form: bool
    ) -> tuple[bool, Any, list[str]]:
        if type_name.startswith("Array of "):
            inner = type_name[len("Array of ") :]
            if form and isinstance(value, str):
                value = _json_or_none(value)
            if not isinstance(value, list):
                return False, value, []
            decoded, errors = [], []
            for i, item in enumerate(value):
                item_value, item_errors = self.check(item, [inner], f"{path}[{i}]", files, False)
                decoded.append(item_value)
                errors += item_errors
            return True, decoded, errors
        if type_name in _PRIMITIVES:
            ok, decoded = _primitive(value, type_name, files, form)
            return ok, decoded, []
        spec_type = self.types.get(type_name)
        if spec_type is None:
            return False, value, [f"{path}: spec has no type {type_name}"]
        if spec_type.get("subtypes"):
            decoded, errors = self.check(value, spec_type["subtypes"], path, files, form)
            return True, decoded, errors
        if form and isinstance(value, str):
            value = _json_or_none(value)
        if not isinstance(value, dict):
            return False, value, []
        decoded, errors = self._check_fields(path, spec_type.get("fields", []), value, files, False)
        if type_name == "InlineKeyboardButton" and not errors:
            actions = sorted(set(value) - _BUTTON_LOOKS)
            if len(actions) != 1:
                errors.append(
                    f"{path}: an inline button needs exactly one action field, got {actions}"
                )
        return True, decoded, errors

    def _check_fields(
        self,
        path: str,
        fields: list[dict[str, Any]],
        obj: dict[str, Any],
        files: dict[str, Upload],
        form: bool,
    ) -> tuple[dict[str, Any], list[str]]:
        errors: list[str] = []
        decoded: dict[str, Any] = {}
        known = {f["name"]: f for f in fields}
        for name in obj:
            if name not in known:
                errors.append(f"{path}.{name}: unknown field")
        for name, spec_field in known.items():
            if name not in obj:
                if spec_field["required"]:
                    errors.append(f"{path}.{name}: required field missing")
                continue
            value, field_errors = self.check(
                obj[name], spec_field["types"], f"{path}.{name}", files, form
            )
            errors += field_errors
            if not field_errors and isinstance(value, str):
                errors += _string_rules(value, spec_field, f"{path}.{name}")
            decoded[name] = value
        return decoded, errors


def _field_names(method: dict[str, Any]) -> set[str]:
    return {f["name"] for f in method.get("fields", [])}


def _string_rules(value: str, spec_field: dict[str, Any], path: str) -> list[str]:
    """Length limits and constants that the spec states in prose ("1-64 bytes", "must be x")."""
    description = spec_field["description"]
    errors = []
    if limit := _LIMIT.search(description):
        low, high, unit = int(limit.group(1)), int(limit.group(2)), limit.group(3)
        size = len(value.encode()) if unit == "bytes" else len(value)
        if not low <= size <= high:
            errors.append(f"{path}: length {size} {unit} outside {low}-{high}")
    if spec_field["types"] == ["String"] and (const := _CONST.search(description)):
        if value != const.group(1):
            errors.append(f"{path}: must be {const.group(1)!r}, got {value!r}")
    return errors


def _primitive(
    value: Any, type_name: str, files: dict[str, Upload], form: bool
) -> tuple[bool, Any]:
    if type_name == "InputFile":
        if isinstance(value, Upload):
            return True, value
        if isinstance(value, str) and value.startswith("attach://"):
            name = value[len("attach://") :]
            return (name in files), files.get(name)
        return False, value
    if isinstance(value, Upload):
        return False, value
    if form and isinstance(value, str):
        if type_name == "Integer":
            return (bool(_INT.fullmatch(value)), int(value) if _INT.fullmatch(value) else value)
        if type_name == "Float":
            return (
                bool(_FLOAT.fullmatch(value)),
                float(value) if _FLOAT.fullmatch(value) else value,
            )
        if type_name == "Boolean":
            return value in ("true", "false"), value == "true"
        return True, value
    if type_name == "Integer":
        return isinstance(value, int) and not isinstance(value, bool), value
    if type_name == "Float":
        return isinstance(value, int | float) and not isinstance(value, bool), value
    if type_name == "Boolean":
        return isinstance(value, bool), value
    return isinstance(value, str), value


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _describe(value: Any) -> str:
    if isinstance(value, Upload):
        return "a file"
    shown = repr(value)
    return f"{type(value).__name__} {shown[:60]}"


# --------------------------------------------------------------------------- records


@dataclass
class Sent:
    """One thing the bot put in (or changed in) a chat, as the user would see it."""

    method: str
    chat_id: int
    message_id: int | None
    text: str
    reply_markup: dict[str, Any] | None
    thread_id: int | None
    reply_to: int | None
    params: dict[str, Any]
    message: dict[str, Any] | None = None
    photo: bytes | None = None

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """Inline buttons as (label, callback_data), row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]

    @property
    def keyboard(self) -> list[dict[str, Any]]:
        """Reply-keyboard buttons (dicts with ``text`` and e.g. ``request_contact``)."""
        rows = (self.reply_markup or {}).get("keyboard", [])
        return [b if isinstance(b, dict) else {"text": b} for row in rows for b in row]


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int


@dataclass(frozen=True)
class RateCap:
    """Telegram's flood limits as the fake enforces them (PLATFORMS.md §1: about 30 messages a
    second in bulk, 1 a second per chat). ``window`` is the sliding window in seconds;
    ``retry_after`` is what a 429 tells the bot to wait (an Integer in the Bot API)."""

    per_second: float = 30.0
    per_chat_per_second: float = 1.0
    window: float = 1.0
    retry_after: int = 1


@dataclass(frozen=True)
class Refusal:
    """One 429 the cap answered: which chat, when (monotonic seconds), and which limit."""

    chat_id: int
    at: float
    limit: str  # "overall" | "chat"


class _CapEnforcer:
    """Sliding-window counters of accepted message calls, overall and per chat."""

    def __init__(self, cap: RateCap, clock: Callable[[], float] = time.monotonic) -> None:
        self.cap = cap
        self._clock = clock
        self._overall: deque[float] = deque()
        self._chats: dict[int, deque[float]] = {}
        self.accepted: list[float] = []

    def admit(self, chat_id: int) -> str | None:
        """Count the call and return None, or name the limit it would exceed."""
        now = self._clock()
        horizon = now - self.cap.window
        while self._overall and self._overall[0] <= horizon:
            self._overall.popleft()
        chat = self._chats.setdefault(chat_id, deque())
        while chat and chat[0] <= horizon:
            chat.popleft()
        if len(self._overall) >= self.cap.per_second * self.cap.window:
            return "overall"
        if len(chat) >= max(1.0, self.cap.per_chat_per_second * self.cap.window):
            return "chat"
        self._overall.append(now)
        chat.append(now)
        self.accepted.append(now)
        return None


@dataclass
class _Fault:
    status: int
    description: str
    retry_after: int | None
    times: int


class ApiError(Exception):
    """A Bot API error answer; ``violation`` marks it as a bug in the bot's request."""

    def __init__(
        self,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        violation: bool = False,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after
        self.violation = violation


def _bad(description: str, *, violation: bool = False) -> ApiError:
    return ApiError(400, f"Bad Request: {description}", violation=violation)


# --------------------------------------------------------------------------- the server


class FakeTelegram:
    """The fake server plus the users around it. Use ``async with FakeTelegram() as fake``."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "congdoan_test_bot",
        bot_name: str = "Công Đoàn Hải Phòng (thử)",
        spec_path: Path = SPEC_PATH,
        webhook_retry_delay: float = 0.2,
        webhook_max_attempts: int = 5,
        rate_cap: RateCap | None = None,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_user = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.checker = SpecChecker(load_spec(spec_path))
        self.violations: list[str] = []
        self.fake_errors: list[str] = []
        self.calls: list[Call] = []
        self.sent: list[Sent] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.chat_actions: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] = {}
        self.webhook_log: list[tuple[int, int]] = []  # (update_id, HTTP status)
        self.users: dict[int, dict[str, Any]] = {}
        self.chats: dict[int, dict[str, Any]] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.topics: dict[int, dict[int, dict[str, Any]]] = {}
        self.blocked: set[int] = set()
        self.rate_cap = rate_cap
        self._cap = _CapEnforcer(rate_cap) if rate_cap else None
        self.rate_limited: list[Refusal] = []
        self.poll_count = 0
        self._queue: list[tuple[dict[str, Any], bool]] = []  # (update, forced redelivery)
        self._allowed: frozenset[str] | None = None
        self._faults: dict[str, list[_Fault]] = {}
        self._open_callbacks: set[str] = set()
        self._update_ids = itertools.count(700_000_001)
        self._callback_ids = itertools.count(4_242_000_000_000_000_001)
        self._file_ids = itertools.count(1)
        self._next_message_id: dict[int, int] = {}
        self._group_ids = itertools.count(1)
        self._webhook_retry_delay = webhook_retry_delay
        self._webhook_max_attempts = webhook_max_attempts
        self._default_groups: dict[str, int] = {}
        self._tick = asyncio.Event()  # replaced (after being set) on every change
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self._pusher: asyncio.Task[None] | None = None
        self.port = 0

    # ----------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """What to pass as ``api_base`` (aiogram builds ``{base}/bot{token}/{method}``)."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._client = ClientSession(timeout=ClientTimeout(total=30))
        return self

    async def stop(self) -> None:
        self._closing = True
        self._kick()
        if self._pusher:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
        if self._client:
            await self._client.close()
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def assert_clean(self) -> None:
        """Fail if the bot sent anything the spec forbids or the fake produced a bad object."""
        assert self.violations == [], self.violations
        assert self.fake_errors == [], self.fake_errors

    # ----------------------------------------------------------------- HTTP entry

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _reply_error(401, "Unauthorized")
        name = request.match_info["method"]
        try:
            params, files, form = await _read_params(request)
        except ValueError as e:
            self._violate(f"{name}: unreadable body: {e}")
            return _reply_error(400, f"Bad Request: {e}")
        spec = self.checker.method(name)
        if spec is None:
            self._violate(f"{name}: unknown method")
            self.calls.append(Call(name, params, 404))
            return _reply_error(404, "Not Found")
        method = spec["name"]
        decoded, errors = self.checker.check_params(spec, params, files, form)
        if errors:
            for error in errors:
                self._violate(error)
            self.calls.append(Call(method, params, 400))
            return _reply_error(400, f"Bad Request: {errors[0]}")
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            self._violate(f"{method}: method not implemented in fake")
            self.calls.append(Call(method, decoded, 400))
            return _reply_error(400, f"Bad Request: method {method} not implemented in fake")
        if fault := self._take_fault(method):
            self.calls.append(Call(method, decoded, fault.status))
            return _reply_error(fault.status, fault.description, fault.retry_after)
        if refused := self._over_cap(method, decoded):
            self.calls.append(Call(method, decoded, 429))
            return refused
        try:
            result = await handler(decoded)
        except ApiError as e:
            if e.violation:
                self._violate(f"{method}: {e.description}")
            self.calls.append(Call(method, decoded, e.status))
            return _reply_error(e.status, e.description, e.retry_after)
        self.calls.append(Call(method, decoded, 200))
        self._self_check(result, spec.get("returns", []), f"{method} result")
        return web.json_response({"ok": True, "result": result})

    def _over_cap(self, method: str, params: dict[str, Any]) -> web.Response | None:
        """A 429 when the call would exceed the configured flood limits, else None."""
        if self._cap is None or method not in MESSAGE_METHODS:
            return None
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            return None
        limit = self._cap.admit(chat_id)
        if limit is None:
            return None
        self.rate_limited.append(Refusal(chat_id, time.monotonic(), limit))
        wait = self._cap.cap.retry_after
        return _reply_error(429, f"Too Many Requests: retry after {wait}", wait)

    def accepted_rate(self) -> float:
        """Messages per second the cap let through, from the first to the last accepted call."""
        times = self._cap.accepted if self._cap else []
        if len(times) < 2:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def max_in_window(self) -> int:
        """The most message calls accepted in any sliding window: proof the cap held."""
        if self._cap is None:
            return 0
        times, window, best, start = self._cap.accepted, self._cap.cap.window, 0, 0
        for end, at in enumerate(times):
            while times[start] <= at - window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def _violate(self, text: str) -> None:
        log.warning("Bot API violation: %s", text)
        self.violations.append(text)

    def _self_check(self, value: Any, types: list[str], path: str) -> None:
        _, errors = self.checker.check(value, types, path, {}, False)
        self.fake_errors += errors

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method.lower())
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return fault

    # ----------------------------------------------------------------- fault injection

    def fail_next(
        self,
        method: str,
        status: int = 429,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail like Telegram would."""
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after}",
                403: "Forbidden: bot was blocked by the user",
                400: "Bad Request",
                500: "Internal Server Error",
            }.get(status, "Error")
        fault = _Fault(status, description, retry_after if status == 429 else None, times)
        self._faults.setdefault(method.lower(), []).append(fault)

    def block(self, user_id: int) -> None:
        """The user blocked the bot: every send to their private chat gets 403 from now on."""
        self.blocked.add(user_id)

    # ----------------------------------------------------------------- acting as users

    def add_user(
        self,
        user_id: int,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
    ) -> dict[str, Any]:
        """Register a user and their private chat with the bot (as if they had pressed Start)."""
        user = self.users.get(user_id)
        if user is None:
            user = {"id": user_id, "is_bot": False, "first_name": first_name or f"User{user_id}"}
            user["language_code"] = "vi"
            self.users[user_id] = user
        if first_name:
            user["first_name"] = first_name
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        chat = {"id": user_id, "type": "private", "first_name": user["first_name"]}
        for key in ("last_name", "username"):
            if key in user:
                chat[key] = user[key]
        self.chats[user_id] = chat
        return user

    def create_chat(
        self,
        chat_id: int | None = None,
        *,
        chat_type: str = "supergroup",
        title: str | None = None,
        is_forum: bool = False,
    ) -> dict[str, Any]:
        """A group or supergroup the bot is a member of; forum supergroups have topics."""
        if chat_type not in ("group", "supergroup"):
            raise ValueError("create_chat makes groups and supergroups; users get private chats")
        if is_forum and chat_type != "supergroup":
            raise ValueError("only supergroups can be forums")
        n = next(self._group_ids)
        if chat_id is None:
            chat_id = -(1_000_000_000_000 + n) if chat_type == "supergroup" else -(4_000 + n)
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type, "title": title or f"Nhóm {n}"}
        if is_forum:
            chat["is_forum"] = True
            self.topics.setdefault(chat_id, {})
        self.chats[chat_id] = chat
        return chat

    def send_text(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str | None = None,
        last_name: str | None = None,
        thread_id: int | None = None,
        reply_to: Any = None,
        queue: bool = True,
    ) -> dict[str, Any]:
        """A user types ``text``; commands get their ``bot_command`` entity like on Telegram."""
        content: dict[str, Any] = {"text": text}
        if command := re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text):
            length = len(command.group(0).encode("utf-16-le")) // 2
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self.send_message(
            user_id,
            content,
            chat_id=chat_id,
            chat_type=chat_type,
            first_name=first_name,
            last_name=last_name,
            thread_id=thread_id,
            reply_to=reply_to,
            queue=queue,
        )

    def send_contact(
        self, user_id: int, phone: str, *, own: bool = True, queue: bool = True
    ) -> dict[str, Any]:
        """The user shares a contact; ``own=True`` is what the request_contact button sends."""
        user = self.add_user(user_id)
        contact = {"phone_number": phone, "first_name": user["first_name"]}
        if own:
            contact["user_id"] = user_id
        return self.send_message(user_id, {"contact": contact}, queue=queue)

    def send_photo(
        self, user_id: int, caption: str = "", *, chat_id: int | None = None, queue: bool = True
    ) -> dict[str, Any]:
        n = next(self._file_ids)
        sizes = [
            {
                "file_id": f"AgACfakephoto{n}s",
                "file_unique_id": f"ph{n}s",
                "width": 90,
                "height": 67,
            },
            {
                "file_id": f"AgACfakephoto{n}m",
                "file_unique_id": f"ph{n}m",
                "width": 800,
                "height": 600,
            },
        ]
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
        return self.send_message(user_id, content, chat_id=chat_id, queue=queue)

    def send_document(
        self,
        user_id: int,
        file_name: str = "hop-dong.pdf",
        caption: str = "",
        *,
        queue: bool = True,
    ) -> dict[str, Any]:
        n = next(self._file_ids)
        doc = {"file_id": f"BQACfakedoc{n}", "file_unique_id": f"doc{n}", "file_name": file_name}
        content: dict[str, Any] = {"document": doc}
        if caption:
            content["caption"] = caption
        return self.send_message(user_id, content, queue=queue)

    def send_sticker(self, user_id: int, *, queue: bool = True) -> dict[str, Any]:
        n = next(self._file_ids)
        sticker = {
            "file_id": f"CAACfakesticker{n}",
            "file_unique_id": f"st{n}",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
        }
        return self.send_message(user_id, {"sticker": sticker}, queue=queue)

    def send_message(
        self,
        user_id: int,
        content: dict[str, Any],
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str | None = None,
        last_name: str | None = None,
        thread_id: int | None = None,
        reply_to: Any = None,
        queue: bool = True,
    ) -> dict[str, Any]:
        """Any message content (``{"voice": {...}}``, ``{"location": {...}}``) from a user."""
        user = self.add_user(user_id, first_name, last_name)
        chat = self._user_chat(user_id, chat_id, chat_type)
        message = self._new_message(chat, user, content, thread_id, reply_to)
        return self._emit({"message": message}, queue)

    def press_button(
        self, user_id: int, message: Any, data: str, *, check: bool = True, queue: bool = True
    ) -> dict[str, Any]:
        """The user taps the inline button with ``data`` on a message the bot sent.

        ``check=False`` allows data the message has no button for (a stale or forged callback).
        """
        user = self.add_user(user_id)
        chat_id, message_id = _message_ref(message)
        stored = self.messages.get((chat_id, message_id))
        if stored is None or stored.get("from", {}).get("id") != self.bot_id:
            raise ValueError(f"no bot message {message_id} in chat {chat_id}")
        if check:
            rows = stored.get("reply_markup", {}).get("inline_keyboard", [])
            datas = [b.get("callback_data") for row in rows for b in row]
            if data not in datas:
                raise ValueError(f"message {message_id} has no button {data!r}; it has {datas}")
        query_id = str(next(self._callback_ids))
        self._open_callbacks.add(query_id)
        query = {
            "id": query_id,
            "from": user,
            "message": stored,
            "chat_instance": str(abs(hash((chat_id, self.bot_id))) % 10**18),
            "data": data,
        }
        return self._emit({"callback_query": query}, queue)

    def edit_text(self, user_id: int, message: Any, new_text: str, *, queue: bool = True) -> dict:
        """The user edits a text message they sent earlier: an ``edited_message`` update."""
        chat_id, message_id = _message_ref(message)
        stored = self.messages.get((chat_id, message_id))
        if stored is None or stored.get("from", {}).get("id") != user_id:
            raise ValueError(f"user {user_id} has no message {message_id} in chat {chat_id}")
        stored["text"] = new_text
        stored["edit_date"] = int(time.time())
        stored.pop("entities", None)
        return self._emit({"edited_message": dict(stored)}, queue)

    def make_update(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Wrap any update payload (``{"my_chat_member": ...}``) with the next update_id."""
        return self._emit(payload, queue=False)

    def enqueue(self, *updates: dict[str, Any]) -> None:
        """Queue updates for getUpdates in exactly this order (out-of-order ids allowed)."""
        for update in updates:
            self._queue.append((update, False))
        self._kick()

    def redeliver(self, update: dict[str, Any]) -> None:
        """Hand the same update out once more, as Telegram does when a confirmation is lost."""
        self._queue.append((update, True))
        self._kick()

    # ----------------------------------------------------------------- reading what was sent

    @property
    def pending_updates(self) -> int:
        """Updates not yet confirmed by a getUpdates offset (or not yet pushed to a webhook)."""
        return len(self._queue)

    def sent_to(self, chat_id: int | str, methods: Iterable[str] = MESSAGE_METHODS) -> list[Sent]:
        wanted = set(methods)
        return [s for s in self.sent if s.chat_id == int(chat_id) and s.method in wanted]

    async def wait_for(
        self,
        chat_id: int | str,
        count: int,
        timeout: float = 5,  # noqa: ASYNC109 - the test-facing API the brief asks for
        methods: Iterable[str] = MESSAGE_METHODS,
    ) -> list[Sent]:
        """Wait until the bot has sent ``count`` messages to the chat; return them all."""
        methods = set(methods)
        try:
            await self.wait_until(lambda: len(self.sent_to(chat_id, methods)) >= count, timeout)
        except TimeoutError:
            got = [(s.method, s.text[:60]) for s in self.sent_to(chat_id, methods)]
            raise TimeoutError(f"chat {chat_id}: wanted {count} messages, got {got}") from None
        return self.sent_to(chat_id, methods)

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5,  # noqa: ASYNC109 - mirrors wait_for
    ) -> None:
        """Wait until ``predicate()`` holds.

        It is re-checked after every change in the fake and every 20 ms, so predicates on the
        test's own records (a recording ``deliver``) work too.
        """
        async with asyncio.timeout(timeout):
            while not predicate():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.02):
                        await self._tick.wait()

    # ----------------------------------------------------------------- webhook driver

    async def deliver_webhook(
        self,
        url: str | None,
        update: dict[str, Any] | str | bytes,
        secret: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """POST one update like Telegram does; ``url=None`` uses the URL set by setWebhook.

        A str/bytes ``update`` is sent as the raw body (to test malformed JSON).
        """
        assert self._client is not None, "start the fake first"
        target = url or self.webhook.get("url")
        if not target:
            raise ValueError("no webhook URL given and none set by setWebhook")
        all_headers = {"Content-Type": "application/json"}
        if secret is not None:
            all_headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        all_headers.update(headers or {})
        body = update if isinstance(update, str | bytes) else json.dumps(update)
        async with self._client.post(target, data=body, headers=all_headers) as resp:
            return resp.status, await resp.text()

    async def _push_webhooks(self) -> None:
        """Deliver queued updates to the webhook one by one, retrying non-2xx answers."""
        attempts: dict[int, int] = {}
        while not self._closing and self.webhook.get("url"):
            if not self._queue:
                await self._tick.wait()
                continue
            update, _ = self._queue[0]
            uid = update["update_id"]
            try:
                status, _ = await self.deliver_webhook(None, update, self.webhook.get("secret"))
            except Exception as e:  # any failure counts as a failed delivery, as at Telegram
                status = 0
                self.webhook["last_error_message"] = f"{type(e).__name__}: {e}"
            self.webhook_log.append((uid, status))
            attempts[uid] = attempts.get(uid, 0) + 1
            if 200 <= status < 300 or attempts[uid] >= self._webhook_max_attempts:
                self._queue.pop(0)
            else:
                self.webhook["last_error_date"] = int(time.time())
                self.webhook.setdefault(
                    "last_error_message", f"Wrong response from the webhook: {status}"
                )
                await asyncio.sleep(self._webhook_retry_delay)

    # ----------------------------------------------------------------- internals

    def _user_chat(self, user_id: int, chat_id: int | None, chat_type: str) -> dict[str, Any]:
        if chat_id is None:
            if chat_type == "private":
                return self.chats[user_id]
            if chat_type not in self._default_groups:
                self._default_groups[chat_type] = self.create_chat(chat_type=chat_type)["id"]
            return self.chats[self._default_groups[chat_type]]
        if chat_id not in self.chats:
            return self.create_chat(
                chat_id, chat_type="supergroup" if chat_type == "private" else chat_type
            )
        return self.chats[chat_id]

    def _new_message(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        content: dict[str, Any],
        thread_id: int | None = None,
        reply_to: Any = None,
    ) -> dict[str, Any]:
        chat_id = chat["id"]
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": sender,
            "date": int(time.time()),
            "chat": chat,
        }
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            if chat.get("is_forum"):
                message["is_topic_message"] = True
                if reply_to is None and (chat_id, thread_id) in self.messages:
                    reply_to = (chat_id, thread_id)  # implicit reply to the topic's first message
        if reply_to is not None:
            ref = reply_to if isinstance(reply_to, tuple) else _message_ref(reply_to, chat_id)
            original = self.messages.get(ref)
            if original is None:
                raise ValueError(f"no message {ref[1]} in chat {ref[0]} to reply to")
            message["reply_to_message"] = {
                k: v for k, v in original.items() if k != "reply_to_message"
            }
        message.update(content)
        self.messages[(chat_id, message_id)] = message
        return message

    def _emit(self, payload: dict[str, Any], queue: bool) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **copy.deepcopy(payload)}
        self._self_check(update, ["Update"], "update")
        if queue:
            self.enqueue(update)
        return update

    def _kick(self) -> None:
        """Wake everything waiting on the fake (long polls, wait_for, the webhook pusher)."""
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    def _record(
        self, method: str, params: dict[str, Any], message: dict[str, Any] | None, **extra: Any
    ) -> None:
        markup = params.get("reply_markup")
        reply = params.get("reply_parameters") or {}
        self.sent.append(
            Sent(
                method=method,
                chat_id=int(params["chat_id"]),
                message_id=message["message_id"] if message else params.get("message_id"),
                text=params.get("text") or params.get("caption") or "",
                reply_markup=markup,
                thread_id=params.get("message_thread_id"),
                reply_to=reply.get("message_id"),
                params=params,
                message=copy.deepcopy(message),
                **extra,
            )
        )
        self._kick()

    def _target_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params["chat_id"]
        if isinstance(chat_id, str):
            if not chat_id.startswith("@"):
                raise _bad("chat not found")
            found = [c for c in self.chats.values() if c.get("username") == chat_id[1:]]
            if not found:
                raise _bad("chat not found")
            params["chat_id"] = found[0]["id"]
            return found[0]
        chat = self.chats.get(chat_id)
        if chat is None:
            raise _bad("chat not found")
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _check_thread(self, chat: dict[str, Any], thread_id: int | None) -> None:
        if thread_id is None:
            return
        if not chat.get("is_forum") or thread_id not in self.topics.get(chat["id"], {}):
            raise _bad("message thread not found")

    def _reply_target(self, chat: dict[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
        reply = params.get("reply_parameters")
        if not reply:
            return None
        source = reply.get("chat_id", chat["id"])
        original = self.messages.get((int(source), reply["message_id"]))
        if original is None and not reply.get("allow_sending_without_reply"):
            raise _bad("message to be replied not found")
        if original is None:
            return None
        return {k: v for k, v in original.items() if k != "reply_to_message"}

    def _check_markup(self, chat: dict[str, Any], markup: dict[str, Any] | None) -> None:
        if not markup or chat["type"] == "private":
            return
        for row in markup.get("keyboard", []):
            for button in row:
                if isinstance(button, dict) and button.get("request_contact"):
                    raise _bad("request_contact buttons work in private chats only", violation=True)

    def _bot_message(
        self, params: dict[str, Any], content: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        chat = self._target_chat(params)
        thread_id = params.get("message_thread_id")
        self._check_thread(chat, thread_id)
        markup = params.get("reply_markup")
        self._check_markup(chat, markup)
        replied = self._reply_target(chat, params)
        message = self._new_message(chat, self.bot_user, content, thread_id)
        if replied is not None:
            message["reply_to_message"] = replied
        elif thread_id is not None and (chat["id"], thread_id) in self.messages:
            topic_root = self.messages[(chat["id"], thread_id)]
            message["reply_to_message"] = {
                k: v for k, v in topic_root.items() if k != "reply_to_message"
            }
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        return chat, message

    # ----------------------------------------------------------------- Bot API methods

    async def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user

    async def _m_logOut(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_close(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook.get("url"):
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self.poll_count += 1
        limit = params.get("limit", 100)
        if not 1 <= limit <= 100:
            limit = 100
        if "allowed_updates" in params:
            self._allowed = frozenset(params["allowed_updates"]) or None
        offset = params.get("offset")
        if offset is not None and offset < 0:
            self._queue = self._queue[offset:]
        elif offset is not None:
            self._queue = [
                (u, forced) for u, forced in self._queue if forced or u["update_id"] >= offset
            ]

        def ready() -> bool:
            self._queue = [(u, f) for u, f in self._queue if self._wanted(u)]
            return bool(self._queue) or self._closing

        with contextlib.suppress(TimeoutError):
            await self.wait_until(ready, params.get("timeout", 0))
        batch = self._queue[:limit]
        handed_out = {id(entry) for entry in batch if entry[1]}
        self._queue = [entry for entry in self._queue if id(entry) not in handed_out]
        return [u for u, _ in batch]

    def _wanted(self, update: dict[str, Any]) -> bool:
        kind = next(k for k in update if k != "update_id")
        if self._allowed is None:
            return kind not in _NOT_DEFAULT_UPDATES
        return kind in self._allowed

    async def _m_setWebhook(self, params: dict[str, Any]) -> bool:
        url = params["url"]
        if url and not re.match(r"https://|http://127\.0\.0\.1[:/]", url):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook", violation=True)
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise _bad("secret token contains unallowed characters", violation=True)
        if params.get("drop_pending_updates"):
            self._queue.clear()
        if not url:
            self.webhook = {}
            return True
        self.webhook = {"url": url, "secret": secret, **params}
        if "allowed_updates" in params:
            self._allowed = frozenset(params["allowed_updates"]) or None
        if self._pusher is None or self._pusher.done():
            self._pusher = asyncio.get_running_loop().create_task(self._push_webhooks())
        return True

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {}
        if params.get("drop_pending_updates"):
            self._queue.clear()
        self._kick()
        return True

    async def _m_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        for key in ("max_connections", "allowed_updates", "last_error_date", "last_error_message"):
            if key in self.webhook:
                info[key] = self.webhook[key]
        return info

    async def _m_setMyCommands(self, params: dict[str, Any]) -> bool:
        for command in params["commands"]:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]):
                raise _bad(f"invalid command {command['command']!r}", violation=True)
        self.commands = params["commands"]
        return True

    async def _m_getMyCommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands

    async def _m_deleteMyCommands(self, params: dict[str, Any]) -> bool:
        self.commands = []
        return True

    async def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params["text"].strip():
            raise _bad("message text is empty", violation=True)
        _, message = self._bot_message(params, {"text": params["text"]})
        self._record("sendMessage", params, message)
        return message

    async def _m_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        photo = params["photo"]
        n = next(self._file_ids)
        sizes = [
            {"file_id": f"AgACbotphoto{n}", "file_unique_id": f"bp{n}", "width": 512, "height": 512}
        ]
        content: dict[str, Any] = {"photo": sizes}
        if params.get("caption"):
            content["caption"] = params["caption"]
        _, message = self._bot_message(params, content)
        data = photo.data if isinstance(photo, Upload) else None
        self._record("sendPhoto", params, message, photo=data)
        return message

    async def _m_copyMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        source = (
            self.chats.get(params["from_chat_id"])
            if isinstance(params["from_chat_id"], int)
            else None
        )
        original = self.messages.get((source["id"], params["message_id"])) if source else None
        if original is None:
            raise _bad("message to copy not found")
        content = {
            k: v
            for k, v in original.items()
            if k in ("text", "entities", "photo", "caption", "document", "sticker", "contact")
        }
        if "caption" in params and ("photo" in content or "document" in content):
            content["caption"] = params["caption"]
            if not params["caption"]:
                content.pop("caption")
        _, message = self._bot_message(params, content)
        record = dict(params, text=content.get("text") or content.get("caption") or "")
        self._record("copyMessage", record, message)
        return {"message_id": message["message_id"]}

    async def _m_sendChatAction(self, params: dict[str, Any]) -> bool:
        chat = self._target_chat(params)
        self._check_thread(chat, params.get("message_thread_id"))
        self.chat_actions.append(params)
        return True

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        query_id = params["callback_query_id"]
        if query_id not in self._open_callbacks:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        self._open_callbacks.discard(query_id)
        self.callback_answers.append(params)
        self._kick()
        return True

    def _editable(self, params: dict[str, Any]) -> dict[str, Any]:
        if "inline_message_id" in params:
            raise _bad("inline messages are not supported by the fake", violation=True)
        if "chat_id" not in params or "message_id" not in params:
            raise _bad(
                "chat_id and message_id are required without inline_message_id", violation=True
            )
        chat = self._target_chat(params)
        message = self.messages.get((chat["id"], params["message_id"]))
        if message is None:
            raise _bad("message to edit not found")
        if message["from"]["id"] != self.bot_id:
            raise _bad("message can't be edited")
        return message

    async def _m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        if "text" not in params:
            raise _bad("text is required (the fake has no rich messages)", violation=True)
        message = self._editable(params)
        markup = params.get("reply_markup")
        if message.get("text") == params["text"] and message.get("reply_markup") == markup:
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        message["text"] = params["text"]
        message["edit_date"] = int(time.time())
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        self._record("editMessageText", params, message)
        return message

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._editable(params)
        markup = params.get("reply_markup")
        if message.get("reply_markup") == markup:
            raise _bad("message is not modified")
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = int(time.time())
        self._record("editMessageReplyMarkup", dict(params, text=message.get("text", "")), message)
        return message

    async def _m_deleteMessage(self, params: dict[str, Any]) -> bool:
        chat = self._target_chat(params)
        if self.messages.pop((chat["id"], params["message_id"]), None) is None:
            raise _bad("message to delete not found")
        return True

    async def _m_createForumTopic(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(params)
        return self.create_topic(chat["id"], params["name"], params.get("icon_color", 7322096))

    def create_topic(self, chat_id: int, name: str, icon_color: int = 7322096) -> dict[str, Any]:
        """Open a topic in a forum supergroup (as createForumTopic does); returns the ForumTopic.

        The thread id is the id of the topic's service message, as on Telegram.
        """
        chat = self.chats[chat_id]
        if chat["type"] != "supergroup" or not chat.get("is_forum"):
            raise _bad("the chat is not a forum")
        created = {"forum_topic_created": {"name": name, "icon_color": icon_color}}
        service = self._new_message(chat, self.bot_user, created)
        service["message_thread_id"] = service["message_id"]
        service["is_topic_message"] = True
        topic = {"message_thread_id": service["message_id"], "name": name, "icon_color": icon_color}
        self.topics[chat_id][topic["message_thread_id"]] = {**topic, "closed": False}
        self._kick()
        return topic

    async def _m_closeForumTopic(self, params: dict[str, Any]) -> bool:
        return self._set_topic_closed(params, True)

    async def _m_reopenForumTopic(self, params: dict[str, Any]) -> bool:
        return self._set_topic_closed(params, False)

    def _set_topic_closed(self, params: dict[str, Any], closed: bool) -> bool:
        chat = self._target_chat(params)
        topic = self.topics.get(chat["id"], {}).get(params["message_thread_id"])
        if topic is None:
            raise _bad("message thread not found")
        if topic["closed"] == closed:
            raise _bad("TOPIC_NOT_MODIFIED")
        topic["closed"] = closed
        return True


# --------------------------------------------------------------------------- helpers


def _message_ref(message: Any, default_chat: int | None = None) -> tuple[int, int]:
    """(chat_id, message_id) from a Sent record, a Message dict, an update dict or an int."""
    if isinstance(message, Sent):
        assert message.message_id is not None
        return message.chat_id, message.message_id
    if isinstance(message, dict):
        for key in ("message", "edited_message"):
            if key in message:
                message = message[key]
                break
        return message["chat"]["id"], message["message_id"]
    if isinstance(message, int) and default_chat is not None:
        return default_chat, message
    raise TypeError(f"cannot find a message in {message!r}")


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, Upload], bool]:
    """Query string, then the body: JSON, url-encoded form or multipart (with file parts)."""
    params: dict[str, Any] = dict(request.query)
    files: dict[str, Upload] = {}
    ctype = request.content_type
    if not request.can_read_body:
        return params, files, True
    if ctype == "application/json":
        try:
            body = await request.json()
        except ValueError as e:
            raise ValueError(f"can't parse JSON: {e}") from e
        if not isinstance(body, dict):
            raise ValueError("JSON body must be an object")
        if params:
            raise ValueError("mixing query parameters with a JSON body")
        return body, files, False
    if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        post = await request.post()
        for key, value in post.items():
            if isinstance(value, web.FileField):
                upload = Upload(value.filename, value.file.read())
                files[key] = upload
                params[key] = upload
            else:
                params[key] = value
        return params, files, True
    raise ValueError(f"unsupported content type {ctype!r}")


def _reply_error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


__all__ = [
    "DEFAULT_TOKEN",
    "MESSAGE_METHODS",
    "SPEC_PATH",
    "ApiError",
    "Call",
    "FakeTelegram",
    "RateCap",
    "Refusal",
    "Sent",
    "SpecChecker",
    "SpecMissingError",
    "Upload",
    "load_spec",
    "skip_without_spec",
]
