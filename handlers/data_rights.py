"""The worker's data rights, at any time: /dulieucuatoi, /rutdongy, /xoadulieu.

Law 91/2025/QH15 Điều 4 gives the worker the right to know, to withdraw consent, to see and to
have their data erased. Every feature that keeps personal data declares a provider
(``Feature.personal_data``, the ``PersonalData`` protocol of bot/core/services.py: ``describe``,
``withdraw``, ``erase``), and these commands read ``ctx.services.personal_data``,

so these commands cover data the join feature never heard of. Each request is acknowledged at
once and recorded, with an audit entry that holds no personal data (ids and counts only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.context import Ctx, PersonalData
from bot.core.events import Outgoing
from bot.core.feature import Feature
from bot.core.payloads import Payload, button
from bot.core.texts import fmt_datetime
from storage import membership as repo


@dataclass(frozen=True)
class ErasePayload(Payload, prefix="data"):
    """The buttons under "erase everything?" (``data:erase:<id>`` / ``data:keep:<id>``) and
    "withdraw consent?" (``data:withdraw:<id>`` / ``data:stay:<id>``)."""

    action: str
    request_id: int


def providers(ctx: Ctx) -> list[PersonalData]:
    return list(ctx.services.personal_data)


def _line(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        parts = []
        for key, value in item.items():
            shown = fmt_datetime(value) if isinstance(value, datetime) else value
            parts.append(f"{key}: {shown}")
        return "• " + "; ".join(parts)
    return f"• {item}"


async def describe(provider: PersonalData, ctx: Ctx) -> list[str]:
    return [_line(i) for i in await provider.describe(ctx)]


def _audit(ctx: Ctx, action: str, **detail: Any) -> None:
    repo.audit(
        ctx.session,
        action=action,
        actor="worker",
        subject=f"contact:{ctx.contact_id}",
        channel=ctx.inbound.channel,
        now=ctx.now,
        **detail,
    )


async def _record(ctx: Ctx, kind: str, *, done: bool = True) -> repo.DataRightsRequest:
    return await repo.open_request(
        ctx.session,
        contact_id=ctx.contact_id,
        kind=kind,
        channel=ctx.inbound.channel,
        now=ctx.now,
        done=done,
    )


async def my_data(ctx: Ctx) -> list[Outgoing]:
    """/dulieucuatoi: everything held about this worker, decrypted for them alone."""
    await _record(ctx, "access")
    lines: list[str] = []
    for provider in providers(ctx):
        lines += await describe(provider, ctx)
    _audit(ctx, "data.viewed", items=len(lines))
    if not lines:
        return [ctx.say("privacy.mydata.none")]
    text = "\n".join([ctx.t("privacy.mydata.header"), *lines, "", ctx.t("privacy.mydata.footer")])
    return [ctx.text(text)]


async def _ask_to_confirm(
    ctx: Ctx, kind: str, texts: str, actions: tuple[str, str], audit: str
) -> list[Outgoing]:
    """A request recorded now and carried out after one confirmation (two buttons)."""
    request = await _record(ctx, kind, done=False)
    _audit(ctx, audit, request=request.id)
    yes, no = actions
    return [
        ctx.choices(
            ctx.t(f"{texts}.confirm"),
            [
                button(ctx.t(f"{texts}.yes"), ErasePayload(yes, request.id)),
                button(ctx.t(f"{texts}.no"), ErasePayload(no, request.id)),
            ],
        )
    ]


async def withdraw_request(ctx: Ctx) -> list[Outgoing]:
    """/rutdongy: says what stops, and stops it after one confirmation."""
    return await _ask_to_confirm(
        ctx, "withdraw", "privacy.withdraw", ("withdraw", "stay"), "consent.withdraw_requested"
    )


async def _withdraw(ctx: Ctx, request: repo.DataRightsRequest) -> list[Outgoing]:
    """Stop processing at once; keep only the proof that consent was given."""
    changed = False
    for provider in providers(ctx):
        if await provider.withdraw(ctx):
            changed = True
    repo.close_request(request, "done", ctx.now)
    _audit(ctx, "consent.withdrawn", request=request.id, changed=changed)
    return [ctx.say("privacy.withdraw.done" if changed else "privacy.withdraw.nothing")]


async def erase_request(ctx: Ctx) -> list[Outgoing]:
    """/xoadulieu: acknowledged and recorded now, carried out after one confirmation."""
    return await _ask_to_confirm(
        ctx, "erase", "privacy.erase", ("erase", "keep"), "data.erase_requested"
    )


async def on_button(ctx: Ctx) -> list[Outgoing]:
    pressed = ErasePayload.unpack(ctx.inbound.payload)
    request = None
    if pressed is not None:
        request = await repo.get_request(ctx.session, pressed.request_id, ctx.contact_id)
    if pressed is None or request is None or request.status != "awaiting_confirmation":
        return [ctx.say("privacy.erase.stale")]
    if pressed.action == "withdraw":
        return await _withdraw(ctx, request)
    if pressed.action == "stay":
        repo.close_request(request, "cancelled", ctx.now)
        _audit(ctx, "consent.withdraw_cancelled", request=request.id)
        return [ctx.say("privacy.withdraw.kept")]
    if pressed.action != "erase":
        repo.close_request(request, "cancelled", ctx.now)
        _audit(ctx, "data.erase_cancelled", request=request.id)
        return [ctx.say("privacy.erase.kept")]
    for provider in providers(ctx):
        await provider.erase(ctx)
    ctx.clear_flow()
    ctx.data.clear()  # a half-filled form of any feature goes too
    repo.close_request(request, "done", ctx.now)
    _audit(ctx, "data.erased", request=request.id, providers=len(providers(ctx)))
    return [ctx.say("privacy.erase.done")]


def register() -> Feature:
    return Feature(
        name=__name__,
        commands={
            "dulieucuatoi": my_data,
            "rutdongy": withdraw_request,
            "xoadulieu": erase_request,
        },
        payloads={ErasePayload.prefix: on_button},
    )
