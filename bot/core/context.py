"""What a handler, a job and a feature are given: the context of one event, the services.

Every feature module imports these; the engine, the form runner, the answers and the feature
declarations import them too, and this module imports none of those. That is what keeps the
core free of import circles, also of the kind a type checker follows (``TYPE_CHECKING``).

``Ctx`` is one event's context (the event, the person, their state, ways to answer), built by
the engine for every handler. ``JobContext`` is what a job or a delivery hook sees. ``Services``
are built once by ``build_app`` and typed: handlers reach them as ``ctx.services.crypto``, jobs
as ``job.services.crypto``, attributes rather than string lookups, so a reader sees what a
feature depends on. Per-feature configuration is read through ``config(SomeConfig)``: each
config class parses and validates its own config.toml table once, at start-up. ``Hooks`` are
the entry points one feature offers the others, by name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import cached_property
from typing import Any, ClassVar, Protocol, Self, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import ConfigReader, Settings
from bot.core.areas import AreaIndex
from bot.core.events import (
    Address,
    Choice,
    Choices,
    Inbound,
    Outgoing,
    Receipt,
    Text,
    content_to_json,
)
from bot.core.matcher import Matcher, build_matcher
from bot.core.roles import Roles, Who
from bot.core.texts import Texts
from storage import outbox as outbox_repo
from storage import reports
from storage.crypto import DataCipher
from storage.db import Database

Handler = Callable[["Ctx"], Awaitable[list[Outgoing] | None]]
DeliveryHook = Callable[["JobContext", AsyncSession, Outgoing, Receipt], Awaitable[None]]
JobRun = Callable[["JobContext"], Awaitable[None]]
Clock = Callable[[], datetime]


def enqueue_outgoing(session: AsyncSession, outs: list[Outgoing], due_at: datetime) -> None:
    """Write messages to the outbox in the caller's transaction: jobs and delivery hooks that
    run outside a conversation use this too, so every notification survives a crash alike."""
    for out in outs:
        outbox_repo.enqueue(
            session,
            channel=out.address.channel,
            chat_id=out.address.chat_id,
            thread_id=out.address.thread_id,
            content=content_to_json(out.content),
            tag=out.tag,
            due_at=due_at,
        )


@dataclass
class Ctx:
    """What a handler sees: the event, the person, their state, and ways to answer."""

    inbound: Inbound
    contact_id: int
    session: AsyncSession
    texts: Texts
    now: datetime
    services: Services
    flow: str | None = None
    step: str | None = None
    flow_version: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    notifications: list[Outgoing] = field(default_factory=list)
    first_contact: bool = False

    @property
    def address(self) -> Address:
        return self.inbound.address

    @property
    def who(self) -> Who:
        """The sender's account, as the roles service asks about it."""
        return Who(self.inbound.channel, self.inbound.user_id)

    def t(self, key: str, **params: Any) -> str:
        return self.texts(key, **params)

    def say(self, key: str, **params: Any) -> Outgoing:
        return Outgoing(self.address, Text(self.texts(key, **params)))

    def text(self, text: str) -> Outgoing:
        return Outgoing(self.address, Text(text))

    def choices(self, text: str, options: list[tuple[str, str]]) -> Outgoing:
        return Outgoing(self.address, Choices(text, tuple(Choice(lbl, p) for lbl, p in options)))

    def start_flow(self, flow: str, step: str | None, data: dict[str, Any] | None = None,
                   version: int = 0) -> None:  # fmt: skip
        self.flow, self.step, self.flow_version = flow, step, version
        self.data = {k: v for k, v in self.data.items() if k.startswith("_")} | (data or {})

    def clear_flow(self) -> None:
        self.flow, self.step, self.flow_version = None, None, 0
        self.data = {k: v for k, v in self.data.items() if k.startswith("_")}

    def notify(self, out: Outgoing) -> None:
        """Send to someone else (staff, a volunteer, this worker later) through the outbox."""
        self.notifications.append(out)


@dataclass
class JobContext:
    """What a job or a delivery hook sees: the services, the time, and a way to notify.

    Jobs and hooks run outside any conversation; they open their own transactions and queue
    messages with ``enqueue``, which wakes the outbox sender once the work is done."""

    services: Services
    now: datetime
    queued: bool = False

    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def texts(self) -> Texts:
        return self.services.texts

    def t(self, key: str, **params: Any) -> str:
        return self.services.texts(key, **params)

    def enqueue(self, session: AsyncSession, outs: list[Outgoing]) -> None:
        """Queue messages in the caller's transaction (sent after it commits)."""
        enqueue_outgoing(session, outs, self.now)
        self.queued = self.queued or bool(outs)


