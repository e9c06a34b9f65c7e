"""The worker's side of the legal-centre relay: the question form, follow-ups, ratings.

"Hỏi tư vấn viên" runs content/flows/question.toml (question, optional workplace, named or
anonymous, name and phone only when named, confirmation). On "Gửi" a case ``TV-<year>-<6 digits>``
is stored and posted to the staff group (handlers/relay_staff.py); the worker learns when to
expect an answer from the centre's office hours, and outside them when it opens and the hotline.
Photos sent during the form are attached to the case.

After a lawyer answers, the case waits for the worker: their next text goes back to the same case
(and forum topic), and from then on they stay in a small "case_more" conversation until they press
"Xong" or open the menu. "Gửi thêm thông tin" / "Hỏi thêm" enter that conversation explicitly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from bot.core.engine import Ctx, Engine, Handler
from bot.core.events import Kind, Outgoing
from bot.core.forms import FormRunner, Invalid, Result, Valid
from bot.core.validators import Rejected, display_phone, normalise_person_name, normalise_phone
from storage import cases as cases_repo
from storage.cases import LegalCase

log = logging.getLogger(__name__)

FORM = "question"
MORE_FLOW = "case_more"
QUESTION_MIN_WORDS = 3
QUESTION_MAX_CHARS = 1500
WORKPLACE_MAX_CHARS = 200
MAX_FORM_MEDIA = 10

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


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


@dataclass(frozen=True)
class LegalConfig:
    """``[legal]`` in config.toml, with CONGDOAN_LEGAL_GROUP / _TOPICS / _DUTY_LEAD from the env."""

    office: OfficeHours
    channel: str = "telegram"
    group_chat_id: str | None = None
    topics: bool = False
    duty_lead: str | None = None
    answer_within_hours: float = 4.0
    repost_after_hours: float = 4.0
    duty_lead_after_hours: float = 9.5

    @classmethod
    def from_extra(cls, extra: Any) -> LegalConfig:
        raw = dict(extra.get("legal") or {})
        tz = ZoneInfo(str(raw.get("timezone", "Asia/Ho_Chi_Minh")))
        office = OfficeHours(
            tz=tz,
            days=frozenset(int(d) for d in raw.get("office_days", [1, 2, 3, 4, 5])),
            opens=_parse_time(raw.get("office_opens", "07:30")),
            closes=_parse_time(raw.get("office_closes", "17:00")),
            holidays=frozenset(date.fromisoformat(str(d)) for d in raw.get("holidays", [])),
        )
        group = extra.get("congdoan_legal_group") or raw.get("group_chat_id") or None
        topics = extra.get("congdoan_legal_topics", raw.get("topics", False))
        duty = extra.get("congdoan_legal_duty_lead") or raw.get("duty_lead") or None
        return cls(
            office=office,
            channel=str(raw.get("channel", "telegram")),
            group_chat_id=str(group) if group else None,
            topics=_as_bool(topics),
            duty_lead=str(duty) if duty else None,
            answer_within_hours=float(raw.get("answer_within_hours", 4)),
            repost_after_hours=float(raw.get("repost_after_hours", 4)),
            duty_lead_after_hours=float(raw.get("duty_lead_after_hours", 9.5)),
        )


def legal_config(ctx_or_engine: Ctx | Engine) -> LegalConfig:
    return ctx_or_engine.services["legal"]  # type: ignore[no-any-return]


def fmt_when(value: datetime, tz: ZoneInfo) -> str:
    """ "07:30 Thứ Hai 30/11/2026": the weekday helps a worker more than the date alone."""
    return format_datetime(value, "HH:mm EEEE dd/MM/yyyy", tzinfo=tz, locale="vi_VN")


# -- small helpers shared with relay_staff -------------------------------------------------


def crypto_of(services: dict[str, Any]) -> Any:
    return services["crypto"]


def decrypt(services: dict[str, Any], token: str | None) -> str:
    return crypto_of(services).decrypt(token) if token else ""


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
        body_enc=crypto_of(ctx.services).encrypt(inbound.text) if inbound.text else None,
        media=list(inbound.media),
        source_channel=inbound.channel,
        source_chat_id=inbound.address.chat_id,
        source_message_id=inbound.message_id,
    )


# -- the question form ---------------------------------------------------------------------


async def validate_question(ctx: Ctx, text: str) -> Result:
    text = text.strip()
    if len(text.split()) < QUESTION_MIN_WORDS:
        return Invalid("relay.form.question.too_short")
    if len(text) > QUESTION_MAX_CHARS:
        return Invalid("relay.form.question.too_long", {"limit": QUESTION_MAX_CHARS})
    return Valid(text, text)


async def validate_workplace(ctx: Ctx, text: str) -> Result:
    text = " ".join(text.split())
    if not text:
        return Invalid("form.need_text")
    if len(text) > WORKPLACE_MAX_CHARS:
        return Invalid("form.too_long", {"limit": WORKPLACE_MAX_CHARS})
    return Valid(text, text)


async def validate_name(ctx: Ctx, text: str) -> Result:
    try:
        name = normalise_person_name(text)
    except Rejected as exc:
        if exc.reason == "too_short":
            return Invalid("relay.form.name.too_short")
        return Invalid("relay.form.name.invalid")
    return Valid(name, name)


async def validate_phone(ctx: Ctx, text: str) -> Result:
    try:
        phone = normalise_phone(text)
    except Rejected as exc:
        if exc.reason == "landline":
            return Invalid("relay.form.phone.landline")
        if exc.reason == "old_11_digits":
            return Invalid("relay.form.phone.old")
        return Invalid("relay.form.phone.invalid")
    return Valid(phone, display_phone(phone))


async def start_question(ctx: Ctx, question: str | None = None) -> list[Outgoing]:
    """Open the question form; a question the worker already typed is filled in for them."""
    runner: FormRunner = ctx.services["forms"]
    ctx.data.pop("_q_media", None)
    prefill: dict[str, tuple[Any, str]] = {}
    if question:
        result = await validate_question(ctx, question)
        if isinstance(result, Valid):
            prefill["question"] = (result.value, result.shown)
    if not prefill:
        return await runner.start(ctx, FORM)
    said = ctx.say("relay.form.prefilled", question=prefill["question"][1])
    return [said, *await runner.start(ctx, FORM, prefill=prefill)]


def wrap_form_for_media(inner: Handler) -> Handler:
    """Photos of documents may arrive at any step: keep them for the case, then carry on."""

    async def handle(ctx: Ctx) -> list[Outgoing] | None:
        inbound = ctx.inbound
        if inbound.kind is not Kind.MEDIA:
            return await inner(ctx)
        store = list(ctx.data.get("_q_media") or [])
        if len(store) >= MAX_FORM_MEDIA:
            return [ctx.say("relay.media.too_many", limit=MAX_FORM_MEDIA)]
        stash_media(ctx, store)
        ctx.data["_q_media"] = store
        if inbound.text and ctx.step == "question":
            # A photo with a caption at the first step: the caption is the question.
            ctx.inbound = replace(inbound, kind=Kind.TEXT)
        else:
            ctx.step = None  # the runner re-asks where the form stands
            ctx.data.pop("_editing", None)
        return [ctx.say("relay.media.got", count=len(store)), *(await inner(ctx) or [])]

    return handle


async def submit_question(ctx: Ctx, values: dict[str, Any]) -> list[Outgoing]:
    """Store the case, post it to the staff group, tell the worker the number and the timing."""
    from handlers import relay_staff

    cfg = legal_config(ctx)
    crypto = crypto_of(ctx.services)
    named = values.get("share") == "named"
    name = values.get("name") if named else None
    phone = values.get("phone") if named else None
    workplace = values.get("workplace")
    local_year = ctx.now.astimezone(cfg.office.tz).year
    case = await cases_repo.create_case(
        ctx.session,
        contact_id=ctx.contact_id,
        channel=ctx.inbound.channel,
        chat_id=ctx.address.chat_id,
        question_enc=crypto.encrypt(str(values["question"])),
        workplace_enc=crypto.encrypt(str(workplace)) if workplace else None,
        name_enc=crypto.encrypt(str(name)) if name else None,
        phone_enc=crypto.encrypt(str(phone)) if phone else None,
        phone_hash=crypto.lookup_hash(str(phone)) if phone else None,
        year=local_year,
        now=ctx.now,
        staff_channel=cfg.channel if cfg.group_chat_id else None,
        staff_chat_id=cfg.group_chat_id,
    )
    for item in ctx.data.pop("_q_media", None) or []:
        cases_repo.add_message(
            ctx.session,
            case,
            direction="worker",
            now=ctx.now,
            body_enc=crypto.encrypt(item["caption"]) if item.get("caption") else None,
            media=item.get("media") or [],
            source_channel=item["channel"],
            source_chat_id=item["chat_id"],
            source_message_id=item.get("message_id"),
        )
    await ctx.session.flush()
    for out in await relay_staff.posts_for_new_case(ctx.engine, ctx.session, case):
        ctx.notify(out)
    return [_submitted(ctx, case)]


def _submitted(ctx: Ctx, case: LegalCase) -> Outgoing:
    cfg = legal_config(ctx)
    office = cfg.office
    due = fmt_when(office.add_working(ctx.now, cfg.answer_within_hours), office.tz)
    if office.is_open(ctx.now):
        text = ctx.t("relay.submitted.open", number=case.number, due=due)
    else:
        opens = fmt_when(office.next_open(ctx.now), office.tz)
        text = ctx.t("relay.submitted.closed", number=case.number, opens=opens, due=due)
    return ctx.choices(
        text,
        [
            (ctx.t("relay.btn.more"), f"case:more:{case.id}"),
            (ctx.t("common.back_to_menu"), "menu:main"),
        ],
    )


# -- follow-ups ----------------------------------------------------------------------------


async def relay_worker_message(ctx: Ctx, case: LegalCase) -> list[Outgoing]:
    """A worker's follow-up (text or photo) goes to the case's staff thread; they stay in it."""
    from handlers import relay_staff

    message = record_inbound(ctx, case, "worker")
    case.awaiting_worker = False
    for out in relay_staff.posts_for_worker_message(ctx.engine, case, message, ctx.inbound.text):
        ctx.notify(out)
    ctx.start_flow(MORE_FLOW, None, {"case": case.id})
    return [
        ctx.choices(
            ctx.t("relay.more.sent", number=case.number),
            [(ctx.t("relay.btn.done"), f"case:done:{case.id}")],
        )
    ]


async def more_flow(ctx: Ctx) -> list[Outgoing] | None:
    """The worker is talking to the legal centre about one case."""
    inbound = ctx.inbound
    case = await cases_repo.get_case(ctx.session, int(ctx.data.get("case") or 0))
    if case is None or case.contact_id != ctx.contact_id or case.status == cases_repo.CLOSED:
        ctx.clear_flow()
        return None  # the case ended: the message is an ordinary one again
    if inbound.kind is Kind.BUTTON:
        if not (inbound.payload or "").startswith("case:"):
            ctx.clear_flow()
        return None
    if inbound.kind is Kind.MEDIA or (inbound.kind is Kind.TEXT and inbound.text):
        return await relay_worker_message(ctx, case)
    ctx.clear_flow()
    return None


async def awaiting_text(ctx: Ctx) -> list[Outgoing] | None:
    """Free text while a lawyer waits for the worker's reply returns to that case."""
    case = await cases_repo.awaiting_case_of(ctx.session, ctx.contact_id)
    if case is None:
        return None
    return await relay_worker_message(ctx, case)


