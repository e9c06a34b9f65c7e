"""What both sides of the legal-centre relay use: its configuration, office hours, case views.

The worker's side (handlers/relay.py) and the centre's side (handlers/relay_staff.py) import
this module and never each other's internals the other way round, so there is no import circle.
Views take the services (texts, crypto, the typed config), not a conversation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime

from bot.config import ConfigError, ConfigReader
from bot.core.context import Ctx, JobContext, Services
from bot.core.payloads import Payload
from storage import cases as cases_repo
from storage.cases import EMPLOYER, LegalCase


@dataclass(frozen=True)
class CasePayload(Payload, prefix="case"):
    """``case:new``, ``case:more:<id>``, ``case:done:<id>``, ``case:rate:<id>:<score>``."""

    action: str
    case_id: int = 0
    score: int = 0


# -- configuration -------------------------------------------------------------------------


def _parse_time(value: str) -> time:
    hours, _, minutes = str(value).partition(":")
    return time(int(hours), int(minutes or 0))


@dataclass(frozen=True)
class OfficeHours:
    """When the legal centre works; all arithmetic on working time lives here.

    Days are ISO weekdays (1 = Monday). Datetimes in and out are aware; UTC is stored, the
    centre's local time decides what counts as working time.
    """

    tz: ZoneInfo
    days: frozenset[int]
    opens: time
    closes: time
    holidays: frozenset[date] = frozenset()

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        if day.isoweekday() not in self.days or day in self.holidays:
            return None
        start = datetime.combine(day, self.opens, self.tz)
        end = datetime.combine(day, self.closes, self.tz)
        return (start, end) if end > start else None

    def _days_from(self, at: datetime, limit: int = 400) -> list[date]:
        first = at.astimezone(self.tz).date()
        return [first + timedelta(days=i) for i in range(limit)]

    def is_open(self, at: datetime) -> bool:
        window = self._window(at.astimezone(self.tz).date())
        return window is not None and window[0] <= at < window[1]

    def next_open(self, at: datetime) -> datetime:
        """``at`` itself during office hours, else the start of the next working period."""
        for day in self._days_from(at):
            window = self._window(day)
            if window is None or at >= window[1]:
                continue
            return max(at, window[0])
        return at

    def add_working(self, at: datetime, hours: float) -> datetime:
        """The moment ``hours`` of working time after ``at``."""
        remaining = timedelta(hours=hours)
        for day in self._days_from(at):
            window = self._window(day)
            if window is None or at >= window[1]:
                continue
            start = max(at, window[0])
            available = window[1] - start
            if remaining <= available:
                return start + remaining
            remaining -= available
        return at + remaining

    def working_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time elapsed between two moments (zero if ``end`` is earlier)."""
        total = timedelta()
        if end <= start:
            return total
        span = (end.astimezone(self.tz).date() - start.astimezone(self.tz).date()).days + 1
        for day in self._days_from(start, min(span, 4000)):
            window = self._window(day)
            if window is None:
                continue
            lo, hi = max(start, window[0]), min(end, window[1])
            if hi > lo:
                total += hi - lo
        return total


