"""Câu hỏi chưa trả lời được: what the FAQ could not answer, most frequent first, for editors.

The questions are stored normalised and counted (storage/cases.py); this page only lists them.
"""

from __future__ import annotations

from aiohttp import web

from bot.dashboard.site import Dashboard, PageRequest
from storage import reports

# The matcher's decisions (bot/core/matcher.py ACTIONS) as editors read them; a thumbs-down on
# an answer is recorded by the FAQ feature under "thumbs_down" (handlers/ask.py FEEDBACK_MISS).
ACTIONS = {
    "suggest": "Gợi ý vài câu, chưa chắc",
    "escalate": "Chuyển luật sư",
    "out_of_scope": "Ngoài phạm vi",
    "unknown": "Không hiểu",
    "thumbs_down": "Câu trả lời bị chấm 👎",
}


async def misses(req: PageRequest) -> web.StreamResponse:
    rows = await reports.faq_misses(req.session, limit=200)
    return req.render("misses.html", rows=rows, actions=ACTIONS)


def register(dashboard: Dashboard) -> None:
    dashboard.page("/cauhoi", misses, roles=("legal",), title="Câu hỏi chưa trả lời được",
                   order=50)  # fmt: skip
