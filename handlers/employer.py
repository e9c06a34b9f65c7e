"""'Tôi là chủ doanh nghiệp / phụ trách nhân sự': the employer track.

The federation's plan (III.2) asks upper unions to win business owners over from the start and
explain the law so they cooperate in founding a union. Employers arrive from the menu
("employer:index"), a deep link (`/start employer`, printed as a QR code by
`congdoan-bot employer qr` for meetings with businesses) or a button in another message. They read
short messages on what the law asks of them and what a grassroots union (CĐCS) brings, each with
its article (content/vi/employer.toml), and may:

- ask for help founding a CĐCS: a notice and consent (recorded like joining), then the form
  content/flows/employer_request.toml. The request marks the enterprise's lead "doanh nghiệp đề
  nghị" (storage/enterprises.py), first in the volunteers' lists, and tells the area's volunteers;
- ask the legal centre a question, which becomes an employer case (storage/cases.py), apart
  from workers' cases.

Employers never learn anything about workers. The reply to a request is the same whether or not
workers reported the company; nothing in this track reads reports, applications or counts; and
while the chat is in the employer track, a question about who joined or reported (or a bare tax
code) gets one fixed answer saying that nothing about workers is given out (LCĐ Điều 10).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from bot.core.answers import MENU
from bot.core.areas import DEFAULT_UNION_BODY
from bot.core.context import Ctx
from bot.core.events import Address, Choice, Choices, Kind, Outgoing
from bot.core.feature import PRIORITY_COMMAND_WORDS, CliCommand, Feature, TextHandler
from bot.core.form_contract import Candidates, Invalid, Result, Valid
from bot.core.textnorm import fold
from bot.core.texts import fmt_date
from bot.core.validators import display_phone, valid_tax_code
from storage import employers as repo
from storage import enterprises as enterprises_repo
from storage import membership as membership_repo
from storage import people as people_repo

TOPICS = (
    "benefits",
    "fund",
    "relief",
    "prohibited",
    "duties",
    "officers",
    "dialogue",
    "bargaining",
)
FORM = "employer_request"
CONSENT_FLOW = "employer_consent"
PURPOSE = "employer_request"
START_ARG = "employer"
MODE = "_employer"  # kept in the conversation state while the chat is in the employer track
COMPANY_MAX = 160
WORKERS_MAX = 200_000

_NUMBER = re.compile(r"[0-9][0-9.,]*")
_ACCEPT_WORDS = {"dong y", "toi dong y"}
_DECLINE_WORDS = {"khong dong y", "khong", "ko", "k", "thoi"}
# Folded phrases of a question about workers ("ai đã báo cáo công ty tôi", "danh sách đoàn
# viên", "bao nhiêu người vào công đoàn"): answered with employer.no_worker_data, always.
_WORKER_PROBES = (
    "ai da",
    "ai bao",
    "ai phan anh",
    "ai to cao",
    "ai khieu nai",
    "ai gia nhap",
    "ai tham gia",
    "ai vao",
    "ai lam don",
    "ai nop don",
    "ai hoi",
    "nguoi nao",
    "nhung ai",
    "danh sach",
    "bao nhieu nguoi",
    "bao nhieu doan vien",
    "bao nhieu cong nhan",
    "bao nhieu lao dong",
    "so nguoi",
    "so doan vien",
    "ten nguoi",
    "so dien thoai",
    "sdt",
    "nhan vien nao",
    "cong nhan nao",
    "bao cao",
    "phan anh",
    "to cao",
    "khieu nai",
    "doan vien",
    "thong tin nguoi lao dong",
    "thong tin cong nhan",
)

# -- the information messages --------------------------------------------------------------------


def _entered(ctx: Ctx) -> None:
    ctx.data[MODE] = True


def _index(ctx: Ctx) -> Outgoing:
    options = [(ctx.t(f"employer.title.{topic}"), f"employer:{topic}") for topic in TOPICS]
    options += [
        (ctx.t("employer.request_button"), "employer:request"),
        (ctx.t("employer.ask_button"), "employer:ask"),
        (ctx.t("common.back_to_menu"), "menu:main"),
    ]
    return ctx.choices(ctx.t("employer.index"), options)


def _topic(ctx: Ctx, topic: str) -> Outgoing:
    position = TOPICS.index(topic)
    options = []
    if position + 1 < len(TOPICS):
        options.append((ctx.t("employer.next"), f"employer:{TOPICS[position + 1]}"))
    options += [
        (ctx.t("employer.request_button"), "employer:request"),
        (ctx.t("employer.list"), "employer:index"),
        (ctx.t("common.back_to_menu"), "menu:main"),
    ]
    return ctx.choices(ctx.t(f"employer.info.{topic}"), options)


async def show_index(ctx: Ctx) -> list[Outgoing]:
    """The employer track's first screen (menu button, `/start employer`, `/doanhnghiep`)."""
    if ctx.flow:
        ctx.clear_flow()
    _entered(ctx)
    return [_index(ctx)]


