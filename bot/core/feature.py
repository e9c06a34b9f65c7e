"""What a feature declares, and how the composition root puts the declarations together.

A feature module in ``handlers/`` exposes ``register() -> Feature``: a plain value listing its
commands, button payload prefixes, flows, free-text handlers (with an explicit priority), group
handlers, jobs, delivery hooks, personal-data providers, form validators and submitters, web
routes, CLI commands and the named hooks it offers other features (``Hooks``). Nothing is
mutated at registration, so ``compose`` can see every claim at once and refuse to start when
two features claim the same command, payload prefix, flow, route, CLI command or hook — naming
both, which is the message an operator needs when a new feature is added.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.core.context import Ctx, DeliveryHook, Hooks, JobRun, PersonalData

if TYPE_CHECKING:
    from bot.core.form_contract import MediaOption, Submit, Validator

Handler = Callable[["Ctx"], Awaitable[Any]]

# Free-text handlers run from the lowest priority number up; ties keep the order of FEATURES.
PRIORITY_COMMAND_WORDS = 5  # commands typed without the slash ("lienket 123456")
PRIORITY_CODES = 10  # exact codes ("MA K7M2QX", linking codes): before anything reads text
PRIORITY_INTENT = 50  # narrow phrases of one feature (a join request, an open case)
PRIORITY_FAQ = 90  # the FAQ matcher takes almost any question: last


class StartupError(Exception):
    """The bot cannot start as configured; the message says what to change."""


@dataclass(frozen=True)
class TextHandler:
    handle: Handler
    priority: int = PRIORITY_INTENT


@dataclass(frozen=True)
class Job:
    """A periodic job: ``run(job_ctx)`` every ``seconds``; tests call ``App.run_job(name)``."""

    name: str
    seconds: float
    run: JobRun


@dataclass(frozen=True)
class WebRoute:
    """An HTTP route on the bot's aiohttp application (dashboard pages, verify pages).

    The handler reads the services from ``request.app[bot.web.SERVICES_KEY]``."""

    method: str
    path: str
    handler: Callable[..., Awaitable[Any]]
    # A plain page for a feature that must not import aiohttp: ``handler(services, params,
    # client)`` returns an object with ``status``, ``content_type`` and ``body`` (bot/web.py).
    plain: bool = False


@dataclass(frozen=True)
class CliCommand:
    """A ``congdoan-bot NAME`` sub-command: ``add_arguments(parser)`` then ``run(args)``."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Feature:
    """Everything one feature adds to the bot. Every field is optional."""

    name: str
    commands: dict[str, Handler] = field(default_factory=dict)
    payloads: dict[str, Handler] = field(default_factory=dict)
    flows: dict[str, Handler] = field(default_factory=dict)
    text: tuple[TextHandler, ...] = ()
    group: tuple[Handler, ...] = ()
    jobs: tuple[Job, ...] = ()
    delivery_hooks: dict[str, DeliveryHook] = field(default_factory=dict)
    personal_data: tuple[PersonalData, ...] = ()
    validators: dict[str, Validator] = field(default_factory=dict)
    submitters: dict[str, Submit] = field(default_factory=dict)
    form_media: dict[str, MediaOption] = field(default_factory=dict)
    web_routes: tuple[WebRoute, ...] = ()
    # functions given the staff dashboard (bot.dashboard.site.Dashboard) to declare its pages
    dashboard_pages: tuple[Callable[[Any], None], ...] = ()
    cli_commands: tuple[CliCommand, ...] = ()
    offers: dict[str, Any] = field(default_factory=dict)
    config: tuple[type, ...] = ()  # typed config sections, validated at start-up
    first_contact: Handler | None = None
    fallback: Handler | None = None
    placeholders: dict[str, Handler] = field(default_factory=dict)  # taken only if unclaimed


@dataclass
class Composition:
    """The features put together: what the engine routes and the app runs."""

    features: tuple[Feature, ...]
    commands: dict[str, Handler] = field(default_factory=dict)
    payloads: dict[str, Handler] = field(default_factory=dict)
    flows: dict[str, Handler] = field(default_factory=dict)
    text: list[Handler] = field(default_factory=list)
    group: list[Handler] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    delivery_hooks: dict[str, DeliveryHook] = field(default_factory=dict)
    personal_data: list[PersonalData] = field(default_factory=list)
    validators: dict[str, Validator] = field(default_factory=dict)
    submitters: dict[str, Submit] = field(default_factory=dict)
    form_media: dict[str, MediaOption] = field(default_factory=dict)
    web_routes: list[WebRoute] = field(default_factory=list)
    dashboard_pages: list[tuple[str, Callable[[Any], None]]] = field(default_factory=list)
    cli_commands: dict[str, CliCommand] = field(default_factory=dict)
    hooks: Hooks = field(default_factory=Hooks)
    config: list[type] = field(default_factory=list)
    first_contact: Handler | None = None
    fallback: Handler | None = None


