"""Questions typed in the chat: answered from the FAQ, offered as choices, or handed on.

Free text reaches this handler last (after referral codes, join phrases and open cases). The
matcher (bot/core/matcher.py, built once per process, ``ctx.services.matcher``) decides;
``reply_for`` (bot/core/answers.py) turns its decision into the words and buttons a worker sees.

- answer: the FAQ answer with its article, the one-line "general information" note, and
  "Câu trả lời có đúng ý bạn không?" with 👍 / 👎 (typed "đúng" / "sai" count too); a 👎 is
  stored with the entry it came from, so `faq misses` shows confident wrong answers;
- suggest: up to three likely questions, numbered in the text and as buttons;
- smalltalk: greetings, thanks, goodbyes, "ok", 👍: a warm reply and the main menu;
- escalate (a request for a person): the lawyer form or the hotline; (a labour topic the facts
  do not cover yet): one safe sentence and "Hỏi tư vấn viên";
- join / lead: a short offer with the button that starts that flow (one tap, not an ambush);
- out_of_scope: a kind "not something we can help with" and the hotline, never an FAQ answer;
- escalate: nothing fits but it is a labour question: offer "Hỏi tư vấn viên";
- unknown: not a question (chit-chat, gibberish): the menu fallback answers.

Questions the FAQ missed (suggest, escalate, out_of_scope, and unknown messages of three words or
more) are counted in storage for the editors (`congdoan-bot faq misses`).
"""

from __future__ import annotations

from bot.commands import ask as ask_cli
from bot.commands import faq as faq_cli
from bot.core.answers import (
    MAIN_MENU,
    MAX_REMEMBERED_QUESTION,
    MISS_ACTIONS,
    UNKNOWN_MISS_MIN_WORDS,
    AskPayload,
    reply_for,
)
from bot.core.context import Ctx
from bot.core.events import Outgoing
from bot.core.feature import PRIORITY_FAQ, CliCommand, Feature, TextHandler
from bot.core.matcher import Match, Matcher
from bot.core.payloads import button
from bot.core.textnorm import fold
from bot.core.wage_regions import load_regions, region_line
from handlers.faq_misses import note_miss

FEEDBACK_MISS = "thumbs_down"  # the action a 👎 is stored under in faq misses
# Typed feedback right after an answer (the whole message, folded): yes / no in workers' words.
FEEDBACK_UP = frozenset(["dung", "dung roi", "co", "dung y", "dung y roi", "chuan", "ok", "oke"])
FEEDBACK_DOWN = frozenset(
    ["sai", "sai roi", "khong dung", "chua dung", "khong phai", "khong", "ko dung", "chua"]
)

# -- chat ----------------------------------------------------------------------------------


def matcher_of(ctx: Ctx) -> Matcher:
    return ctx.services.matcher


def remember_question(ctx: Ctx, question: str) -> None:
    """The last question, for "Hỏi tư vấn viên" and 👎: kept encrypted in the state row."""
    ctx.data["_ask_q"] = ctx.services.crypto.encrypt(question)


def remembered_question(ctx: Ctx, *, forget: bool = False) -> str | None:
    token = ctx.data.pop("_ask_q", None) if forget else ctx.data.get("_ask_q")
    return ctx.services.crypto.decrypt(token) if token else None


def typed_feedback(text: str) -> str | None:
    """ "up" / "down" when a whole short message is a yes / no about the last answer."""
    if text.strip() in ("👍", "👎"):
        return "up" if text.strip() == "👍" else "down"
    words = " ".join(fold(text).split()).strip(" .!")
    if words in FEEDBACK_DOWN:
        return "down"
    if words in FEEDBACK_UP:
        return "up"
    return None