async def on_button(ctx: Ctx) -> list[Outgoing]:
    """employer:index, employer:<topic>, employer:request, employer:ask, employer:consent:*."""
    action = (ctx.inbound.payload or "").partition(":")[2]
    _entered(ctx)
    if action in TOPICS:
        return [_topic(ctx, action)]
    if action == "request":
        return start_request(ctx)
    start_question = ctx.services.hooks.start_question
    if action == "ask" and start_question is not None:
        # An employer case at the legal centre, apart from workers' (storage/cases.py).
        asked = await start_question(ctx, None, audience="employer")
        return [ctx.say("employer.ask.intro"), *asked]
    if action == "consent:yes" and ctx.flow == CONSENT_FLOW:
        return await _accept(ctx)
    if action == "consent:no":
        return _decline(ctx)
    return [_index(ctx)]


# -- nothing about workers ------------------------------------------------------------------------


def asks_about_workers(text: str) -> bool:
    """Does this message ask who joined, reported or complained, or how many did?"""
    folded = " ".join(fold(text).split())
    if enterprises_repo.normalise_tax_code(folded) is not None:
        return True  # a bare tax code: "look this company up"
    padded = f" {folded} "
    return any(f" {probe} " in padded for probe in _WORKER_PROBES)


async def on_text(ctx: Ctx) -> list[Outgoing] | None:
    """In the employer track, questions about workers get one fixed answer, nothing else."""
    if not ctx.data.get(MODE) or ctx.flow or not asks_about_workers(ctx.inbound.text):
        return None
    return [
        ctx.choices(
            ctx.t("employer.no_worker_data"),
            [
                (ctx.t("employer.request_button"), "employer:request"),
                (ctx.t("employer.list"), "employer:index"),
            ],
        )
    ]


# -- the request: notice and consent, then the form -----------------------------------------------


def notice_version(ctx: Ctx) -> str:
    """The editors' version plus a fingerprint of the exact words the employer read."""
    digest = hashlib.sha256(ctx.t("privacy.employer.notice").encode("utf-8")).hexdigest()[:8]
    return f"{ctx.t('privacy.employer.version')}+{digest}"


def _notice(ctx: Ctx) -> Outgoing:
    return ctx.choices(
        ctx.t("privacy.employer.notice"),
        [
            (ctx.t("privacy.notice.accept"), "employer:consent:yes"),
            (ctx.t("privacy.notice.decline"), "employer:consent:no"),
        ],
    )


def start_request(ctx: Ctx) -> list[Outgoing]:
    if ctx.flow == FORM:
        ctx.clear_flow()
    ctx.start_flow(CONSENT_FLOW, "consent")
    return [ctx.say("employer.request.intro"), _notice(ctx)]


async def consent_step(ctx: Ctx) -> list[Outgoing] | None:
    """The notice is on screen: only an explicit "Đồng ý" starts the form (silence is no)."""
    inbound = ctx.inbound
    if inbound.kind is Kind.BUTTON:
        if not (inbound.payload or "").startswith("employer:consent:"):
            ctx.clear_flow()  # another button: leave the notice and let it answer
        return None
    typed = fold(inbound.text or "").strip(" .!")
    if typed in _ACCEPT_WORDS:
        return await _accept(ctx)
    if typed in _DECLINE_WORDS:
        return _decline(ctx)
    return [ctx.say("privacy.employer.use_buttons"), _notice(ctx)]


def _audit(ctx: Ctx, action: str, **detail: Any) -> None:
    membership_repo.audit(
        ctx.session,
        action=action,
        actor="employer",
        subject=f"contact:{ctx.contact_id}",
        channel=ctx.inbound.channel,
        now=ctx.now,
        **detail,
    )