async def on_button(ctx: Ctx) -> list[Outgoing]:
    """``case:new``, ``case:more:<id>``, ``case:done:<id>``, ``case:rate:<id>:<score>``."""
    from handlers.start import menu

    parts = (ctx.inbound.payload or "").split(":")
    verb = parts[1] if len(parts) > 1 else ""
    if verb == "new":
        return await start_question(ctx)
    case = None
    if len(parts) > 2 and parts[2].isdigit():
        case = await cases_repo.get_case(ctx.session, int(parts[2]))
    if case is None or case.contact_id != ctx.contact_id:
        return [menu(ctx, "relay.case_gone")]
    if verb == "more":
        if case.status == cases_repo.CLOSED:
            return [_closed_offer(ctx, case)]
        ctx.start_flow(MORE_FLOW, None, {"case": case.id})
        return [
            ctx.choices(
                ctx.t("relay.more.prompt", number=case.number),
                [(ctx.t("relay.btn.done"), f"case:done:{case.id}")],
            )
        ]
    if verb == "done":
        if ctx.flow == MORE_FLOW:
            ctx.clear_flow()
        case.awaiting_worker = False
        return [menu(ctx, "relay.more.done")]
    if verb == "rate" and len(parts) > 3 and parts[3].isdigit() and 1 <= int(parts[3]) <= 5:
        if ctx.flow == MORE_FLOW:
            ctx.clear_flow()
        if case.status != cases_repo.CLOSED:
            return [menu(ctx, "relay.rate.not_closed")]
        score = int(parts[3])
        await cases_repo.rate_case(ctx.session, case.id, score, ctx.now)
        return [menu(ctx, "relay.rate.thanks")]
    return [menu(ctx, "relay.case_gone")]