async def record_feedback(ctx: Ctx, verdict: str, faq_id: str) -> list[Outgoing]:
    """Thank the worker; a 👎 is counted in faq misses with the question and the entry."""
    question = remembered_question(ctx) or ""
    if verdict == "down":
        await note_miss(ctx, question or faq_id, FEEDBACK_MISS, faq_id)
        options = [
            button(ctx.t("ask.btn.human"), AskPayload("human")),
            button(ctx.t("ask.btn.other"), AskPayload("start")),
        ]
        return [ctx.choices(ctx.t("ask.thanks_down"), options)]
    ctx.data.pop("_ask_q", None)
    options = [
        button(ctx.t("ask.btn.other"), AskPayload("start")),
        (ctx.t("common.back_to_menu"), MAIN_MENU),
    ]
    return [ctx.choices(ctx.t("ask.thanks_up"), options)]


async def on_text(ctx: Ctx) -> list[Outgoing] | None:
    question = ctx.inbound.text
    answered = ctx.data.pop("_ask_answered", None)
    if answered:
        verdict = typed_feedback(question)
        if verdict is not None:
            return await record_feedback(ctx, verdict, str(answered))
    match = matcher_of(ctx).match(question)
    if match.action in MISS_ACTIONS or (
        match.action == "unknown" and len(question.split()) >= UNKNOWN_MISS_MIN_WORDS
    ):
        faq_id = match.entry.id if match.entry else None
        await note_miss(ctx, question, match.action, faq_id)
    if match.action == "unknown":
        return None
    if match.action != "smalltalk":
        remember_question(ctx, question[:MAX_REMEMBERED_QUESTION])
    if match.action == "answer" and match.entry is not None:
        ctx.data["_ask_answered"] = match.entry.id
    text, options = reply_for(match, ctx.t, _place_line(ctx, question, match))
    return [ctx.choices(text, options)]


def _place_line(ctx: Ctx, question: str, match: Match) -> str | None:
    """The region of the place the worker named, when the answer is about minimum wages."""
    regions = load_regions(ctx.services.settings.content_dir)
    return region_line(question, match, ctx.services.areas, regions, ctx.t)


async def on_button(ctx: Ctx) -> list[Outgoing]:
    """``ask:start`` (menu), ``ask:faq:<id>`` (a suggestion), ``ask:human`` (to the centre),
    ``ask:up:<id>`` / ``ask:down:<id>`` (the worker's 👍 / 👎 on an answer)."""
    pressed = AskPayload.unpack(ctx.inbound.payload) or AskPayload("start")
    if pressed.action in ("up", "down") and pressed.faq_id:
        ctx.data.pop("_ask_answered", None)
        return await record_feedback(ctx, pressed.action, pressed.faq_id)
    if pressed.action == "faq" and pressed.faq_id:
        entry = next((e for e in matcher_of(ctx).entries if e.id == pressed.faq_id), None)
        if entry is not None:
            ctx.data["_ask_answered"] = entry.id
            text, options = reply_for(Match("answer", entry, 1.0), ctx.t)
            return [ctx.choices(text, options)]
        return [_prompt(ctx, "ask.gone")]
    start_question = ctx.services.hooks.start_question
    if pressed.action == "human" and start_question is not None:
        return list(await start_question(ctx, remembered_question(ctx, forget=True)) or [])
    ctx.data.pop("_ask_q", None)
    return [_prompt(ctx, "ask.prompt")]


def _prompt(ctx: Ctx, key: str) -> Outgoing:
    return ctx.choices(
        ctx.t(key),
        [
            button(ctx.t("ask.btn.human"), AskPayload("human")),
            (ctx.t("common.back_to_menu"), MAIN_MENU),
        ],
    )


def register() -> Feature:
    return Feature(
        name=__name__,
        payloads={AskPayload.prefix: on_button},
        text=(TextHandler(on_text, PRIORITY_FAQ),),
        offers={"faq": on_text},
        cli_commands=(
            CliCommand("ask", ask_cli.HELP, ask_cli.add_arguments, ask_cli.run),
            CliCommand("faq", faq_cli.HELP, faq_cli.add_arguments, faq_cli.run),
        ),
    )