async def _accept(ctx: Ctx) -> list[Outgoing]:
    version = notice_version(ctx)
    await membership_repo.record_consent(
        ctx.session,
        contact_id=ctx.contact_id,
        purpose=PURPOSE,
        notice_version=version,
        channel=ctx.inbound.channel,
        now=ctx.now,
    )
    _audit(ctx, "consent.given", purpose=PURPOSE, notice_version=version)
    ctx.clear_flow()
    return await ctx.services.forms.start(ctx, FORM)


def _decline(ctx: Ctx) -> list[Outgoing]:
    if ctx.flow == CONSENT_FLOW:
        ctx.clear_flow()
    _audit(ctx, "consent.declined", purpose=PURPOSE)
    return [ctx.say("employer.request.declined"), _index(ctx)]


# -- validators -----------------------------------------------------------------------------------


async def validate_company(ctx: Ctx, text: str) -> Result:
    name = " ".join(text.split())
    if sum(ch.isalpha() for ch in name) < 2:
        return Invalid("employer.error.company_short")
    if len(name) > COMPANY_MAX:
        return Invalid("employer.error.company_long", {"limit": COMPANY_MAX})
    return Valid(name, name)


async def validate_tax_code(ctx: Ctx, text: str) -> Result:
    """10 digits (13 for a branch, "0201234567-001") with a correct check digit."""
    digits = enterprises_repo.normalise_tax_code(text)
    if digits is None:
        return Invalid("employer.error.tax_code_format")
    if not valid_tax_code(digits):
        return Invalid("employer.error.tax_code_check")
    shown = digits if len(digits) == 10 else f"{digits[:10]}-{digits[10:]}"
    return Valid(digits, shown)


async def validate_area(ctx: Ctx, text: str) -> Result:
    """The same area search as the join and report forms (old district names work too)."""
    found = ctx.services.areas.suggest(text)
    if not found:
        return Invalid("employer.error.area_not_found", {"query": text.strip()[:60]})
    return Candidates(tuple((s.area.code, s.label) for s in found), prompt_key="employer.area.pick")


async def validate_workers(ctx: Ctx, text: str) -> Result:
    """One number ("120", "khoảng 1.200 người"); a range or no number is asked again."""
    numbers = _NUMBER.findall(text)
    if len(numbers) != 1:
        return Invalid("employer.error.workers")
    count = int(re.sub(r"[.,]", "", numbers[0]))
    if not 1 <= count <= WORKERS_MAX:
        return Invalid("employer.error.workers")
    return Valid(count, f"{count:,}".replace(",", "."))


def size_band(workers: int) -> str:
    """The lead's size band (storage/enterprises.py SIZE_BANDS) for a head count."""
    if workers < 20:
        return "lt20"
    if workers < 25:
        return "20_24"
    if workers < 100:
        return "25_99"
    if workers < 500:
        return "100_499"
    return "500plus"


# -- submit ---------------------------------------------------------------------------------------


async def submit(ctx: Ctx, values: dict[str, Any]) -> list[Outgoing]:
    """ "Gửi": the lead marked "doanh nghiệp đề nghị", the request stored, volunteers told.

    The reply names only what the employer typed: it is the same whether or not workers
    reported this company, and whether or not it is already being worked on."""
    crypto = ctx.services.crypto
    areas = await ctx.services.areas_now(ctx.session)  # the union body as mapped now
    area = areas.by_code(values["area"])
    lead = await enterprises_repo.request_by_employer(
        ctx.session,
        name=values["company"],
        area_code=area.code if area else None,
        size_band=size_band(int(values["workers"])),
        tax_code=values["tax_code"],
        now=ctx.now,
    )
    request = await repo.create_request(
        ctx.session,
        contact_id=ctx.contact_id,
        lead=lead,
        channel=ctx.inbound.channel,
        company=values["company"],
        workers=int(values["workers"]),
        person_enc=crypto.encrypt(values["person"]),
        phone_enc=crypto.encrypt(values["phone"]),
        year=ctx.now.year,
        now=ctx.now,
    )
    _audit(ctx, "employer.requested", reference=request.reference, lead=lead.id)
    view = await enterprises_repo.get_lead(ctx.session, lead.id, None)
    assert view is not None
    for out in await request_notices(ctx, view, request):
        ctx.notify(out)
    if lead.announced_at is None:
        lead.announced_at = ctx.now
    union_body = area.union_body_or_default if area else DEFAULT_UNION_BODY
    text = ctx.t(
        "employer.request.done",
        reference=request.reference,
        company=values["company"],
        area=area.name if area else ctx.t("leads.area.unknown"),
        union_body=union_body,
    )
    return [ctx.choices(text, [(ctx.t(label), payload) for label, payload in MENU])]


