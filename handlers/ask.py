"""Questions typed in the chat: answered from the FAQ, offered as choices, or handed on.

Free text reaches this handler last (after referral codes, join phrases and open cases). The
matcher (bot/core/matcher.py, built once per process) decides; ``reply_for`` turns its decision
into the words and buttons a worker sees. ``reply_for`` is pure and is also what
``congdoan-bot ask --json`` prints, so the command line and the chat can never disagree.

- answer: the FAQ answer with its article, and "Hỏi tư vấn viên" / "Câu hỏi khác";
- suggest: up to three likely questions as buttons, plus "Hỏi tư vấn viên";
- join / lead: a short offer with the button that starts that flow (one tap, not an ambush);
- out_of_scope: a kind "not something we can help with" and the hotline, never an FAQ answer;
- escalate: nothing fits but it is a labour question: offer "Hỏi tư vấn viên";
- unknown: not a question (chit-chat, gibberish): the menu fallback answers.

Questions the FAQ missed (suggest, escalate, out_of_scope, and unknown messages of three words or
more) are counted in storage for the editors (`congdoan-bot faq misses`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.core.engine import Ctx, Engine
from bot.core.events import Outgoing
from bot.core.matcher import Citation, FaqEntry, Match, Matcher, load_faq, normalise_query
from storage import cases as cases_repo

TextsFn = Callable[..., str]
Options = list[tuple[str, str]]

PUBLIC_ACTIONS = ("answer", "suggest", "join", "lead", "escalate", "out_of_scope")
MISS_ACTIONS = {"suggest", "escalate", "out_of_scope"}
UNKNOWN_MISS_MIN_WORDS = 3
MAX_SUGGESTIONS = 3
MAX_REMEMBERED_QUESTION = 1500


@lru_cache(maxsize=4)
def build_matcher(content_dir: Path) -> Matcher:
    """Load the FAQ and index it; cached per content folder, so one process builds it once."""
    entries, intents = load_faq(content_dir)
    return Matcher(entries, intents)


def public_action(match: Match) -> str:
    """The action the outside world sees. ``unknown`` becomes ``escalate``: the worker gets the
    "I did not understand, call the hotline" fallback, i.e. a hand-over to people, not an answer."""
    return match.action if match.action in PUBLIC_ACTIONS else "escalate"


def citation_labels(citations: tuple[Citation, ...]) -> list[str]:
    return [c.label for c in citations]


def sources_line(citations: tuple[Citation, ...]) -> str:
    """ "Bộ luật Lao động 2019, Điều 97, 35": one law named once, its articles after it."""
    grouped: dict[str, list[str]] = {}
    for citation in citations:
        name = Citation(citation.law).label
        articles = grouped.setdefault(name, [])
        if citation.article is not None:
            articles.append(str(citation.article))
    return "; ".join(
        f"{name}, Điều {', '.join(arts)}" if arts else name for name, arts in grouped.items()
    )


def answer_text(entry: FaqEntry, texts: TextsFn) -> str:
    if not entry.citations:
        return entry.answer
    return texts("ask.answer", answer=entry.answer, sources=sources_line(entry.citations))


def reply_for(match: Match, texts: TextsFn) -> tuple[str, Options]:
    """The text and buttons for a matcher decision. Pure: the chat and the CLI both call it."""
    human = (texts("ask.btn.human"), "ask:human")
    other = (texts("ask.btn.other"), "ask:start")
    menu = (texts("common.back_to_menu"), "menu:main")
    action = match.action
    if action == "answer" and match.entry is not None:
        return answer_text(match.entry, texts), [human, other]
    if action == "suggest" and (match.suggestions or match.entry is not None):
        picks = match.suggestions or ((match.entry,) if match.entry else ())
        options = [(e.question, f"ask:faq:{e.id}") for e in picks[:MAX_SUGGESTIONS]]
        return texts("ask.suggest"), [*options, human]
    if action == "join":
        return texts("ask.join"), [(texts("menu.join"), "join:start"), other]
    if action == "lead":
        return texts("ask.lead"), [(texts("menu.lead"), "lead:start"), other]
    if action == "out_of_scope":
        return texts("ask.out_of_scope"), [other, menu]
    if action in ("escalate", "suggest", "answer"):
        return texts("ask.escalate"), [human, other]
    from handlers.start import MENU

    return texts("common.not_understood"), [(texts(label), payload) for label, payload in MENU]


def reply_record(question: str, match: Match, texts: TextsFn) -> dict[str, Any]:
    """The machine-readable form printed by ``congdoan-bot ask --json`` (fields are a contract).

    ``faq_id`` is the answered entry, or for ``suggest`` the first (most likely) suggestion;
    ``citations`` are given only with an answer, the only reply that makes a legal claim.
    """
    text, _ = reply_for(match, texts)
    action = public_action(match)
    entry = match.entry if action in ("answer", "suggest") else None
    return {
        "question": question,
        "action": action,
        "faq_id": entry.id if entry else None,
        "score": round(float(match.score), 4),
        "citations": citation_labels(entry.citations) if entry and action == "answer" else [],
        "text": text,
    }


# -- chat ----------------------------------------------------------------------------------


def matcher_of(ctx: Ctx) -> Matcher:
    return ctx.services["matcher"]  # type: ignore[no-any-return]


async def on_text(ctx: Ctx) -> list[Outgoing] | None:
    question = ctx.inbound.text
    match = matcher_of(ctx).match(question)
    if match.action in MISS_ACTIONS or (
        match.action == "unknown" and len(question.split()) >= UNKNOWN_MISS_MIN_WORDS
    ):
        normalised = normalise_query(question)
        if normalised:
            faq_id = match.entry.id if match.entry else None
            await cases_repo.record_miss(ctx.session, normalised, match.action, faq_id, ctx.now)
    if match.action == "unknown":
        return None
    ctx.data["_ask_q"] = question[:MAX_REMEMBERED_QUESTION]
    text, options = reply_for(match, ctx.t)
    return [ctx.choices(text, options)]


async def on_button(ctx: Ctx) -> list[Outgoing]:
    """``ask:start`` (menu), ``ask:faq:<id>`` (a suggestion), ``ask:human`` (to the centre)."""
    from handlers.relay import start_question

    payload = ctx.inbound.payload or ""
    parts = payload.split(":", 2)
    verb = parts[1] if len(parts) > 1 else "start"
    if verb == "faq" and len(parts) == 3:
        entry = next((e for e in matcher_of(ctx).entries if e.id == parts[2]), None)
        if entry is not None:
            text, options = reply_for(Match("answer", entry, 1.0), ctx.t)
            return [ctx.choices(text, options)]
        return [_prompt(ctx, "ask.gone")]
    if verb == "human":
        return await start_question(ctx, ctx.data.pop("_ask_q", None))
    ctx.data.pop("_ask_q", None)
    return [_prompt(ctx, "ask.prompt")]


def _prompt(ctx: Ctx, key: str) -> Outgoing:
    return ctx.choices(
        ctx.t(key),
        [(ctx.t("ask.btn.human"), "ask:human"), (ctx.t("common.back_to_menu"), "menu:main")],
    )


def register(engine: Engine) -> None:
    settings = engine.services["settings"]
    engine.services["matcher"] = build_matcher(Path(settings.content_dir))
    engine.payload("ask", on_button)
    engine.text(on_text)
