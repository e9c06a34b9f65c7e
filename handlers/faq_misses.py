"""Questions the FAQ missed, kept for the editors without any personal data (issue #12, 3).

A miss is stored redacted and short (storage/redaction.py), counted per question and tied to no
contact. Two things only the conversation knows are handled here: a message typed right after
the bot asked for a name or phone number (a form left with "Huỷ", then "pham thi lan") is not
kept at all, and the ids of the misses a worker added are remembered in that worker's own state,
so ``/xoadulieu`` can take them back without the table ever naming anyone. Misses expire after
``[privacy] faq_miss_days``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from bot.core.consent import PrivacyConfig
from bot.core.context import Ctx, JobContext
from bot.core.feature import Feature, Job
from bot.core.matcher import normalise_query
from storage import cases as cases_repo
from storage.redaction import redact, restore_markers

_MARKER = re.compile(r"\[[^\]]*\]")
_PLAIN_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
ASKED_PERSONAL = "_asked_personal"  # set by the form runner when it asks a personal question
OWN_MISSES = "_misses"  # ids of the misses this worker added, kept in their state only
KEEP_OWN = 50
PERSONAL_WINDOW = timedelta(minutes=30)


def miss_days(ctx: Ctx | JobContext) -> int:
    return ctx.services.config(PrivacyConfig).faq_miss_days


def _just_asked_personal(ctx: Ctx) -> bool:
    asked = ctx.data.pop(ASKED_PERSONAL, None)
    if not asked:
        return False
    try:
        return ctx.now - datetime.fromisoformat(str(asked)) < PERSONAL_WINDOW
    except ValueError:
        return True


async def note_miss(ctx: Ctx, question: str, action: str, faq_id: str | None) -> None:
    """Count a question the FAQ missed, redacted, unless it answers a personal question."""
    if _just_asked_personal(ctx):
        return
    kept = restore_markers(normalise_query(redact(question, markers=False)))
    if not _PLAIN_WORD.search(_MARKER.sub("", kept)):
        return  # nothing left but markers: nothing for the editors either
    miss = await cases_repo.record_miss(ctx.session, kept, action, faq_id, ctx.now)
    own = [i for i in ctx.data.get(OWN_MISSES, []) if i != miss.id]
    ctx.data[OWN_MISSES] = [*own, miss.id][-KEEP_OWN:]


class MissData:
    """The worker's part of the misses, for /dulieucuatoi, /rutdongy and /xoadulieu."""

    async def describe(self, ctx: Ctx) -> list[str]:
        count = len(ctx.data.get(OWN_MISSES, []))
        if not count:
            return []
        return [ctx.t("privacy.mydata.misses", count=count, days=miss_days(ctx))]

    async def withdraw(self, ctx: Ctx) -> bool:
        return bool(await cases_repo.forget_misses(ctx.session, ctx.data.pop(OWN_MISSES, [])))

    async def erase(self, ctx: Ctx) -> None:
        await cases_repo.forget_misses(ctx.session, ctx.data.pop(OWN_MISSES, []))


async def expiry_job(job: JobContext) -> None:
    """Misses not seen for ``[privacy] faq_miss_days`` are deleted."""
    async with job.db.transaction() as session:
        await cases_repo.expire_misses(session, job.now - timedelta(days=miss_days(job)))


def register() -> Feature:
    return Feature(
        name=__name__,
        personal_data=(MissData(),),
        jobs=(Job("faq_misses.expiry", 6 * 3600, expiry_job),),
        config=(PrivacyConfig,),
    )