async def request_notices(
    ctx: Ctx, view: enterprises_repo.LeadView, request: repo.EmployerRequest
) -> list[Outgoing]:
    """Tell the area's volunteers (staff when the area has none) and the volunteer working on
    the lead. No personal data here: the contact person is shown on the lead card."""
    lead = view.lead
    area = ctx.services.areas.by_code(lead.area_code) if lead.area_code else None
    text = ctx.t(
        "employer.staff.new_request",
        name=view.enterprise.name,
        area=area.name if area else ctx.t("leads.area.unknown"),
        workers=request.workers,
        reference=request.reference or "",
    )
    people = []
    if lead.area_code:
        people = await people_repo.people_with_role(ctx.session, "volunteer", lead.area_code)
    if lead.claimed_by is not None:
        claimer = await ctx.session.get(people_repo.Person, lead.claimed_by)
        if claimer is not None and claimer.active:
            people.append(claimer)
    addresses = [Address(p.channel, p.external_id) for p in people]
    if not addresses:
        staff = await people_repo.people_with_role(ctx.session, "staff")
        addresses = [Address(p.channel, p.external_id) for p in staff]
        configured = (ctx.services.settings.extra.get("staff") or {}).get("staff") or []
        addresses += [Address("telegram", str(i)) for i in configured]
    options = (Choice(ctx.t("leads.notify.view_button"), f"vol:show:{lead.id}"),)
    tag = f"lead:employer:{lead.id}"
    return [Outgoing(a, Choices(text, options), tag=tag) for a in dict.fromkeys(addresses)]


# -- the employer's data rights (/dulieucuatoi, /rutdongy, /xoadulieu) ----------------------------


class EmployerData:
    """Requests the employer sent (the consents are listed by the membership provider)."""

    async def describe(self, ctx: Ctx) -> list[str]:
        crypto = ctx.services.crypto
        return [
            ctx.t(
                "employer.mydata.request",
                reference=request.reference or "",
                company=request.company,
                date=fmt_date(request.created_at),
                person=crypto.decrypt(request.person_enc),
                phone=display_phone(crypto.decrypt(request.phone_enc)),
            )
            for request in await repo.requests_of(ctx.session, ctx.contact_id)
        ]

    async def withdraw(self, ctx: Ctx) -> bool:
        """Consent withdrawn: the contact details go; the lead stays marked (the company asked)."""
        removed = await repo.erase_requests(ctx.session, ctx.contact_id)
        in_form = ctx.flow in (FORM, CONSENT_FLOW)
        if in_form:
            ctx.clear_flow()
        return bool(removed or in_form)

    async def erase(self, ctx: Ctx) -> None:
        await self.withdraw(ctx)
        ctx.data.pop(MODE, None)


def in_track(ctx: Ctx) -> bool:
    """The chat entered the employer track (menu, deep link, /doanhnghiep) and has not erased
    its data since."""
    return bool(ctx.data.get(MODE))


# -- wiring ---------------------------------------------------------------------------------------


def register() -> Feature:
    from bot.commands import employer as qr_command

    return Feature(
        name=__name__,
        commands={"doanhnghiep": show_index},
        payloads={"employer": on_button},
        flows={CONSENT_FLOW: consent_step},
        # Before the FAQ matcher and the other free-text handlers: in the employer track a
        # question about workers must never reach anything that could answer it.
        text=(TextHandler(on_text, PRIORITY_COMMAND_WORDS - 1),),
        validators={
            "employer_company": validate_company,
            "employer_tax_code": validate_tax_code,
            "employer_area": validate_area,
            "employer_workers": validate_workers,
        },
        submitters={FORM: submit},
        personal_data=(EmployerData(),),
        offers={"start_links": {START_ARG: show_index}, "in_employer_track": in_track},
        cli_commands=(
            CliCommand("employer", qr_command.HELP, qr_command.add_arguments, qr_command.run),
        ),
    )
