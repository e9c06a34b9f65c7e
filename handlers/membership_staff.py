"""Membership officers admit or return applications: /donmoi in a private chat with the bot.

Only people holding the "membership" role (or "staff", who see everything) may use it; the role
is checked on every action, not just on the list. An officer registered for a union body sees
that body's applications; one without a body (e.g. configured in config.toml) sees all. This is
the only place where names and phone numbers are shown decrypted to anyone but the worker, so
every listing and decision is written to the audit log (a pseudonymous officer id, references
and counts; never the data itself). The worker hears the outcome on the channel they used,
through the outbox, so a crash between the decision and the message loses neither. Nobody
decides their own application (``is_own_application``: their account, a linked one, or their
phone): another officer has to.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.context import Ctx, Services
from bot.core.engine import reachable_address
from bot.core.events import Kind, Outgoing, Text
from bot.core.feature import Feature
from bot.core.payloads import Payload, button
from bot.core.texts import Texts, fmt_date
from handlers.join import status_label
from handlers.membership_view import ApplicationView
from storage import membership as repo

RETURN_FLOW = "membership_return"
REASON_MIN = 5
REASON_MAX = 500
LIST_LIMIT = 10


@dataclass(frozen=True)
class ReviewPayload(Payload, prefix="mship"):
    """``mship:admit:<id>``, ``mship:return:<id>``, ``mship:cancel``."""

    action: str
    app_id: int = 0


async def _scope(ctx: Ctx) -> tuple[bool, set[str] | None]:
    """(allowed, union bodies the officer covers; None = all): the roles service decides."""
    grant = await ctx.services.roles.grant(ctx.session, ctx.who, "membership.review")
    if grant is None:
        return False, None
    return True, set(grant.union_bodies) if grant.union_bodies is not None else None


def officer_ref(ctx: Ctx) -> str:
    """A stable pseudonym for the officer in the audit log (keyed hash of the account)."""
    crypto = ctx.services.crypto
    return "staff:" + crypto.lookup_hash(f"{ctx.inbound.channel}:{ctx.inbound.user_id}")[:16]


def _audit(ctx: Ctx, action: str, subject: str, **detail: Any) -> None:
    """An audit entry for what the officer did or saw."""
    repo.audit(
        ctx.session,
        action=action,
        actor=officer_ref(ctx),
        subject=subject,
        channel=ctx.inbound.channel,
        now=ctx.now,
        **detail,
    )


def _refuse(ctx: Ctx) -> list[Outgoing]:
    _audit(ctx, "staff.refused", "member_applications")
    return [ctx.say("join.staff.refused")]


async def list_pending(ctx: Ctx) -> list[Outgoing]:
    """/donmoi: the oldest pending applications in the officer's scope, each with buttons."""
    allowed, bodies = await _scope(ctx)
    if not allowed:
        return _refuse(ctx)
    apps, total = await repo.pending_for(ctx.session, bodies, limit=LIST_LIMIT)
    if not apps:
        return [ctx.say("join.staff.none")]
    crypto = ctx.services.crypto
    outs = [ctx.say("join.staff.header", total=total, shown=len(apps))]
    for app in apps:
        view = ApplicationView.of(ctx.texts, ctx.services.areas, crypto, app)
        text = ctx.t(
            "join.staff.item",
            reference=app.reference,
            date=fmt_date(app.created_at),
            union_body=app.union_body,
            **asdict(view),
        )
        outs.append(
            ctx.choices(
                text,
                [
                    button(ctx.t("join.staff.admit"), ReviewPayload("admit", app.id)),
                    button(ctx.t("join.staff.return"), ReviewPayload("return", app.id)),
                ],
            )
        )
    _audit(
        ctx, "staff.viewed_pending", "member_applications", references=[a.reference for a in apps]
    )
    return outs


async def _load(ctx: Ctx, app_id: int) -> tuple[repo.MemberApplication | None, list[Outgoing]]:
    """The application if the officer may decide it now; otherwise the reply that says why."""
    allowed, bodies = await _scope(ctx)
    if not allowed:
        return None, _refuse(ctx)
    app = await repo.get_for_update(ctx.session, app_id) if app_id > 0 else None
    if app is None or app.name_enc is None or (bodies is not None and app.union_body not in bodies):
        return None, [ctx.say("join.staff.not_found")]
    if app.status != repo.PENDING:
        status = status_label(ctx, app.status)
        return None, [ctx.say("join.staff.already_decided", reference=app.reference, status=status)]
    if await repo.is_own_application(ctx.session, app, ctx.inbound.channel, ctx.inbound.user_id):
        _audit(ctx, "staff.own_application_refused", app.reference)
        return None, [ctx.say("join.staff.own_application", reference=app.reference)]
    return app, []


