"""What the bot answers that is not one feature's: the main menu and the FAQ replies.

``reply_for`` turns a matcher decision into the words and buttons a worker sees; it is pure and
is also what ``congdoan-bot ask --json`` prints, so the command line and the chat can never
disagree. It lives in the core (not in ``handlers/ask.py``) so the CLI imports no handler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.core.events import Outgoing
from bot.core.matcher import UNCOVERED, Citation, FaqEntry, Match
from bot.core.payloads import Payload, button

if TYPE_CHECKING:
    from bot.core.context import Ctx

# The entry points the main menu and other features link to. Each prefix is owned (routed) by
# one feature; the payload types live here so a button to another feature needs no import of it.


@dataclass(frozen=True)
class MenuPayload(Payload, prefix="menu"):
    action: str  # "main"


@dataclass(frozen=True)
class ContactPayload(Payload, prefix="contact"):
    action: str  # "show"


@dataclass(frozen=True)
class RightsPayload(Payload, prefix="rights"):
    topic: str  # "index" or a topic of handlers/rights.py


@dataclass(frozen=True)
class JoinPayload(Payload, prefix="join"):
    """``join:start``, ``join:status``, ``join:consent:yes`` / ``join:consent:no``."""

    action: str
    answer: str = ""


@dataclass(frozen=True)
class LeadPayload(Payload, prefix="lead"):
    action: str  # "start"


@dataclass(frozen=True)
class AskPayload(Payload, prefix="ask"):
    """``ask:start`` (the menu), ``ask:faq:<id>`` (a suggestion), ``ask:human`` (to the centre),
    ``ask:up:<id>`` / ``ask:down:<id>`` (the worker's 👍 / 👎 on the answer from that entry)."""

    action: str
    faq_id: str = ""


@dataclass(frozen=True)
class NewsPayload(Payload, prefix="news"):
    """Announcement subscriptions (handlers/broadcast.py): ``news:start`` opens the topics
    ("Nhận tin công đoàn"), then ``news:topic:<topic>``, ``news:all``, ``news:stop``,
    ``news:done``."""

    action: str
    topic: str = ""


MAIN_MENU = MenuPayload("main").pack()
NEWS_START = NewsPayload("start").pack()
JOIN_START = JoinPayload("start").pack()
LEAD_START = LeadPayload("start").pack()

MENU = (
    ("menu.rights", RightsPayload("index").pack()),
    ("menu.join", JOIN_START),
    ("menu.ask", AskPayload("start").pack()),
    ("menu.lead", LEAD_START),
    ("menu.contact", ContactPayload("show").pack()),
)


def menu(ctx: Ctx, text_key: str = "menu.text", **params: Any) -> Outgoing:
    """The main menu under a text: what every dead end ends with."""
    return ctx.choices(
        ctx.t(text_key, **params), [(ctx.t(label), payload) for label, payload in MENU]
    )


TextsFn = Callable[..., str]
Options = list[tuple[str, str]]

PUBLIC_ACTIONS = ("answer", "suggest", "join", "lead", "escalate", "out_of_scope", "smalltalk")
MISS_ACTIONS = {"suggest", "escalate", "out_of_scope"}
UNKNOWN_MISS_MIN_WORDS = 3
MAX_SUGGESTIONS = 3
MAX_REMEMBERED_QUESTION = 4000  # the engine keeps at most this much of a message
# The button an answer offers next, by the entry's ``offer`` (founding a union -> the lead form).
OFFER_BUTTONS = {"lead": ("menu.lead", LEAD_START), "join": ("menu.join", JOIN_START)}


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
    """The entry's answer, its sources, the "general information" note and the feedback line."""
    body = (
        texts("ask.answer", answer=entry.answer, sources=sources_line(entry.citations))
        if entry.citations
        else entry.answer
    )
    return "\n".join((body, texts("ask.note"), texts("ask.feedback")))


def suggest_text(picks: tuple[FaqEntry, ...], texts: TextsFn) -> str:
    """The suggestion message with the questions numbered: what the worker reads, whether the
    channel shows buttons or not (typing the number picks it)."""
    lines = [f"{i}. {e.question}" for i, e in enumerate(picks, 1)]
    return "\n".join((texts("ask.suggest"), *lines))


def reply_for(match: Match, texts: TextsFn, local: str | None = None) -> tuple[str, Options]:
    """The text and buttons for a matcher decision. Pure: the chat and the CLI both call it.

    - answer: the answer with its article, the "general information" note and "Câu trả lời có
      đúng ý bạn không?" with 👍 / 👎, then the entry's offer (if any), a person, another question;
      ``local`` (the region of the place the worker named, ``bot/core/wage_regions.py``) first;
    - suggest: up to three likely questions, numbered in the text and as buttons;
    - smalltalk: a warm reply and the main menu;
    - escalate: a request for a person -> the lawyer form or the hotline; a recognised topic the
      FAQ does not cover -> one safe sentence; otherwise "no ready answer" and a person.
    """
    human = button(texts("ask.btn.human"), AskPayload("human"))
    other = button(texts("ask.btn.other"), AskPayload("start"))
    menu = (texts("common.back_to_menu"), MAIN_MENU)
    main_menu = [(texts(label), payload) for label, payload in MENU]
    action = match.action
    if action == "answer" and match.entry is not None:
        entry = match.entry
        options = [
            button(texts("ask.btn.up"), AskPayload("up", entry.id)),
            button(texts("ask.btn.down"), AskPayload("down", entry.id)),
        ]
        if entry.offer in OFFER_BUTTONS:
            label, payload = OFFER_BUTTONS[entry.offer]
            options.append((texts(label), payload))
        text = answer_text(entry, texts)
        return ("\n".join((local, text)) if local else text), [*options, human, other]
    if action == "suggest" and (match.suggestions or match.entry is not None):
        picks = (match.suggestions or ((match.entry,) if match.entry else ()))[:MAX_SUGGESTIONS]
        options = [button(e.question, AskPayload("faq", e.id)) for e in picks]
        return suggest_text(picks, texts), [*options, human]
    if action == "join":
        return texts("ask.join"), [(texts("menu.join"), JOIN_START), other]
    if action == "lead":
        return texts("ask.lead"), [(texts("menu.lead"), LEAD_START), other]
    if action == "out_of_scope":
        return texts("ask.out_of_scope"), [other, menu]
    if action == "smalltalk":
        return texts("ask.smalltalk"), main_menu
    if action == "escalate" and match.intent == "human":
        return texts("ask.human"), [human, menu]
    if action == "escalate" and (match.intent or "").startswith(UNCOVERED):
        return texts("ask.uncovered"), [human, other]
    if action in ("escalate", "suggest", "answer"):
        return texts("ask.escalate"), [human, other]
    return texts("common.not_understood"), main_menu


def reply_record(
    question: str, match: Match, texts: TextsFn, local: str | None = None
) -> dict[str, Any]:
    """The machine-readable form printed by ``congdoan-bot ask --json`` (fields are a contract).

    ``faq_id`` is the answered entry, or for ``suggest`` the first (most likely) suggestion;
    ``suggestions`` the ids offered (in the order of the numbered list in ``text``); ``intent``
    what decided a non-FAQ action ("human", "uncovered.strike"...); ``text`` exactly what the
    worker reads;
    ``citations`` are given only with an answer, the only reply that makes a legal claim.
    """
    text, _ = reply_for(match, texts, local)
    action = public_action(match)
    entry = match.entry if action in ("answer", "suggest") else None
    suggestions = match.suggestions or ((entry,) if entry else ())
    return {
        "question": question,
        "action": action,
        "faq_id": entry.id if entry else None,
        "suggestions": [e.id for e in suggestions[:MAX_SUGGESTIONS]] if action == "suggest" else [],
        "intent": match.intent,
        "score": round(float(match.score), 4),
        "citations": citation_labels(entry.citations) if entry and action == "answer" else [],
        "text": text,
    }