@dataclass
class Hooks:
    """Entry points one feature offers the others, by name (``Feature.offers``).

    A feature that needs one reads ``ctx.services.hooks.start_join`` and copes with None (the
    offering feature is not wired in), so features never import or probe each other."""

    start_join: Handler | None = None  # join: consent notice, then the join form
    start_report: Handler | None = None  # leads: the "report an enterprise" form
    # announcements: the topics to subscribe to ("Nhận tin công đoàn", payload NEWS_START)
    subscribe: Handler | None = None
    # relay: (ctx, question, audience="worker" | "employer"; by default the track's)
    start_question: Callable[..., Awaitable[Any]] | None = None
    # employer: is this chat in the employer track? Its questions are then employer cases,
    # however the legal centre was reached ("Hỏi tư vấn viên" in the menu or after an answer).
    in_employer_track: Callable[[Ctx], bool] | None = None
    start_payload: Callable[[Ctx, str], Awaitable[Any]] | None = None  # /start <args>: referral
    faq: Handler | None = None  # ask: the FAQ answers free text (and routes join/lead intents)
    arrival: list[Handler] = field(default_factory=list)  # extra replies on a first message
    # /start <word> deep links that open a feature (employer: "/start employer"), by word
    start_links: dict[str, Handler] = field(default_factory=dict)
    # /trangthai: each returns the lines about one kind of request (applications, cases)
    status: list[Callable[[Ctx], Awaitable[list[str]]]] = field(default_factory=list)
    # After an application is admitted (chat or dashboard): ``hook(session, services, app, now)``
    # returns messages for the member (card: the membership card)
    admitted: list[Callable[..., Awaitable[Any]]] = field(default_factory=list)

    @classmethod
    def names(cls) -> set[str]:
        return {f.name for f in fields(cls)}


class PersonalData(Protocol):
    """What a feature holds about a worker, for /dulieucuatoi, /rutdongy and /xoadulieu."""

    async def describe(self, ctx: Ctx) -> list[str]:
        """Lines the worker reads: what is held (decrypted for them alone)."""
        ...

    async def withdraw(self, ctx: Ctx) -> bool:
        """Stop processing; True when something was stopped."""
        ...

    async def erase(self, ctx: Ctx) -> None:
        """Delete (or anonymise what the law says to keep)."""
        ...


class FormService(Protocol):
    """The form runner (``bot.core.forms.FormRunner``) as features use it."""

    async def start(
        self, ctx: Ctx, name: str, prefill: dict[str, tuple[Any, str]] | None = None
    ) -> list[Outgoing]:
        """Open form ``name`` (answers in ``prefill`` are taken as given) and ask its first
        question."""
        ...

    def resume(self, ctx: Ctx) -> list[Outgoing]:
        """Ask again where the active form stands."""
        ...

    def edited(self, ctx: Ctx) -> list[Outgoing]:
        """An edited message while a form waits: never taken as the answer."""
        ...

    def in_form(self, ctx: Ctx) -> Any | None:
        """The form the person is filling in, if any."""
        ...

    def offer_resume(self, ctx: Ctx) -> list[Outgoing]:
        """ "Tiếp tục" or "Bỏ đơn" for a half-filled form."""
        ...


class FeatureConfig(Protocol):
    """A feature's typed configuration: one config.toml table, validated at start-up."""

    SECTION: ClassVar[str]

    @classmethod
    def from_config(cls, reader: ConfigReader) -> Self: ...


C = TypeVar("C", bound=FeatureConfig)


@dataclass
class Services:
    settings: Settings
    db: Database
    texts: Texts
    crypto: DataCipher
    areas: AreaIndex
    forms: FormService
    roles: Roles
    clock: Clock  # aware datetime; the engine's clock, so tests can move it
    personal_data: list[PersonalData] = field(default_factory=list)
    hooks: Hooks = field(default_factory=Hooks)
    # The channel adapters by name (``send`` and ``capabilities``), set by build_app: for work
    # that sends on its own schedule with its own exactly-once bookkeeping (announcements).
    channels: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] | None = None  # None: the process environment
    _configs: dict[type, Any] = field(default_factory=dict)
    # table -> the keys its config class read: what is left in config.toml is a misspelling
    read_keys: dict[str, set[str]] = field(default_factory=dict)
    # content/areas.csv as loaded, and the dashboard's mapping last laid over it (areas_now).
    file_areas: AreaIndex | None = None
    _area_mapping: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.file_areas is None:
            self.file_areas = self.areas

    async def areas_now(self, session: AsyncSession) -> AreaIndex:
        """``areas`` with the commune → union body mapping as stored now.

        The mapping is edited on the dashboard, perhaps served by another process: whoever
        routes an application, a correction or an employer's request by its area reads the
        table here first (at most 114 rows), so an edit takes effect in every process at once.
        ``areas`` is replaced only when the mapping changed."""
        mapping = await reports.area_mapping(session)
        if mapping != self._area_mapping:
            assert self.file_areas is not None
            self.areas = self.file_areas.with_union_bodies(mapping)
            self._area_mapping = mapping
        return self.areas

    def config(self, kind: type[C]) -> C:
        """The feature's configuration, parsed once (``ConfigError`` on a bad value)."""
        found = self._configs.get(kind)
        if found is None:
            reader = ConfigReader(kind.SECTION, self.settings, self.env)
            found = kind.from_config(reader)
            self._configs[kind] = found
            self.read_keys.setdefault(kind.SECTION, set()).update(reader.read)
        return found  # type: ignore[no-any-return]

    def section(self, name: str) -> Any | None:
        """The parsed configuration of a config.toml table, by its name, for core code that
        reports across features without importing them (e.g. office hours in the quarterly
        figures); None when no composed feature declares that table."""
        return next((c for k, c in self._configs.items() if k.SECTION == name), None)

    def set_config(self, value: Any) -> None:
        """Replace a feature's configuration (tests and benchmarks that vary one value)."""
        self._configs[type(value)] = value

    @cached_property
    def matcher(self) -> Matcher:
        """The FAQ matcher, built on first use (the FAQ feature and the CLI need it)."""
        return build_matcher(self.settings.content_dir)

    def now(self) -> datetime:
        return self.clock()
