"""/suadulieu: the worker corrects their application in the chat (Law 91/2025 Điều 4).

Name, phone, company and commune (xã/phường) of a pending application are corrected at once,
with the same checks as the join form, and audited (field names only, never values). An admitted
member's record belongs to their union: the correction goes to the membership officers as a
request, and the worker is told so.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.answers import MAIN_MENU
from bot.core.areas import DEFAULT_UNION_BODY
from bot.core.context import Ctx
from bot.core.events import Address, Kind, Outgoing, Text
from bot.core.feature import Feature
from bot.core.form_contract import Candidates, Invalid
from bot.core.payloads import Payload, button
from handlers.join import (
    AREA_UNKNOWN,
    validate_area,
    validate_company,
    validate_name,
    validate_phone,
)
from storage import membership as repo

FLOW = "join_fix"
FIELDS = ("full_name", "phone", "company", "area")
_VALIDATORS = {
    "full_name": validate_name,
    "phone": validate_phone,
    "company": validate_company,
    "area": validate_area,
}


@dataclass(frozen=True)
class FixPayload(Payload, prefix="fix"):
    """``fix:field:<name>`` picks what to correct; ``fix:area:<code>`` picks a commune."""

    action: str
    value: str = ""


def _audit(ctx: Ctx, action: str, app: repo.MemberApplication, field: str) -> None:
    repo.audit(
        ctx.session,
        action=action,
        actor="worker",
        subject=app.reference,
        channel=ctx.inbound.channel,
        now=ctx.now,
        field=field,
    )


async def start(ctx: Ctx) -> list[Outgoing]:
    """/suadulieu: which field of the latest active application to correct."""
    app = await repo.latest_active_of(ctx.session, ctx.contact_id)
    if app is None:
        return [ctx.choices(ctx.t("join.fix.nothing"), [(ctx.t("join.menu"), MAIN_MENU)])]
    options = [button(ctx.t(f"join.label.{name}"), FixPayload("field", name)) for name in FIELDS]
    key = "join.fix.pick_admitted" if app.status == repo.ADMITTED else "join.fix.pick"
    ctx.start_flow(FLOW, None, {"app": app.id})
    return [
        ctx.choices(
            ctx.t(key, reference=app.reference), [*options, (ctx.t("join.menu"), MAIN_MENU)]
        )
    ]


async def _application(ctx: Ctx) -> repo.MemberApplication | None:
    app = await repo.latest_active_of(ctx.session, ctx.contact_id)
    return app if app is not None and app.id == ctx.data.get("app") else None


async def on_button(ctx: Ctx) -> list[Outgoing]:
    pressed = FixPayload.unpack(ctx.inbound.payload)
    app = await _application(ctx) if ctx.flow == FLOW else None
    if pressed is None or app is None:
        return [ctx.say("form.stale")]
    if pressed.action == "field" and pressed.value in FIELDS:
        ctx.step = pressed.value
        return [ctx.say(f"join.ask.{pressed.value}")]
    if pressed.action == "area" and ctx.step == "area":
        shown = ctx.data.get("cands", {}).get(pressed.value)
        if shown is not None:
            return await _apply(ctx, app, "area", pressed.value, shown)
    return [ctx.say("form.stale")]


async def step(ctx: Ctx) -> list[Outgoing] | None:
    """The flow: the new value typed for the field chosen."""
    if ctx.inbound.kind is Kind.BUTTON:
        if not FixPayload.matches(ctx.inbound.payload):
            ctx.clear_flow()
        return None
    app = await _application(ctx)
    field = ctx.step or ""
    if app is None or field not in FIELDS:
        ctx.clear_flow()
        return None
    text = ctx.inbound.phone if ctx.inbound.kind is Kind.CONTACT else ctx.inbound.text
    result = await _VALIDATORS[field](ctx, text or "")
    if isinstance(result, Invalid):
        return [ctx.say(result.error_key, **result.params), ctx.say(f"join.ask.{field}")]
    if isinstance(result, Candidates):
        ctx.data["cands"] = dict(result.options)
        options = [button(shown, FixPayload("area", code)) for code, shown in result.options]
        return [ctx.choices(ctx.t(result.prompt_key), options)]
    return await _apply(ctx, app, field, result.value, result.shown)


async def _apply(
    ctx: Ctx, app: repo.MemberApplication, field: str, value: str, shown: str
) -> list[Outgoing]:
    ctx.clear_flow()
    label = ctx.t(f"join.label.{field}")
    if app.status == repo.ADMITTED:
        await repo.open_request(
            ctx.session,
            contact_id=ctx.contact_id,
            kind="correct",
            channel=ctx.inbound.channel,
            now=ctx.now,
            done=False,
        )
        _audit(ctx, "application.correction_requested", app, field)
        await _tell_officers(ctx, app, label, shown)
        return [
            ctx.choices(ctx.t("join.fix.requested", field=label), [(ctx.t("join.menu"), MAIN_MENU)])
        ]
    crypto = ctx.services.crypto
    if field == "full_name":
        app.name_enc = crypto.encrypt(value)
    elif field == "phone":
        app.phone_enc, app.phone_hash = crypto.encrypt(value), crypto.lookup_hash(value)
    elif field == "company":
        app.company_enc = crypto.encrypt(value)
    else:
        areas = await ctx.services.areas_now(ctx.session)  # routed by the mapping as stored
        area = areas.by_code(value) if value != AREA_UNKNOWN else None
        app.area_code = area.code if area else None
        app.union_body = area.union_body_or_default if area else DEFAULT_UNION_BODY
    app.updated_at = ctx.now
    _audit(ctx, "application.corrected", app, field)
    done = ctx.t("join.fix.done", field=label, value=shown, reference=app.reference)
    return [
        ctx.choices(
            done, [(ctx.t("join.status_button"), "join:status"), (ctx.t("join.menu"), MAIN_MENU)]
        )
    ]


async def _tell_officers(ctx: Ctx, app: repo.MemberApplication, label: str, shown: str) -> None:
    """The officers who hold the member's record get the request (only they keep it)."""
    configured = ctx.services.roles.configured_accounts("membership")
    addresses = {Address(who.channel, who.user_id) for who in configured}
    for person in await repo.membership_officers(ctx.session, app.union_body):
        addresses.add(Address(person.channel, person.external_id))
    text = ctx.t("join.fix.staff_request", reference=app.reference, field=label, value=shown)
    for address in sorted(addresses, key=lambda a: (a.channel, a.chat_id)):
        ctx.notify(Outgoing(address, Text(text), tag=f"join:fix:{app.reference}"))


def register() -> Feature:
    return Feature(
        name=__name__,
        commands={"suadulieu": start},
        payloads={FixPayload.prefix: on_button},
        flows={FLOW: step},
    )
