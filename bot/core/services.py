"""The services every feature may use, built once by ``build_app`` and typed.

Handlers reach them as ``ctx.services.crypto``, jobs and delivery hooks as
``job.services.crypto``: attributes, not string lookups, so a reader (and a type checker) sees
what a feature depends on. Per-feature configuration is read through ``config(SomeConfig)``:
each config class parses and validates its own config.toml table once, at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, TypeVar

from bot.config import ConfigReader, Settings
from bot.core.answers import build_matcher
from bot.core.areas import AreaIndex
from bot.core.feature import Hooks
from bot.core.matcher import Matcher
from bot.core.roles import Roles
from bot.core.texts import Texts
from storage import reports
from storage.crypto import DataCipher
from storage.db import Database

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.core.engine import Ctx
    from bot.core.forms import FormRunner


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
    forms: FormRunner
    roles: Roles
    clock: Any  # () -> aware datetime; the engine's clock, so tests can move it
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
        return self.clock()  # type: ignore[no-any-return]