@dataclass(frozen=True)
class LegalConfig:
    """``[legal]`` in config.toml, with CONGDOAN_LEGAL_GROUP / _TOPICS / _DUTY_LEAD from the env."""

    office: OfficeHours
    channel: str = "telegram"
    group_chat_id: str | None = None
    # Employers' questions go to their own group when one is set (else the same group, marked).
    employer_group_chat_id: str | None = None
    topics: bool = False
    duty_lead: str | None = None
    answer_within_hours: float = 4.0
    repost_after_hours: float = 4.0
    duty_lead_after_hours: float = 9.5
    retention_days: int = 365  # after closing, a case's words are wiped (said in the notice)

    SECTION = "legal"

    @classmethod
    def from_config(cls, reader: ConfigReader) -> Self:
        zone = reader.text("timezone", "Asia/Ho_Chi_Minh")
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(reader.key("timezone"), zone, "một múi giờ, ví dụ "
                              '"Asia/Ho_Chi_Minh"') from None  # fmt: skip
        days = reader.items("office_days", [1, 2, 3, 4, 5])
        if not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in days):
            raise ConfigError(
                reader.key("office_days"), days, "các thứ trong tuần từ 1 (thứ Hai) đến 7"
            )
        office = OfficeHours(
            tz=tz,
            days=frozenset(days),
            opens=_read_time(reader, "office_opens", "07:30"),
            closes=_read_time(reader, "office_closes", "17:00"),
            holidays=frozenset(_read_date(reader, d) for d in reader.items("holidays")),
        )
        group = reader.override("CONGDOAN_LEGAL_GROUP") or reader.text("group_chat_id") or None
        employer_group = (
            reader.override("CONGDOAN_LEGAL_EMPLOYER_GROUP")
            or reader.text("employer_group_chat_id")
            or None
        )
        topics_env = reader.override("CONGDOAN_LEGAL_TOPICS")
        topics = reader.flag("topics", False, topics_env) if topics_env else reader.flag("topics")
        duty = reader.override("CONGDOAN_LEGAL_DUTY_LEAD") or reader.text("duty_lead") or None
        return cls(
            office=office,
            channel=reader.text("channel", "telegram"),
            group_chat_id=group,
            employer_group_chat_id=employer_group,
            topics=topics,
            duty_lead=duty,
            answer_within_hours=reader.number("answer_within_hours", 4),
            repost_after_hours=reader.number("repost_after_hours", 4),
            duty_lead_after_hours=reader.number("duty_lead_after_hours", 9.5),
            retention_days=reader.integer("retention_days", 365, minimum=1),
        )


def group_for(cfg: LegalConfig, audience: str) -> str | None:
    """The staff group a case of this audience is posted to."""
    if audience == EMPLOYER and cfg.employer_group_chat_id:
        return cfg.employer_group_chat_id
    return cfg.group_chat_id


def staff_groups(cfg: LegalConfig) -> set[str]:
    return {g for g in (cfg.group_chat_id, cfg.employer_group_chat_id) if g}


def _read_time(reader: ConfigReader, name: str, default: str) -> time:
    value = reader.get(name, default)
    try:
        return _parse_time(value)
    except (TypeError, ValueError):
        raise ConfigError(reader.key(name), value, 'giờ trong ngày, ví dụ "07:30"') from None


def _read_date(reader: ConfigReader, value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(reader.key("holidays"), value, 'ngày dạng "2027-01-01"') from None


def legal_config(ctx: Ctx | JobContext | Services) -> LegalConfig:
    services = ctx if isinstance(ctx, Services) else ctx.services
    return services.config(LegalConfig)


def fmt_when(value: datetime, tz: ZoneInfo) -> str:
    """ "07:30 Thứ Hai 30/11/2026": the weekday helps a worker more than the date alone."""
    return format_datetime(value, "HH:mm EEEE dd/MM/yyyy", tzinfo=tz, locale="vi_VN")


# -- small helpers of both sides -----------------------------------------------------------


def decrypt(services: Services, token: str | None) -> str:
    return services.crypto.decrypt(token) if token else ""


def stash_media(ctx: Ctx, store: list[dict[str, Any]]) -> None:
    """Remember where a worker's photo is, so it can be copied to the staff group later."""
    inbound = ctx.inbound
    store.append(
        {
            "channel": inbound.channel,
            "chat_id": inbound.address.chat_id,
            "message_id": inbound.message_id,
            "media": list(inbound.media),
            "caption": inbound.text or "",
        }
    )


def record_inbound(
    ctx: Ctx, case: LegalCase, direction: str, author_id: str | None = None
) -> cases_repo.CaseMessage:
    """Store the message being handled (text encrypted, media ids, its origin) on the case."""
    inbound = ctx.inbound
    return cases_repo.add_message(
        ctx.session,
        case,
        direction=direction,
        now=ctx.now,
        author_id=author_id,
        body_enc=ctx.services.crypto.encrypt(inbound.text) if inbound.text else None,
        media=list(inbound.media),
        source_channel=inbound.channel,
        source_chat_id=inbound.address.chat_id,
        source_message_id=inbound.message_id,
    )


def rating_request(services: Services, case: LegalCase) -> tuple[str, list[tuple[str, str]]]:
    """The message asking the worker to rate a closed case, and its five buttons."""
    text = services.texts("relay.rate.ask", number=case.number)
    return text, [(f"{n} ⭐", CasePayload("rate", case.id, n).pack()) for n in range(1, 6)]
