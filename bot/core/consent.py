"""Notice and consent before a form collects personal data, one purpose at a time.

Law 91/2025/QH15 Điều 9: consent is per purpose, informed and explicit; silence is no consent.
Each purpose (``join``, ``question``, ``lead``) has a short summary (≤ 600 characters, what a
worker reads on a phone) and a full text with every right of Điều 4 and how to use it, shown on
"Xem đầy đủ". The consent is stored with the editors' version and a fingerprint of the exact
words (summary, full text, rights), so it is always known what each worker agreed to. A worker
who already agreed to the current words of a purpose is not asked again (``every_time`` for a
form filled once, like joining).

A feature owns its purpose: it builds a ``Purpose`` with what happens on "Đồng ý" and declares
``purpose.flow`` as both a flow and a payload prefix of its ``Feature``, so no registry is needed.
Whatever the worker was about to do (the question they typed) travels with the notice as
``carry``, sealed with the data key like every other word a worker typed into the state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Self

from bot.config import ConfigReader
from bot.core.answers import menu
from bot.core.context import Ctx
from bot.core.events import Kind, Outgoing
from bot.core.textnorm import typed_words
from storage import membership as repo
from storage.crypto import open_json, seal_json

FLOW_PREFIX = "consent_"
DEFAULT_MISS_DAYS = 90

Accepted = Callable[[Ctx, Any], Awaitable[list[Outgoing]]]
Declined = Callable[[Ctx], Awaitable[list[Outgoing]]]
Params = Callable[[Ctx], dict[str, Any]]

_ACCEPT = {"dong y", "toi dong y", "em dong y", "ok dong y"}
_DECLINE = {"khong dong y", "khong", "ko", "k", "thoi", "huy", "tu choi"}
_MORE = {"xem day du", "xem them", "doc het", "day du"}


@dataclass(frozen=True)
class PrivacyConfig:
    """``[privacy]`` of config.toml: the contact for the rights without a command, and how long
    the FAQ misses are kept."""

    SECTION = "privacy"
    contact: str = ""
    faq_miss_days: int = DEFAULT_MISS_DAYS

    @classmethod
    def from_config(cls, reader: ConfigReader) -> Self:
        return cls(
            contact=reader.text("contact", ""),
            faq_miss_days=reader.integer("faq_miss_days", DEFAULT_MISS_DAYS, minimum=1),
        )


def privacy_contact(ctx: Ctx) -> str:
    """Where restriction, objection and complaints go; the hotline when none is configured."""
    configured = ctx.services.config(PrivacyConfig).contact
    return configured or ctx.t("privacy.contact_default")


def _no_params(ctx: Ctx) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Purpose:
    """One purpose of processing; its texts live under ``privacy.<name>``."""

    name: str
    accepted: Accepted
    declined: Declined | None = None
    params: Params = field(default=_no_params)

    @property
    def flow(self) -> str:
        """The flow while the notice is on screen, and the prefix of its buttons."""
        return f"{FLOW_PREFIX}{self.name}"

    # -- texts -------------------------------------------------------------------------------
    def _text(self, ctx: Ctx, part: str) -> str:
        key = f"privacy.{self.name}.{part}"
        template = ctx.texts.raw(key)
        values = self.params(ctx)
        return ctx.t(key, **{k: v for k, v in values.items() if f"{{{k}}}" in template})

    def summary(self, ctx: Ctx) -> str:
        return self._text(ctx, "summary")

    def full(self, ctx: Ctx) -> str:
        rights = ctx.t("privacy.rights", privacy_contact=privacy_contact(ctx))
        return f"{self._text(ctx, 'full')}\n{rights}\n{ctx.t('privacy.notice.footer')}"

    def version(self, ctx: Ctx) -> str:
        """The editors' version plus a fingerprint of every word the worker could read."""
        words = f"{self.summary(ctx)}\n{self.full(ctx)}"
        digest = hashlib.sha256(words.encode("utf-8")).hexdigest()[:8]
        return f"{ctx.t(f'privacy.{self.name}.version')}+{digest}"

    def _buttons(self, ctx: Ctx, *, more: bool) -> list[tuple[str, str]]:
        options = [(ctx.t("privacy.notice.accept"), f"{self.flow}:yes")]
        if more:
            options.append((ctx.t("privacy.notice.more"), f"{self.flow}:more"))
        options.append((ctx.t("privacy.notice.decline"), f"{self.flow}:no"))
        return options

    def notice(self, ctx: Ctx) -> Outgoing:
        return ctx.choices(self.summary(ctx), self._buttons(ctx, more=True))

    # -- the conversation --------------------------------------------------------------------
    async def ask(self, ctx: Ctx, carry: Any = None, *, every_time: bool = False) -> list[Outgoing]:
        """Show the notice unless the worker agreed to these exact words already."""
        if not every_time and await repo.has_consent_version(
            ctx.session, ctx.contact_id, self.name, self.version(ctx)
        ):
            return await self.accepted(ctx, carry)
        # The carried question is the worker's own words: sealed before the state is written.
        ctx.start_flow(self.flow, "notice", {"carry": seal_json(ctx.services.crypto, carry)})
        return [self.notice(ctx)]

    async def step(self, ctx: Ctx) -> list[Outgoing] | None:
        """The flow handler: only an explicit "Đồng ý" goes on (silence is no)."""
        inbound = ctx.inbound
        if inbound.kind is Kind.BUTTON:
            if not (inbound.payload or "").startswith(f"{self.flow}:"):
                ctx.clear_flow()  # another feature's button: leave the notice, let it answer
            return None
        typed = typed_words(inbound.text)
        if typed in _ACCEPT:
            return await self._accept(ctx)
        if typed in _DECLINE:
            return await self._decline(ctx)
        if typed in _MORE:
            return self._more(ctx)
        return [ctx.say("privacy.notice.use_buttons"), self.notice(ctx)]

    async def on_button(self, ctx: Ctx) -> list[Outgoing]:
        """``consent_<name>:yes|more|no``, also pressed after the notice was left."""
        action = (ctx.inbound.payload or "").partition(":")[2]
        if action == "more":
            return self._more(ctx)
        if ctx.flow is not None and ctx.flow != self.flow:
            return [ctx.say("form.stale")]  # "Đồng ý" pressed twice: the form is running
        if action == "yes":
            return await self._accept(ctx)
        return await self._decline(ctx)

    def _more(self, ctx: Ctx) -> list[Outgoing]:
        return [ctx.choices(self.full(ctx), self._buttons(ctx, more=False))]

    async def _audit(self, ctx: Ctx, action: str, **detail: Any) -> None:
        await repo.record_audit(
            ctx.session,
            action=action,
            actor="worker",
            subject=f"contact:{ctx.contact_id}",
            channel=ctx.inbound.channel,
            now=ctx.now,
            purpose=self.name,
            **detail,
        )

    async def _accept(self, ctx: Ctx) -> list[Outgoing]:
        version = self.version(ctx)
        await repo.record_consent(
            ctx.session,
            contact_id=ctx.contact_id,
            purpose=self.name,
            notice_version=version,
            channel=ctx.inbound.channel,
            now=ctx.now,
        )
        await self._audit(ctx, "consent.given", notice_version=version)
        carry = (
            open_json(ctx.services.crypto, ctx.data.get("carry")) if ctx.flow == self.flow else None
        )
        ctx.clear_flow()
        return await self.accepted(ctx, carry)

    async def _decline(self, ctx: Ctx) -> list[Outgoing]:
        if ctx.flow == self.flow:
            ctx.clear_flow()
        await self._audit(ctx, "consent.declined")
        if self.declined is not None:
            return await self.declined(ctx)
        return [menu(ctx, "privacy.notice.declined")]

    def flows(self) -> dict[str, Any]:
        """What the owning feature declares as ``Feature.flows``."""
        return {self.flow: self.step}

    def payloads(self) -> dict[str, Any]:
        """What the owning feature declares as ``Feature.payloads``."""
        return {self.flow: self.on_button}


def in_notice(ctx: Ctx) -> bool:
    return (ctx.flow or "").startswith(FLOW_PREFIX)
