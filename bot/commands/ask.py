"""`congdoan-bot ask`: what the bot would reply to a question, for people and for tools.

The machine interface is a contract used by evaluation tools, so keep it exactly:
``congdoan-bot ask --json "QUESTION"`` prints one JSON object on one line; with no question it
reads one question per line from standard input and prints one object per line, in order (a
blank line still gets its object, so outputs pair with inputs). Fields: ``question``, ``action``
(answer | suggest | join | lead | escalate | out_of_scope; the matcher's "unknown" is reported
as ``escalate``, because the worker is then pointed to the menu and the hotline), ``faq_id`` (the
answered entry, the first suggestion for ``suggest``, else null), ``score``, ``citations`` (with
an answer only, e.g. "Bộ luật Lao động 2019, Điều 107") and ``text`` (the reply, built by the same
``bot.core.answers.reply_for`` the chat uses). No database is needed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

HELP = "reply to a question from the FAQ as the chat would (--json for tools; no database)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("question", nargs="?", help="the question; omitted: one per stdin line")
    parser.add_argument("--json", action="store_true", help="print JSON objects, one per line")


def _load() -> tuple[Any, Any, Any]:
    from bot.config import load_settings
    from bot.core.areas import load_areas
    from bot.core.matcher import build_matcher
    from bot.core.texts import Texts
    from bot.core.wage_regions import load_regions, region_line

    settings = load_settings()
    constants = {"hotline": settings.hotline, "federation": settings.federation}
    texts = Texts.load(settings.content_dir / "vi", constants)
    areas = load_areas(settings.content_dir / "areas.csv")
    regions = load_regions(settings.content_dir)

    def place_line(question: str, match: Any) -> str | None:
        """What the chat puts first in an answer on minimum wages (handlers/ask.py)."""
        return region_line(question, match, areas, regions, texts)

    return build_matcher(settings.content_dir), texts, place_line


def answers(questions: Iterable[str]) -> Iterator[dict[str, Any]]:
    """One record per question, in order."""
    for record, _ in _replies(questions):
        yield record


def _replies(questions: Iterable[str]) -> Iterator[tuple[dict[str, Any], list[tuple[str, str]]]]:
    from bot.core.answers import reply_for, reply_record
    from bot.core.textnorm import nfc

    matcher, texts, place_line = _load()
    for question in questions:
        question = nfc(question)
        match = matcher.match(question)
        local = place_line(question, match)
        yield reply_record(question, match, texts, local), reply_for(match, texts, local)[1]


def _lines(stream: TextIO) -> Iterator[str]:
    for line in stream:
        yield line.rstrip("\r\n")


def _print_human(record: dict[str, Any], options: list[tuple[str, str]], out: TextIO) -> None:
    faq = f" ({record['faq_id']})" if record["faq_id"] else ""
    print(f"[{record['action']}{faq} · {record['score']:.2f}] {record['question']}", file=out)
    print(record["text"], file=out)
    for number, (label, payload) in enumerate(options, 1):
        print(f"  {number}. {label}  [{payload}]", file=out)
    print(file=out)


def run(args: argparse.Namespace) -> int:
    for stream in (sys.stdin, sys.stdout):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8")
    out = sys.stdout
    questions: Iterable[str] = [args.question] if args.question is not None else _lines(sys.stdin)
    for record, options in _replies(questions):
        if args.json:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()
        else:
            _print_human(record, options, out)
    return 0