class _Claims:
    """Who claimed each name of one kind, so a second claim can name the first."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.owner: dict[str, str] = {}

    def claim(self, name: str, feature: str) -> None:
        first = self.owner.setdefault(name, feature)
        if first != feature:
            raise StartupError(
                f"{self.kind} {name!r} được hai tính năng khai báo: {first} và {feature}. "
                "Đổi tên ở một bên, hoặc bỏ một tính năng khỏi FEATURES."
            )


def _take(claims: _Claims, target: dict[str, Any], items: dict[str, Any], feature: str) -> None:
    for name, value in items.items():
        claims.claim(name, feature)
        target[name] = value


def compose(features: Iterable[Feature]) -> Composition:
    """Put the features together in order, refusing duplicate claims (``StartupError``)."""
    found = tuple(features)
    comp = Composition(found)
    claims = {
        kind: _Claims(label)
        for kind, label in (
            ("command", "Lệnh"),
            ("payload", "Tiền tố nút bấm"),
            ("flow", "Luồng hội thoại"),
            ("route", "Đường dẫn web"),
            ("cli", "Lệnh dòng lệnh"),
            ("hook", "Móc nối"),
            ("delivery", "Tiền tố thẻ giao nhận"),
            ("job", "Việc định kỳ"),
            ("validator", "Bộ kiểm tra biểu mẫu"),
            ("submit", "Bước gửi biểu mẫu"),
            ("media", "Tuỳ chọn ảnh của biểu mẫu"),
            ("singleton", "Phần"),
        )
    }
    texts: list[tuple[int, int, Handler]] = []
    for position, feature in enumerate(found):
        name = feature.name
        if any(f.name == name for f in found[:position]):
            raise StartupError(f"Tính năng {name!r} có hai lần trong FEATURES.")
        _take(claims["command"], comp.commands, {k.lower(): v for k, v in feature.commands.items()},
              name)  # fmt: skip
        _take(claims["payload"], comp.payloads, feature.payloads, name)
        _take(claims["flow"], comp.flows, feature.flows, name)
        _take(claims["delivery"], comp.delivery_hooks, feature.delivery_hooks, name)
        _take(claims["validator"], comp.validators, feature.validators, name)
        _take(claims["submit"], comp.submitters, feature.submitters, name)
        _take(claims["media"], comp.form_media, feature.form_media, name)
        routes = {f"{r.method.upper()} {r.path}": r for r in feature.web_routes}
        _take(claims["route"], {}, routes, name)
        comp.web_routes += feature.web_routes
        comp.dashboard_pages += [(name, add) for add in feature.dashboard_pages]
        _take(claims["cli"], comp.cli_commands, {c.name: c for c in feature.cli_commands}, name)
        _take(claims["job"], {}, {j.name: j for j in feature.jobs}, name)
        comp.jobs += feature.jobs
        texts += [(t.priority, len(texts) + i, t.handle) for i, t in enumerate(feature.text)]
        comp.group += feature.group
        comp.personal_data += feature.personal_data
        comp.config += [c for c in feature.config if c not in comp.config]
        for hook, value in feature.offers.items():
            if hook not in Hooks.names():
                known = ", ".join(sorted(Hooks.names()))
                raise StartupError(f"{name} đưa ra móc nối lạ {hook!r}; các móc nối có: {known}")
            if hook in ("arrival", "status", "admitted"):
                getattr(comp.hooks, hook).append(value)
                continue
            if hook == "start_links":
                for word, handler in value.items():
                    claims["hook"].claim(f"start_links.{word}", name)
                    comp.hooks.start_links[word] = handler
                continue
            claims["hook"].claim(hook, name)
            setattr(comp.hooks, hook, value)
        if feature.first_contact is not None:
            claims["singleton"].claim("chào người nhắn lần đầu", name)
            comp.first_contact = feature.first_contact
        if feature.fallback is not None:
            claims["singleton"].claim("trả lời khi không ai nhận tin", name)
            comp.fallback = feature.fallback
    for feature in found:
        for prefix, handler in feature.placeholders.items():
            comp.payloads.setdefault(prefix, handler)
    comp.text = [handler for _, _, handler in sorted(texts, key=lambda t: (t[0], t[1]))]
    return comp