async def on_button(ctx: Ctx) -> list[Outgoing]:
    pressed = ReviewPayload.unpack(ctx.inbound.payload) or ReviewPayload("tampered")
    action = pressed.action
    if action == "cancel":
        ctx.clear_flow()
        return [ctx.say("join.staff.return_cancelled")]
    app, refusal = await _load(ctx, pressed.app_id)
    if app is None:
        return refusal
    if action == "admit":
        return await _admit(ctx, app)
    if action == "return":
        ctx.start_flow(RETURN_FLOW, "reason", {"application": app.id})
        return [
            ctx.choices(
                ctx.t("join.staff.ask_reason", reference=app.reference),
                [button(ctx.t("join.staff.cancel"), ReviewPayload("cancel"))],
            )
        ]
    return [ctx.say("join.staff.not_found")]


async def _admit(ctx: Ctx, app: repo.MemberApplication) -> list[Outgoing]:
    for out in await admit_application(
        ctx.session, ctx.texts, app, actor=officer_ref(ctx), channel=ctx.inbound.channel,
        now=ctx.now, services=ctx.services,
    ):  # fmt: skip
        ctx.notify(out)
    return [ctx.say("join.staff.admitted", reference=app.reference)]


async def admit_application(
    session: AsyncSession,
    texts: Texts,
    app: repo.MemberApplication,
    *,
    actor: str,
    channel: str,
    now: datetime,
    services: Services | None = None,
) -> list[Outgoing]:
    """Admit a pending application: status, audit entry, and the worker's message to send
    (through the outbox). /donmoi and the web dashboard both decide through here; with the
    services, the ``admitted`` hooks add theirs (the membership card)."""
    repo.set_status(session, app, repo.ADMITTED, actor=actor, now=now)
    _audit_decision(session, app, "application.admitted", actor, channel, now)
    text = texts("join.notify.admitted", reference=app.reference, union_body=app.union_body)
    outs = await _worker_message(session, app, text, now)
    for hook in services.hooks.admitted if services is not None else ():
        outs += await hook(session, services, app, now)
    return outs


async def return_application(
    session: AsyncSession,
    texts: Texts,
    crypto: Any,
    app: repo.MemberApplication,
    reason: str,
    *,
    actor: str,
    channel: str,
    now: datetime,
) -> list[Outgoing]:
    """Return a pending application with the officer's reason (stored encrypted; the worker
    reads it as written)."""
    repo.set_status(
        session, app, repo.RETURNED, actor=actor, now=now, reason_enc=crypto.encrypt(reason)
    )
    _audit_decision(session, app, "application.returned", actor, channel, now)
    text = texts(
        "join.notify.returned", reference=app.reference, union_body=app.union_body, reason=reason
    )
    return await _worker_message(session, app, text, now)


def clean_reason(text: str | None) -> str:
    return " ".join((text or "").split())


async def reason_step(ctx: Ctx) -> list[Outgoing] | None:
    """The officer types why the application goes back; the worker reads it as written."""
    if ctx.inbound.kind is Kind.BUTTON:
        if ReviewPayload.matches(ctx.inbound.payload):
            return None  # our own buttons (cancel, another application) route as usual
        ctx.clear_flow()
        return None
    reason = clean_reason(ctx.inbound.text)
    if len(reason) < REASON_MIN:
        return [ctx.say("join.staff.reason_short", min=REASON_MIN)]
    if len(reason) > REASON_MAX:
        return [ctx.say("join.staff.reason_long", max=REASON_MAX)]
    application_id = ctx.data.get("application")
    ctx.clear_flow()
    app, refusal = await _load(ctx, application_id if isinstance(application_id, int) else 0)
    if app is None:
        return refusal
    for out in await return_application(
        ctx.session, ctx.texts, ctx.services.crypto, app, reason,
        actor=officer_ref(ctx), channel=ctx.inbound.channel, now=ctx.now,
    ):  # fmt: skip
        ctx.notify(out)
    return [ctx.say("join.staff.returned", reference=app.reference)]


def _audit_decision(
    session: AsyncSession,
    app: repo.MemberApplication,
    action: str,
    actor: str,
    channel: str,
    now: datetime,
) -> None:
    repo.audit(session, action=action, actor=actor, subject=app.reference, channel=channel,
               now=now, union_body=app.union_body)  # fmt: skip


async def _worker_message(
    session: AsyncSession, app: repo.MemberApplication, text: str, now: datetime
) -> list[Outgoing]:
    address = await reachable_address(session, app.contact_id)
    if address is None:
        repo.audit(
            session,
            action="notify.unreachable",
            actor="system",
            subject=app.reference,
            now=now,
        )
        return []
    return [Outgoing(address, Text(text), tag=f"join:decision:{app.reference}")]


def register() -> Feature:
    return Feature(
        name=__name__,
        commands={"donmoi": list_pending},
        payloads={ReviewPayload.prefix: on_button},
        flows={RETURN_FLOW: reason_step},
    )