def _closed_offer(ctx: Ctx, case: LegalCase) -> Outgoing:
    return ctx.choices(
        ctx.t("relay.closed_case", number=case.number),
        [
            (ctx.t("relay.btn.new"), "case:new"),
            (ctx.t("common.back_to_menu"), "menu:main"),
        ],
    )


def rating_request(engine: Engine, case: LegalCase) -> tuple[str, list[tuple[str, str]]]:
    """The message asking the worker to rate a closed case, and its five buttons."""
    text = engine.texts("relay.rate.ask", number=case.number)
    return text, [(f"{n} ⭐", f"case:rate:{case.id}:{n}") for n in range(1, 6)]


# -- personal data -------------------------------------------------------------------------


class PersonalData:
    """The worker's cases for /dulieucuatoi and /xoadulieu (handlers/data_rights.py)."""

    name = "legal_cases"

    async def describe(self, ctx: Ctx) -> list[str]:
        office = legal_config(ctx).office
        lines = []
        for case in await cases_repo.cases_of_contact(ctx.session, ctx.contact_id):
            status = {
                cases_repo.OPEN: ctx.t("relay.data.status_open"),
                cases_repo.ANSWERED: ctx.t("relay.data.status_answered"),
            }.get(case.status, ctx.t("relay.data.status_closed"))
            identity = ctx.t("relay.data.named") if case.named else ctx.t("relay.data.anonymous")
            lines.append(
                ctx.t(
                    "relay.data.case",
                    number=case.number,
                    status=status,
                    when=fmt_when(case.created_at, office.tz),
                    identity=identity,
                )
            )
        return lines

    async def erase(self, ctx: Ctx) -> None:
        """Delete the cases with their messages, links and ratings; leave any case form."""
        await cases_repo.erase_contact(ctx.session, ctx.contact_id)
        if ctx.flow in (FORM, MORE_FLOW):
            ctx.clear_flow()
        ctx.data.pop("_q_media", None)


# -- wiring --------------------------------------------------------------------------------


def register(engine: Engine) -> None:
    from handlers import relay_staff

    settings = engine.services["settings"]
    engine.services["legal"] = LegalConfig.from_extra(settings.extra)
    runner: FormRunner = engine.services["forms"]
    runner.validator("relay_question", validate_question)
    runner.validator("relay_workplace", validate_workplace)
    runner.validator("relay_name", validate_name)
    runner.validator("relay_phone", validate_phone)
    runner.on_submit(FORM, submit_question)
    if FORM in engine.flows:
        engine.flow(FORM, wrap_form_for_media(engine.flows[FORM]))
    engine.flow(MORE_FLOW, more_flow)
    engine.payload("case", on_button)
    engine.text(awaiting_text)
    engine.services.setdefault("personal_data", []).append(PersonalData())
    relay_staff.register(engine)
