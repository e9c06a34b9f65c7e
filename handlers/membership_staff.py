"""Membership officers admit or return applications: /donmoi in a private chat with the bot.

Only people holding the "membership" role (or "staff", who see everything) may use it; the role
is checked on every action, not just on the list. An officer registered for a union body sees
that body's applications; one without a body (e.g. configured in config.toml) sees all. This is
the only place where names and phone numbers are shown decrypted to anyone but the worker, so
every listing and decision is written to the audit log (a pseudonymous officer id, references
and counts; never the data itself). The worker hears the outcome on the channel they used,
through the outbox, so a crash between the decision and the message loses neither.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bot.core.engine import Ctx, Engine, reachable_address
from bot.core.events import Kind, Outgoing, Text
from bot.core.texts import fmt_date
from handlers.join import ApplicationView, status_label
from storage import membership as repo
from storage.people import has_role

RETURN_FLOW = "membership_return"
REASON_MIN = 5
REASON_MAX = 500
LIST_LIMIT = 10


async def _scope(ctx: Ctx) -> tuple[bool, set[str] | None]:
    """(allowed, union bodies the officer covers; None = all)."""
    settings = ctx.services["settings"]
    configured = settings.extra.get("staff")
    channel, user = ctx.inbound.channel, ctx.inbound.user_id
    if await has_role(ctx.session, channel, user, "staff", configured=configured):
        return True, None
    if not await has_role(ctx.session, channel, user, "membership", configured=configured):
        return False, None
    bodies = await repo.staff_union_bodies(ctx.session, channel, user)
    return True, bodies or None


def officer_ref(ctx: Ctx) -> str:
    """A stable pseudonym for the officer in the audit log (keyed hash of the account)."""
    crypto = ctx.services["crypto"]
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
    crypto = ctx.services["crypto"]
    outs = [ctx.say("join.staff.header", total=total, shown=len(apps))]
    for app in apps:
        view = ApplicationView.of(ctx, app, crypto)
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
                    (ctx.t("join.staff.admit"), f"mship:admit:{app.id}"),
                    (ctx.t("join.staff.return"), f"mship:return:{app.id}"),
                ],
            )
        )
    _audit(
        ctx, "staff.viewed_pending", "member_applications", references=[a.reference for a in apps]
    )
    return outs


async def _load(ctx: Ctx, raw_id: str) -> tuple[repo.MemberApplication | None, list[Outgoing]]:
    """The application if the officer may decide it now; otherwise the reply that says why."""
    allowed, bodies = await _scope(ctx)
    if not allowed:
        return None, _refuse(ctx)
    app = await repo.get_for_update(ctx.session, int(raw_id)) if raw_id.isdigit() else None
    if app is None or app.name_enc is None or (bodies is not None and app.union_body not in bodies):
        return None, [ctx.say("join.staff.not_found")]
    if app.status != repo.PENDING:
        status = status_label(ctx, app.status)
        return None, [ctx.say("join.staff.already_decided", reference=app.reference, status=status)]
    return app, []


async def on_button(ctx: Ctx) -> list[Outgoing]:
    _, action, raw_id = [*(ctx.inbound.payload or "").split(":"), "", ""][:3]
    if action == "cancel":
        ctx.clear_flow()
        return [ctx.say("join.staff.return_cancelled")]
    app, refusal = await _load(ctx, raw_id)
    if app is None:
        return refusal
    if action == "admit":
        return await _admit(ctx, app)
    if action == "return":
        ctx.start_flow(RETURN_FLOW, "reason", {"application": app.id})
        return [
            ctx.choices(
                ctx.t("join.staff.ask_reason", reference=app.reference),
                [(ctx.t("join.staff.cancel"), "mship:cancel")],
            )
        ]
    return [ctx.say("join.staff.not_found")]


async def _admit(ctx: Ctx, app: repo.MemberApplication) -> list[Outgoing]:
    repo.set_status(ctx.session, app, repo.ADMITTED, actor=officer_ref(ctx), now=ctx.now)
    _audit_decision(ctx, app, "application.admitted")
    await _tell_worker(
        ctx, app, ctx.t("join.notify.admitted", reference=app.reference, union_body=app.union_body)
    )
    return [ctx.say("join.staff.admitted", reference=app.reference)]


async def reason_step(ctx: Ctx) -> list[Outgoing] | None:
    """The officer types why the application goes back; the worker reads it as written."""
    if ctx.inbound.kind is Kind.BUTTON:
        if (ctx.inbound.payload or "").startswith("mship:"):
            return None  # our own buttons (cancel, another application) route as usual
        ctx.clear_flow()
        return None
    reason = " ".join((ctx.inbound.text or "").split())
    if len(reason) < REASON_MIN:
        return [ctx.say("join.staff.reason_short", min=REASON_MIN)]
    if len(reason) > REASON_MAX:
        return [ctx.say("join.staff.reason_long", max=REASON_MAX)]
    application_id = str(ctx.data.get("application", ""))
    ctx.clear_flow()
    app, refusal = await _load(ctx, application_id)
    if app is None:
        return refusal
    crypto = ctx.services["crypto"]
    repo.set_status(
        ctx.session,
        app,
        repo.RETURNED,
        actor=officer_ref(ctx),
        now=ctx.now,
        reason_enc=crypto.encrypt(reason),
    )
    _audit_decision(ctx, app, "application.returned")
    text = ctx.t(
        "join.notify.returned", reference=app.reference, union_body=app.union_body, reason=reason
    )
    await _tell_worker(ctx, app, text)
    return [ctx.say("join.staff.returned", reference=app.reference)]


def _audit_decision(ctx: Ctx, app: repo.MemberApplication, action: str) -> None:
    _audit(ctx, action, app.reference, union_body=app.union_body)


async def _tell_worker(ctx: Ctx, app: repo.MemberApplication, text: str) -> None:
    address = await reachable_address(ctx.session, app.contact_id)
    if address is None:
        repo.audit(
            ctx.session,
            action="notify.unreachable",
            actor="system",
            subject=app.reference,
            now=ctx.now,
        )
        return
    ctx.notify(Outgoing(address, Text(text), tag=f"join:decision:{app.reference}"))


def register(engine: Engine) -> None:
    engine.command("donmoi", list_pending)
    engine.payload("mship", on_button)
    engine.flow(RETURN_FLOW, reason_step)
