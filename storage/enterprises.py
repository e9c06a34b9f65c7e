"""Enterprises without a grassroots union, the leads workers report about them, and their progress.

Law 50/2024 Điều 20 makes the upper union responsible for workers where no CĐCS exists, so every
report is routed by area to the volunteers there. One enterprise is one work item: reports by
several workers ("Công ty TNHH May ABC", "cty tnhh may abc", "May ABC") land on the same
enterprise and lead, with a count. Each report keeps its reporter privately; whether a volunteer
may ever learn who reported is the reporter's choice (``contact_ok``), recorded per report.

Ranking columns (size tier, report count) are copied onto the lead so the volunteers' list is
served by one index even with tens of thousands of enterprises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import (
    Boolean,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    Row,
    Select,
    String,
    Text,
    Update,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm.util import identity_key

from bot.core.textnorm import canonical, fold  # pure text functions, no app code
from storage.models import Base, flush_pending, utcnow
from storage.people import Person  # noqa: F401  (the people table must be known for the FK)

SIZE_BANDS = ("lt20", "20_24", "25_99", "100_499", "500plus", "unknown")
UNION_STATUSES = ("yes", "no", "unknown")
SOURCES = ("join", "report", "employer")
# The founding steps (Hướng dẫn thành lập CĐCS): workers contacted, a core group of them, then the
# organising committee (ban vận động thành lập CĐCS) that calls the founding meeting.
STATUSES = ("new", "claimed", "contacted", "core_group", "committee", "founded")
OPEN_STATUSES = ("new", "claimed", "contacted", "core_group", "committee")
WORKING_STATUSES = ("claimed", "contacted", "core_group", "committee")
PROGRESS_STEPS = ("contacted", "core_group", "committee", "founded")
# "Doanh nghiệp đề nghị": the enterprise itself asked for help founding a CĐCS (handlers/employer).
# It is a stage of its own in the funnel (a history row, before "new"), not a status: the lead's
# status keeps following the volunteers' work.
EMPLOYER_REQUEST = "employer_request"
FUNNEL_STAGES = (EMPLOYER_REQUEST, *STATUSES)

# The plan's goals: a CĐCS in every enterprise of 25+ workers by 2028, of 20+ by 2033.
SIZE_TIER = {"25_99": 3, "100_499": 3, "500plus": 3, "20_24": 2, "unknown": 1, "lt20": 0}
SIZE_ORDER = {"500plus": 5, "100_499": 4, "25_99": 3, "20_24": 2, "unknown": 1, "lt20": 0}

FUZZY_MIN_SCORE = 90.0
"""rapidfuzz ratio on compact keys above which two names in one area are one enterprise."""


class Enterprise(Base):
    __tablename__ = "enterprises"
    __table_args__ = (Index("ix_enterprises_area_key", "area_code", "name_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    name_key: Mapped[str] = mapped_column(String(300))
    area_code: Mapped[str | None] = mapped_column(String(16), default=None)
    size_band: Mapped[str] = mapped_column(String(16), default="unknown")
    union_status: Mapped[str] = mapped_column(String(8), default="unknown")
    tax_code: Mapped[str | None] = mapped_column(String(13), default=None, index=True)
    industrial_park: Mapped[str | None] = mapped_column(String(200), default=None)
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_reported_at: Mapped[datetime] = mapped_column(default=utcnow)


class Lead(Base):
    """The work item for one enterprise: who claimed it and how far the founding has got.

    ``reporter_contact_id``/``contact_ok``/``source`` describe the report that opened the lead;
    every report (including that one) is also a ``LeadReport``.
    """

    __tablename__ = "leads"
    __table_args__ = (
        # The volunteers' order, readable straight off the index (scanned backwards).
        Index(
            "ix_leads_queue",
            "area_code",
            "is_open",
            "employer_request",
            "size_tier",
            "report_count",
            "size_order",
            "id",
        ),
        Index(
            "ix_leads_rank",
            "is_open",
            "employer_request",
            "size_tier",
            "report_count",
            "size_order",
            "id",
        ),
        Index("ix_leads_claimed", "claimed_by", "status"),
        Index("ix_leads_progress", "status", "last_progress_at"),
        Index("ix_leads_opened", "status", "opened_at"),
        Index("ix_leads_announced", "announced_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), unique=True
    )
    area_code: Mapped[str | None] = mapped_column(String(16), default=None)
    status: Mapped[str] = mapped_column(String(16), default="new")
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)  # not founded yet
    size_tier: Mapped[int] = mapped_column(Integer, default=1)
    size_order: Mapped[int] = mapped_column(Integer, default=1)
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    reporter_contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), default=None
    )
    contact_ok: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(8), default="report")
    # The enterprise asked for help itself: first in every list (an open door beats a report).
    employer_request: Mapped[bool] = mapped_column(Boolean, default=False)
    employer_requested_at: Mapped[datetime | None] = mapped_column(default=None)
    claimed_by: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_progress_at: Mapped[datetime | None] = mapped_column(default=None)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    announced_at: Mapped[datetime | None] = mapped_column(default=None)
    offered_at: Mapped[datetime | None] = mapped_column(default=None)
    reminded_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# Enterprises that asked for help first; then 25+ workers (the plan's 2028 goal), then 20+ (2033),
# then by reports; among equals the bigger band, then the newest. All descending, so one index
# serves it in both databases.
RANKING = (
    Lead.employer_request.desc(),
    Lead.size_tier.desc(),
    Lead.report_count.desc(),
    Lead.size_order.desc(),
    Lead.id.desc(),
)


class LeadReport(Base):
    """One worker's report. The reporter is stored only if they agreed to be contacted, and
    ``contact_enc`` is what they agreed a volunteer may use. ``referrer_id``/``campaign_id``
    credit the collaborator whose invitation brought the worker, without naming the worker."""

    __tablename__ = "lead_reports"
    __table_args__ = (
        Index("ix_lead_reports_reporter", "reporter_contact_id", "created_at"),
        Index("ix_lead_reports_credit", "campaign_id", "referrer_id"),
        Index("ix_lead_reports_key", "lead_id", "reporter_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    reporter_contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), default=None
    )
    contact_ok: Mapped[bool] = mapped_column(Boolean, default=False)
    contact_enc: Mapped[str | None] = mapped_column(Text, default=None)
    source: Mapped[str] = mapped_column(String(8), default="report")
    size_band: Mapped[str] = mapped_column(String(16), default="unknown")
    referrer_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    campaign_id: Mapped[int | None] = mapped_column(Integer, default=None)
    # A keyed hash of (lead, reporting contact), kept even for anonymous reports: the same worker
    # reporting the same company again is recognised and not counted twice, while the row still
    # names nobody (the key differs per lead, so one worker's reports cannot be linked).
    reporter_key: Mapped[str | None] = mapped_column(String(64), default=None)
    counted: Mapped[bool] = mapped_column(Boolean, default=True)  # False: a repeat by one worker
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LeadStatusChange(Base):
    """History: every claim, progress step and release, with the volunteer's (encrypted) note."""

    __tablename__ = "lead_status_changes"
    __table_args__ = (Index("ix_lead_changes_lead", "lead_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    from_status: Mapped[str | None] = mapped_column(String(16), default=None)
    to_status: Mapped[str] = mapped_column(String(16))
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    note_enc: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- names and tax codes --------------------------------------------------------------------------

_NON_WORD = re.compile(r"[^0-9a-z]+")
# Legal-form words before the name, folded. Unambiguous ones go anywhere at the start; "cp" and
# "ct" only right after a company word ("Công ty CP ABC", "CT TNHH ABC"), so "CP Foods" stays.
_COMPANY_WORDS: tuple[tuple[str, ...], ...] = (
    ("doanh", "nghiep", "tu", "nhan"),
    ("cong", "ty"),
    ("c", "ty"),
    ("cty",),
    ("ctcp",),
    ("dntn",),
)
_FORM_WORDS: tuple[tuple[str, ...], ...] = (
    ("trach", "nhiem", "huu", "han"),
    ("mot", "thanh", "vien"),
    ("hai", "thanh", "vien"),
    ("co", "phan"),
    ("tnhh",),
    ("mtv",),
    ("htv",),
)
_CT_FORMS = (("ct", "tnhh"), ("ct", "cp"), ("ct", "co", "phan"))
_SUFFIXES: tuple[tuple[str, ...], ...] = (
    ("company", "limited"),
    ("co", "ltd"),
    ("ltd",),
    ("limited",),
    ("jsc",),
    ("llc",),
    ("inc",),
    ("corp",),
    ("corporation",),
    ("company",),
    ("co",),
)
_TOKEN_MAP = {"vn": ("viet", "nam"), "vietnam": ("viet", "nam")}


def name_tokens(name: str) -> list[str]:
    """Folded words of a company name without its legal form ("Công ty TNHH", "Co., Ltd")."""
    words: list[str] = []
    for word in _NON_WORD.split(fold(canonical(name))):
        if word:
            words.extend(_TOKEN_MAP.get(word, (word,)))
    core = list(words)
    just_company = False  # "cp" is a legal form only right after "Công ty" ("Công ty CP ABC")
    changed = True
    while changed and core:
        changed = False
        if just_company and core[0] == "cp":
            core, just_company, changed = core[1:], False, True
            continue
        for phrase in _CT_FORMS + _COMPANY_WORDS + _FORM_WORDS:
            if tuple(core[: len(phrase)]) == phrase:
                core = core[len(phrase) :]
                just_company = phrase in _COMPANY_WORDS
                changed = True
                break
    changed = True
    while changed and len(core) > 1:
        changed = False
        for phrase in _SUFFIXES + _FORM_WORDS:
            if len(core) > len(phrase) and tuple(core[-len(phrase) :]) == phrase:
                core, changed = core[: -len(phrase)], True
    return core or words


def normalise_name(name: str) -> str:
    """The de-duplication key: legal form dropped, no diacritics, no spaces or punctuation."""
    return "".join(name_tokens(name))[:300]


def normalise_tax_code(text: str | None) -> str | None:
    """Digits of a Vietnamese tax code (10, or 13 for a branch "0201234567-001"); else None."""
    if not text:
        return None
    digits = re.sub(r"[\s.\-/]", "", text)
    if digits.isdigit() and len(digits) in (10, 13):
        return digits
    return None


def _digits(key: str) -> str:
    return "".join(ch for ch in key if ch.isdigit())


# -- reporting ------------------------------------------------------------------------------------


# The reporting statements are plain ones, built once (the join form's "Gửi" runs them on the
# event loop's thread, where building a statement costs about as much as running it). ORM
# callers get the lead as an object afterwards (``report_enterprise``, ``request_by_employer``).
_ENTERPRISES = Enterprise.__table__
_LEADS = Lead.__table__
_EC, _LC = _ENTERPRISES.c, _LEADS.c
_NOW = bindparam("b_now", type_=_LC.updated_at.type)
_KNOWN_FROM = _ENTERPRISES.outerjoin(_LEADS, _LC.enterprise_id == _EC.id)


def _known(*where: ColumnElement[bool]) -> Select[Any]:
    """The first enterprise matching ``where`` with its lead, if it has one (one lead each)."""
    return (
        select(_EC.id, _EC.area_code, _EC.size_band, _EC.union_status, _EC.tax_code,
               _EC.industrial_park, _LC.id.label("lead_id"), _LC.status.label("lead_status"),
               _LC.employer_request)
        .select_from(_KNOWN_FROM)
        .where(*where)
        .order_by(_EC.id)
        .limit(1)
    )  # fmt: skip


_BY_TAX = _known(_EC.tax_code == bindparam("b_tax"))
_BY_ID = _known(_EC.id == bindparam("b_id"))


@cache
def _in_area(has_area: bool, tax_given: bool) -> tuple[Select[Any], Select[Any]]:
    """(the exact name, every name) in one area or in none; untaxed ones when a tax code is given
    (a different tax code is a different enterprise)."""
    area = _EC.area_code == bindparam("b_area") if has_area else _EC.area_code.is_(None)
    compatible = (_EC.tax_code.is_(None),) if tax_given else ()
    exact = _known(area, _EC.name_key == bindparam("b_key"), *compatible)
    return exact, select(_EC.id, _EC.name_key).where(area, *compatible)


_ADD_ENTERPRISE = insert(_ENTERPRISES).returning(_EC.id)
_ADD_LEAD = insert(_LEADS).returning(_LC.id)
_ADD_CHANGES = insert(LeadStatusChange.__table__)
_ADD_REPORT = insert(LeadReport.__table__)
_RC = LeadReport.__table__.c
_REPORTED_BEFORE = (
    select(_RC.id)
    .where(_RC.lead_id == bindparam("b_lead"), _RC.reporter_key == bindparam("b_key"))
    .limit(1)
)


@cache
def _complete_enterprise(columns: frozenset[str]) -> Update:
    """Another report of a known enterprise: its count, its time, and what it filled in."""
    filled = {column: bindparam(f"b_{column}", type_=_EC[column].type) for column in columns}
    return (
        update(_ENTERPRISES)
        .where(_EC.id == bindparam("b_id"))
        .values(report_count=_EC.report_count + bindparam("b_add"), last_reported_at=_NOW,
                **filled)
    )  # fmt: skip


@cache
def _refresh_lead(employer: bool) -> Update:
    """A known enterprise's lead: ranking columns as the enterprise is now, the count, and the
    enterprise's own request when ``employer``."""
    statement = (
        update(_LEADS)
        .where(_LC.id == bindparam("b_id"))
        .values(area_code=bindparam("b_area"), size_tier=bindparam("b_tier"),
                size_order=bindparam("b_order"), updated_at=_NOW,
                report_count=_LC.report_count + bindparam("b_add"))
    )  # fmt: skip
    return (
        statement.values(employer_request=True, employer_requested_at=_NOW)
        if employer
        else statement
    )


def _closest(key: str, pool: Iterable[Any]) -> int | None:
    """The id of the name in ``pool`` (id, name_key) nearest to ``key``, if near enough."""
    best: tuple[float, int] | None = None
    for ent_id, other in pool:
        if _digits(other) != _digits(key):
            continue  # "May ABC 1" and "May ABC 2" are two factories
        score = fuzz.ratio(key, other)
        if score >= FUZZY_MIN_SCORE and (best is None or score > best[0]):
            best = (score, ent_id)
    return best[1] if best else None


async def find_enterprise(
    session: AsyncSession, name: str, area_code: str | None, tax_code: str | None = None
) -> Row[Any] | None:
    """The enterprise a report is about: the tax code decides when given, else the name in area.

    A row: the enterprise's ``id``, ``area_code``, ``size_band``, ``union_status``, ``tax_code``
    and ``industrial_park``, and its lead's ``lead_id``, ``lead_status`` and ``employer_request``
    (None without a lead)."""
    await flush_pending(session)
    tax = normalise_tax_code(tax_code)
    if tax:
        by_tax = (await session.execute(_BY_TAX, {"b_tax": tax})).first()
        if by_tax is not None:
            return by_tax
    key = normalise_name(name)
    if not key:
        return None
    exact_query, pool_query = _in_area(bool(area_code), bool(tax))
    area = {"b_area": area_code} if area_code else {}
    exact = (await session.execute(exact_query, {**area, "b_key": key})).first()
    if exact is not None or len(key) < 5:
        return exact
    best = _closest(key, await session.execute(pool_query, area))
    return (await session.execute(_BY_ID, {"b_id": best})).first() if best is not None else None


def _has_union(known: Row[Any] | None) -> bool:
    return known is not None and known.union_status == "yes"


@dataclass(frozen=True)
class Credit:
    """Who brought the reporting worker: the collaborator and the campaign, if anyone."""

    referrer_id: int | None = None
    campaign_id: int | None = None


def _cleaned(
    name: str, tax_code: str | None, industrial_park: str | None
) -> tuple[str, str | None, str | None]:
    """The name, tax code and industrial park as stored."""
    park = " ".join((industrial_park or "").split())[:200] or None
    return " ".join(name.split())[:300], normalise_tax_code(tax_code), park


async def record_report(
    session: AsyncSession,
    *,
    name: str,
    area_code: str | None,
    size_band: str | None,
    union_status: str,
    reporter_contact_id: int | None,
    contact_ok: bool,
    source: str,
    now: datetime,
    tax_code: str | None = None,
    industrial_park: str | None = None,
    contact_enc: str | None = None,
    credit: Credit | None = None,
    reporter_key: Callable[[int], str] | None = None,
    unless_union: bool = False,
) -> int | None:
    """Record one worker's report; the same enterprise reported again gets a higher count, but
    not when the same worker reports it again (``reporter_key`` maps the lead id to the keyed
    hash of lead and worker; that report is kept, uncounted, so its details stay in the history).

    Returns the enterprise's lead id; None, with nothing written, when ``unless_union`` and a
    union is recorded for the enterprise (``union_recorded``). Callers: the lead form (source
    "report", through ``report_enterprise``) and the join form (source "join", when the worker
    says the company has no union or does not know). ``contact_enc`` is the encrypted phone the
    worker chose to give a volunteer; it is ignored unless ``contact_ok``. Pass the reporter as
    ``reporter_contact_id`` only when they agreed to be contacted. ``credit`` is the invitation
    the worker came through (``storage.recruitment.credit_of``), given by the caller so this
    module needs nothing of recruitment: the collaborator gets a count, never a name.
    """
    band = size_band if size_band in SIZE_BANDS else "unknown"
    if union_status not in UNION_STATUSES:
        raise ValueError(f"union_status must be one of {UNION_STATUSES}")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    name, tax, park = _cleaned(name, tax_code, industrial_park)
    known = await find_enterprise(session, name, area_code, tax)
    if unless_union and _has_union(known):
        return None
    counted = True  # a new lead has no reports yet
    if known is not None and known.lead_id is not None and reporter_key is not None:
        counted = not await reported_before(session, known.lead_id, reporter_key(known.lead_id))
    lead_id = await _enterprise_and_lead(
        session,
        known,
        name=name,
        area_code=area_code,
        band=band,
        union_status=union_status,
        tax=tax,
        park=park,
        now=now,
        opener={"reporter_contact_id": reporter_contact_id, "contact_ok": contact_ok,
                "source": source},
        added=int(counted),
    )  # fmt: skip
    referrer_id, campaign_id = (credit.referrer_id, credit.campaign_id) if credit else (None, None)
    report = {
        "lead_id": lead_id,
        "reporter_contact_id": reporter_contact_id,
        "referrer_id": referrer_id if counted else None,  # one credit per worker and company
        "campaign_id": campaign_id if counted else None,
        "contact_ok": contact_ok,
        "contact_enc": contact_enc if contact_ok else None,
        "source": source,
        "size_band": band,
        "reporter_key": reporter_key(lead_id) if reporter_key is not None else None,
        "counted": counted,
        "created_at": now,
    }
    await session.execute(_ADD_REPORT, report)
    return lead_id


async def report_enterprise(session: AsyncSession, **report: Any) -> Lead:
    """``record_report`` for callers that want the lead as an object (``report_count == 1``
    when this report opened it); the arguments are ``record_report``'s."""
    lead_id = await record_report(session, **report)
    assert lead_id is not None, "unless_union is record_report's alone"
    return await _lead_as_written(session, lead_id)


async def _lead_as_written(session: AsyncSession, lead_id: int) -> Lead:
    """The lead (and its enterprise, if the session holds it) as the plain statements left them,
    not as the session saw them before."""
    lead = await session.get(Lead, lead_id, populate_existing=True)
    assert lead is not None
    if identity_key(Enterprise, lead.enterprise_id) in session.identity_map:
        await session.get(Enterprise, lead.enterprise_id, populate_existing=True)
    return lead


def reporter_key(lookup_hash: Callable[[str], str], contact_id: int) -> Callable[[int], str]:
    """lead id → the keyed hash of (lead, worker) that ``report_enterprise`` stores, the same
    from the lead form and the join form (``lookup_hash`` is the data key's HMAC)."""
    return lambda lead_id: lookup_hash(f"lead-report:{lead_id}:{contact_id}")


async def reported_before(session: AsyncSession, lead_id: int, key: str) -> bool:
    """Whether a report with this reporter key is already recorded for the lead."""
    found = await session.execute(_REPORTED_BEFORE, {"b_lead": lead_id, "b_key": key})
    return found.first() is not None


async def size_history(session: AsyncSession, lead_id: int) -> list[tuple[str, datetime]]:
    """The worker counts reports gave, oldest first, a band repeated in a row shown once: a
    later report changes the enterprise's band, and this is what it was before."""
    rows = await session.execute(
        select(LeadReport.size_band, LeadReport.created_at)
        .where(LeadReport.lead_id == lead_id, LeadReport.size_band != "unknown")
        .order_by(LeadReport.id)
    )
    history: list[tuple[str, datetime]] = []
    for band, at in rows:
        if not history or history[-1][0] != band:
            history.append((band, at))
    return history


def _completion(
    known: Row[Any], *, area_code: str | None, band: str, union_status: str, tax: str | None,
    park: str | None,
) -> dict[str, Any]:  # fmt: skip
    """What a report adds to an enterprise already recorded (only what changes)."""
    changes: dict[str, Any] = {}
    if band != "unknown":
        changes["size_band"] = band
    if tax and not known.tax_code:
        changes["tax_code"] = tax
    if park and not known.industrial_park:
        changes["industrial_park"] = park
    if area_code and not known.area_code:
        changes["area_code"] = area_code
    if union_status == "yes" or known.union_status == "unknown":
        changes["union_status"] = union_status
    return {column: value for column, value in changes.items() if value != known._mapping[column]}


async def _enterprise_and_lead(
    session: AsyncSession,
    known: Row[Any] | None,
    *,
    name: str,
    area_code: str | None,
    band: str,
    union_status: str,
    tax: str | None,
    park: str | None,
    now: datetime,
    opener: dict[str, object],
    added: int,
    employer: bool = False,
) -> int:
    """Write the enterprise these (cleaned) details name, ``known`` or new, and its one lead
    (created with ``opener``'s columns when new): ``added`` more reports on both, the lead's
    ranking columns refreshed, and with ``employer`` the enterprise's own request marked.
    Returns the lead's id."""
    if known is None:
        enterprise = {"name": name, "name_key": normalise_name(name), "area_code": area_code,
                      "size_band": band, "union_status": union_status, "tax_code": tax,
                      "industrial_park": park, "report_count": added, "created_at": now,
                      "last_reported_at": now}  # fmt: skip
        enterprise_id = (await session.execute(_ADD_ENTERPRISE, enterprise)).scalar_one()
        lead_id = None
    else:
        changes = _completion(
            known, area_code=area_code, band=band, union_status=union_status, tax=tax, park=park
        )
        params = {f"b_{column}": value for column, value in changes.items()}
        params.update(b_id=known.id, b_add=added, b_now=now)
        await session.execute(_complete_enterprise(frozenset(changes)), params)
        enterprise_id, lead_id = known.id, known.lead_id
        area_code = changes.get("area_code", known.area_code)
        band = changes.get("size_band", known.size_band)
    ranking = {"area_code": area_code, "size_tier": SIZE_TIER[band], "size_order": SIZE_ORDER[band]}
    history = []
    if lead_id is None:
        lead = {"enterprise_id": enterprise_id, "status": "new", "is_open": True,
                "report_count": added, "opened_at": now, "created_at": now, "updated_at": now,
                **opener, **ranking}  # fmt: skip
        if employer:
            lead.update(employer_request=True, employer_requested_at=now)
        lead_id = (await session.execute(_ADD_LEAD, lead)).scalar_one()
        status, requested = "new", False
        history.append({"from_status": None, "to_status": "new"})
    else:
        params = {"b_id": lead_id, "b_area": area_code, "b_tier": ranking["size_tier"],
                  "b_order": ranking["size_order"], "b_add": added, "b_now": now}  # fmt: skip
        await session.execute(_refresh_lead(employer), params)
        assert known is not None
        status, requested = known.lead_status, known.employer_request
    if employer and not requested:
        history.append({"from_status": status, "to_status": EMPLOYER_REQUEST})
    if history:
        await session.execute(
            _ADD_CHANGES, [{**change, "lead_id": lead_id, "created_at": now} for change in history]
        )
    return lead_id


async def request_by_employer(
    session: AsyncSession,
    *,
    name: str,
    area_code: str | None,
    size_band: str | None,
    tax_code: str | None,
    now: datetime,
) -> Lead:
    """The enterprise itself asks for help founding a CĐCS: its lead is marked "doanh nghiệp đề
    nghị" and goes first in every list. A worker's report about the same company is the same
    enterprise and lead; nothing here (nor in what the caller may show the employer) says
    whether one exists. The employer is not a reporter: no ``LeadReport`` is written, so the
    report count and the reporters' consent stay the workers' alone."""
    band = size_band if size_band in SIZE_BANDS else "unknown"
    name, tax, _park = _cleaned(name, tax_code, None)
    known = await find_enterprise(session, name, area_code, tax)
    lead_id = await _enterprise_and_lead(
        session,
        known,
        name=name,
        area_code=area_code,
        band=band,
        union_status="no",
        tax=tax,
        park=None,
        now=now,
        opener={"source": "employer"},
        added=0,
        employer=True,
    )
    return await _lead_as_written(session, lead_id)


async def funnel_counts(
    session: AsyncSession,
    area_codes: Sequence[str] | None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, int]:
    """Leads that reached each funnel stage (``FUNNEL_STAGES``) in the period, per stage.

    Counted from the history, so "doanh nghiệp đề nghị" is a stage like the others; a lead is
    counted once per stage however often it went back and forth."""
    where: list[ColumnElement[bool]] = [LeadStatusChange.to_status.in_(FUNNEL_STAGES)]
    if since is not None:
        where.append(LeadStatusChange.created_at >= since)
    if until is not None:
        where.append(LeadStatusChange.created_at < until)
    query = (
        select(LeadStatusChange.to_status, func.count(func.distinct(LeadStatusChange.lead_id)))
        .join(Lead, Lead.id == LeadStatusChange.lead_id)
        .where(*where, *_scope(area_codes))
        .group_by(LeadStatusChange.to_status)
    )
    counts = dict.fromkeys(FUNNEL_STAGES, 0)
    if area_codes is not None and not area_codes:
        return counts
    for stage, n in await session.execute(query):
        counts[str(stage)] = int(n)
    return counts


async def union_recorded(session: AsyncSession, name: str, area_code: str | None) -> bool:
    """Has a union been recorded for this enterprise (reported as having one, or founded)?"""
    return _has_union(await find_enterprise(session, name, area_code))


# -- volunteers' queue ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadView:
    lead: Lead
    enterprise: Enterprise


def _scope(area_codes: Sequence[str] | None) -> list[object]:
    """None = every area (staff); a list = only those areas (volunteers; empty sees nothing)."""
    if area_codes is None:
        return []
    return [Lead.area_code.in_(list(area_codes))]


async def open_leads(
    session: AsyncSession,
    area_codes: Sequence[str] | None,
    *,
    limit: int = 8,
    offset: int = 0,
    claimed_by: int | None = None,
) -> tuple[list[LeadView], int]:
    """Open leads in the areas, 25+ workers first, then 20+, then by number of reports."""
    if area_codes is not None and not area_codes:
        return [], 0
    where = [Lead.is_open.is_(True), *_scope(area_codes)]
    if claimed_by is not None:
        where.append(Lead.claimed_by == claimed_by)
    total = await session.scalar(select(func.count()).select_from(Lead).where(*where)) or 0
    ranking = RANKING
    # The page is picked from the leads index alone; only its few enterprises are then read
    # (joining first made PostgreSQL hash the whole enterprises table for eight rows).
    page = select(Lead.id).where(*where).order_by(*ranking).limit(limit).offset(offset).subquery()
    rows = await session.execute(
        select(Lead, Enterprise)
        .join(page, page.c.id == Lead.id)
        .join(Enterprise, Enterprise.id == Lead.enterprise_id)
        .order_by(*ranking)
    )
    return [LeadView(lead, ent) for lead, ent in rows], int(total)


async def get_lead(
    session: AsyncSession, lead_id: int, area_codes: Sequence[str] | None
) -> LeadView | None:
    """One lead, only if it lies in the given areas (None = any area). Never leaks existence."""
    row = (
        await session.execute(
            select(Lead, Enterprise)
            .join(Enterprise, Enterprise.id == Lead.enterprise_id)
            .where(Lead.id == lead_id, *_scope(area_codes))
        )
    ).first()
    return LeadView(row[0], row[1]) if row else None


async def reports_of(session: AsyncSession, lead_id: int) -> list[LeadReport]:
    rows = await session.scalars(
        select(LeadReport).where(LeadReport.lead_id == lead_id).order_by(LeadReport.id)
    )
    return list(rows)


async def claim_lead(session: AsyncSession, lead_id: int, person_id: int, now: datetime) -> bool:
    """Claim an unclaimed lead; False if someone else got it first (one UPDATE, race-safe)."""
    result = await session.execute(
        update(Lead)
        .where(Lead.id == lead_id, Lead.status == "new", Lead.claimed_by.is_(None))
        .values(
            status="claimed",
            claimed_by=person_id,
            claimed_at=now,
            last_progress_at=now,
            reminded_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    session.add(
        LeadStatusChange(
            lead_id=lead_id, from_status="new", to_status="claimed", person_id=person_id,
            created_at=now,
        )
    )  # fmt: skip
    return True


async def record_progress(
    session: AsyncSession,
    lead: Lead,
    *,
    person_id: int | None,
    to_status: str,
    now: datetime,
    note_enc: str | None = None,
) -> None:
    """A progress step (đã liên hệ → nhóm nòng cốt → ban vận động → đã thành lập CĐCS)."""
    if to_status not in PROGRESS_STEPS:
        raise ValueError(f"progress must be one of {PROGRESS_STEPS}")
    session.add(
        LeadStatusChange(
            lead_id=lead.id, from_status=lead.status, to_status=to_status, person_id=person_id,
            note_enc=note_enc, created_at=now,
        )
    )  # fmt: skip
    lead.status = to_status
    lead.is_open = to_status != "founded"
    lead.last_progress_at = now
    lead.reminded_at = None
    lead.updated_at = now
    if to_status == "founded":
        enterprise = await session.get(Enterprise, lead.enterprise_id)
        if enterprise is not None:
            enterprise.union_status = "yes"


async def release_lead(
    session: AsyncSession, lead: Lead, *, person_id: int | None, now: datetime,
    note_enc: str | None = None,
) -> None:  # fmt: skip
    """Give a lead back: unclaimed again, offered afresh to the area's other volunteers."""
    session.add(
        LeadStatusChange(
            lead_id=lead.id, from_status=lead.status, to_status="new", person_id=person_id,
            note_enc=note_enc, created_at=now,
        )
    )  # fmt: skip
    lead.status = "new"
    lead.is_open = True
    lead.claimed_by = None
    lead.claimed_at = None
    lead.opened_at = now
    lead.offered_at = None
    lead.reminded_at = None
    lead.updated_at = now


async def history_of(session: AsyncSession, lead_id: int) -> list[LeadStatusChange]:
    rows = await session.scalars(
        select(LeadStatusChange)
        .where(LeadStatusChange.lead_id == lead_id)
        .order_by(LeadStatusChange.created_at, LeadStatusChange.id)
    )
    return list(rows)


async def released_by(session: AsyncSession, lead_id: int) -> set[int]:
    """People who gave this lead back: a re-offer goes to the others."""
    rows = await session.scalars(
        select(LeadStatusChange.person_id).where(
            LeadStatusChange.lead_id == lead_id,
            LeadStatusChange.to_status == "new",
            LeadStatusChange.person_id.is_not(None),
        )
    )
    return {int(r) for r in rows if r is not None}


# -- scheduler queries ----------------------------------------------------------------------------


async def _lead_views(
    session: AsyncSession, limit: int, *conditions: ColumnElement[bool]
) -> list[LeadView]:
    """Leads (with their enterprise) matching every condition, oldest first."""
    rows = await session.execute(
        select(Lead, Enterprise)
        .join(Enterprise, Enterprise.id == Lead.enterprise_id)
        .where(*conditions)
        .order_by(Lead.id)
        .limit(limit)
    )
    return [LeadView(lead, ent) for lead, ent in rows]


async def unannounced(session: AsyncSession, limit: int = 200) -> list[LeadView]:
    """Leads nobody has been told about yet (e.g. recorded by the join form)."""
    return await _lead_views(session, limit, Lead.announced_at.is_(None))


async def stalled(
    session: AsyncSession, now: datetime, days: int, limit: int = 500
) -> list[LeadView]:
    """Claimed leads without progress for ``days``, not reminded in the last ``days`` either."""
    cutoff = now - timedelta(days=days)
    return await _lead_views(
        session,
        limit,
        Lead.status.in_(WORKING_STATUSES),
        Lead.claimed_by.is_not(None),
        Lead.last_progress_at <= cutoff,
        or_(Lead.reminded_at.is_(None), Lead.reminded_at <= cutoff),
    )


async def unclaimed_too_long(
    session: AsyncSession, now: datetime, days: int, limit: int = 500
) -> list[LeadView]:
    """Leads unclaimed for ``days`` since they opened, not yet re-offered."""
    cutoff = now - timedelta(days=days)
    return await _lead_views(
        session, limit, Lead.status == "new", Lead.opened_at <= cutoff, Lead.offered_at.is_(None)
    )


# -- the reporter's data rights and exports -------------------------------------------------------


async def reports_by(session: AsyncSession, contact_id: int) -> list[tuple[LeadReport, str]]:
    """A worker's own reports with the enterprise names, for "what do you hold about me"."""
    rows = await session.execute(
        select(LeadReport, Enterprise.name)
        .join(Lead, Lead.id == LeadReport.lead_id)
        .join(Enterprise, Enterprise.id == Lead.enterprise_id)
        .where(LeadReport.reporter_contact_id == contact_id)
        .order_by(LeadReport.id)
    )
    return [(report, name) for report, name in rows]


async def forget_reporter_keys(session: AsyncSession, key_of: Callable[[int], str]) -> int:
    """/xoadulieu: drop the repeat-report keys of one worker (``key_of(lead_id)`` is that
    worker's key for a lead), so not even a keyed hash of them is left with their reports."""
    rows = await session.execute(
        select(LeadReport.id, LeadReport.lead_id, LeadReport.reporter_key).where(
            LeadReport.reporter_key.is_not(None)
        )
    )
    mine = [rid for rid, lead_id, key in rows if key == key_of(lead_id)]
    if mine:
        await session.execute(
            update(LeadReport)
            .where(LeadReport.id.in_(mine))
            .values(reporter_key=None)
            .execution_options(synchronize_session=False)
        )
    return len(mine)


async def forget_reporter(session: AsyncSession, contact_id: int) -> int:
    """Erase the link between a worker and their reports; the enterprise counts stay."""
    result = await session.execute(
        update(LeadReport)
        .where(LeadReport.reporter_contact_id == contact_id)
        .values(reporter_contact_id=None, contact_ok=False, contact_enc=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Lead)
        .where(Lead.reporter_contact_id == contact_id)
        .values(reporter_contact_id=None, contact_ok=False)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def all_leads(session: AsyncSession) -> list[LeadView]:
    """Every lead with its enterprise, best-ranked first, for exports."""
    rows = await session.execute(
        select(Lead, Enterprise)
        .join(Enterprise, Enterprise.id == Lead.enterprise_id)
        .order_by(*RANKING)
    )
    return [LeadView(lead, ent) for lead, ent in rows]


async def consenting_reports(session: AsyncSession, lead_ids: Sequence[int]) -> dict[int, int]:
    """How many reports per lead allow contact (a count only, for lists and exports)."""
    if not lead_ids:
        return {}
    rows = await session.execute(
        select(LeadReport.lead_id, func.count())
        .where(LeadReport.lead_id.in_(list(lead_ids)), LeadReport.contact_ok.is_(True))
        .group_by(LeadReport.lead_id)
    )
    return {int(lead_id): int(n) for lead_id, n in rows}
