"""The worker's data rights, at any time: /dulieucuatoi, /rutdongy, /xoadulieu.

Law 91/2025/QH15 Điều 4 gives the worker the right to know, to withdraw consent, to see and to
have their data erased. Every feature that keeps personal data registers a provider in
``engine.services["personal_data"]``::

    class Provider(Protocol):
        async def describe(self, ctx) -> list[str]: ...   # lines the worker reads
        async def erase(self, ctx) -> None: ...           # delete this contact's data
        # optional: async def withdraw(self, ctx) -> bool  # stop processing; True if any

so these commands cover data the join feature never heard of. Each request is acknowledged at
once and recorded, with an audit entry that holds no personal data (ids and counts only).
"""

from __future__ import annotations

import inspect
from datetime import datetime
from typing import Any, Protocol

from bot.core.engine import Ctx, Engine
from bot.core.events import Outgoing
from bot.core.texts import fmt_datetime
from storage import membership as repo


class PersonalDataProvider(Protocol):
    async def describe(self, ctx: Ctx) -> list[str]: ...

    async def erase(self, ctx: Ctx) -> None: ...


def providers(ctx: Ctx) -> list[Any]:
    return list(ctx.services.get("personal_data", []))


def _takes_ctx(method: Any) -> bool:
    """Providers written as ``(session, contact_id)`` are accepted too (an older shape)."""
    return len(inspect.signature(method).parameters) == 1


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


async def describe(provider: Any, ctx: Ctx) -> list[str]:
    if _takes_ctx(provider.describe):
        return [_line(i) for i in await provider.describe(ctx)]
    return [_line(i) for i in await provider.describe(ctx.session, ctx.contact_id)]


async def erase(provider: Any, ctx: Ctx) -> None:
    if _takes_ctx(provider.erase):
        await provider.erase(ctx)
    else:
        await provider.erase(ctx.session, ctx.contact_id)


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


async def withdraw(ctx: Ctx) -> list[Outgoing]:
    """/rutdongy: stop processing at once; keep only the proof that consent was given."""
    await _record(ctx, "withdraw")
    changed = False
    for provider in providers(ctx):
        stop = getattr(provider, "withdraw", None)
        if stop is not None and await stop(ctx):
            changed = True
    _audit(ctx, "consent.withdrawn", changed=changed)
    return [ctx.say("privacy.withdraw.done" if changed else "privacy.withdraw.nothing")]


async def erase_request(ctx: Ctx) -> list[Outgoing]:
    """/xoadulieu: acknowledged and recorded now, carried out after one confirmation."""
    request = await _record(ctx, "erase", done=False)
    _audit(ctx, "data.erase_requested", request=request.id)
    return [
        ctx.choices(
            ctx.t("privacy.erase.confirm"),
            [
                (ctx.t("privacy.erase.yes"), f"data:erase:{request.id}"),
                (ctx.t("privacy.erase.no"), f"data:keep:{request.id}"),
            ],
        )
    ]


async def on_button(ctx: Ctx) -> list[Outgoing]:
    _, action, raw_id = [*(ctx.inbound.payload or "").split(":"), "", ""][:3]
    request = None
    if raw_id.isdigit():
        request = await repo.get_request(ctx.session, int(raw_id), ctx.contact_id)
    if request is None or request.status != "awaiting_confirmation":
        return [ctx.say("privacy.erase.stale")]
    if action != "erase":
        repo.close_request(request, "cancelled", ctx.now)
        _audit(ctx, "data.erase_cancelled", request=request.id)
        return [ctx.say("privacy.erase.kept")]
    for provider in providers(ctx):
        await erase(provider, ctx)
    ctx.clear_flow()
    ctx.data.clear()  # a half-filled form of any feature goes too
    repo.close_request(request, "done", ctx.now)
    _audit(ctx, "data.erased", request=request.id, providers=len(providers(ctx)))
    return [ctx.say("privacy.erase.done")]


def register(engine: Engine) -> None:
    engine.services.setdefault("personal_data", [])
    engine.command("dulieucuatoi", my_data)
    engine.command("rutdongy", withdraw)
    engine.command("xoadulieu", erase_request)
    engine.payload("data", on_button)
