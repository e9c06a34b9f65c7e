"""The consents a worker gave, for /dulieucuatoi, /rutdongy and /xoadulieu.

The notices themselves are bot/core/consent.py, run by the feature that owns each purpose. Here
they are shown in plain words, one line per purpose (the latest), not one per "Đồng ý" ever
pressed and not a notice fingerprint; withdrawn with /rutdongy and deleted with /xoadulieu.
"""

from __future__ import annotations

from bot.core.consent import PrivacyConfig, in_notice
from bot.core.context import Ctx
from bot.core.feature import Feature
from bot.core.texts import fmt_date
from storage import membership as repo


def purpose_words(ctx: Ctx, purpose: str) -> str:
    key = f"privacy.purpose.{purpose}"
    return ctx.t(key) if key in ctx.texts else purpose


class ConsentData:
    async def describe(self, ctx: Ctx) -> list[str]:
        latest: dict[str, repo.ConsentRecord] = {}
        for record in await repo.consents_of(ctx.session, ctx.contact_id):
            latest[record.purpose] = record  # oldest first: the last one wins
        lines = []
        for purpose, record in latest.items():
            what = purpose_words(ctx, purpose)
            given = fmt_date(record.given_at)
            if record.withdrawn_at is None:
                lines.append(ctx.t("privacy.mydata.consent_active", purpose=what, date=given))
            else:
                withdrawn = fmt_date(record.withdrawn_at)
                lines.append(
                    ctx.t(
                        "privacy.mydata.consent_withdrawn",
                        purpose=what,
                        date=given,
                        withdrawn=withdrawn,
                    )
                )
        return lines

    async def withdraw(self, ctx: Ctx) -> bool:
        if in_notice(ctx):
            ctx.clear_flow()
        return bool(await repo.withdraw_consents(ctx.session, ctx.contact_id, now=ctx.now))

    async def erase(self, ctx: Ctx) -> None:
        await repo.delete_consents(ctx.session, ctx.contact_id)
        if in_notice(ctx):
            ctx.clear_flow()


def register() -> Feature:
    return Feature(name=__name__, personal_data=(ConsentData(),), config=(PrivacyConfig,))
