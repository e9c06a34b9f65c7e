"""`congdoan-bot faq`: tools for the FAQ editors.

``faq eval FILE.tsv`` measures the matcher on a labelled file (``question<TAB>label`` per line;
the label is an FAQ id, or ``join`` / ``lead`` / ``out_of_scope`` / ``escalate`` / ``smalltalk``,
or several joined by "|" for a question that really is ambiguous): the share handled right
(``verdict``: answered from the labelled entry, or the labelled action), the share answered from
a wrong entry, and how often each kind of label got each action. ``faq misses`` lists the
questions the FAQ could not answer with confidence and the answers workers marked 👎
(``thumbs_down``, with the entry), most frequent first, so editors know what to write or fix.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HELP = "FAQ tools: eval a labelled file, list the questions the FAQ missed"
INTENT_LABELS = ("join", "lead", "out_of_scope", "escalate", "smalltalk")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="faq_command", required=True)
    ev = sub.add_parser("eval", help="top-1 accuracy and per-action confusion on a TSV file")
    ev.add_argument("file", type=Path, help="question<TAB>label per line")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--errors", action="store_true", help="list every wrong prediction")
    misses = sub.add_parser("misses", help="questions the FAQ missed, most frequent first")
    misses.add_argument("--limit", type=int, default=50)
    misses.add_argument("--json", action="store_true", help="one JSON object per line")


# -- eval ----------------------------------------------------------------------------------


@dataclass
class EvalReport:
    total: int = 0
    correct: int = 0
    wrong_entry: int = 0
    confusion: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "correct": self.correct,
            "accuracy": round(self.accuracy, 4),
            "wrong_entry": self.wrong_entry,
            "confusion": {k: dict(v) for k, v in sorted(self.confusion.items())},
            "errors": self.errors,
        }


def read_tsv(path: Path) -> list[tuple[str, str]]:
    """Labelled questions; blank lines and lines starting with # are skipped."""
    rows = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        question, sep, label = line.rpartition("\t")
        if not sep or not question.strip() or not label.strip():
            raise ValueError(f"{path.name}:{number}: expected question<TAB>label")
        rows.append((question.strip(), label.strip()))
    return rows


def predicted_label(record: dict[str, Any]) -> str:
    """The top-1 prediction: the entry for answer/suggest, else the action."""
    if record["action"] in ("answer", "suggest") and record["faq_id"]:
        return str(record["faq_id"])
    return str(record["action"])


def evaluate(rows: list[tuple[str, str]]) -> EvalReport:
    from bot.commands.ask import answers

    report = EvalReport()
    for (question, label), record in zip(rows, answers(q for q, _ in rows), strict=True):
        predicted = predicted_label(record)
        kind = label if label in INTENT_LABELS else "faq"
        report.total += 1
        report.confusion[kind][record["action"]] += 1
        graded = verdict(record["action"], record["faq_id"], record["suggestions"], label)
        report.wrong_entry += graded == "wrong_entry"
        if graded == "right":
            report.correct += 1
        else:
            report.errors.append(
                {
                    "question": question,
                    "label": label,
                    "predicted": predicted,
                    "action": record["action"],
                    "score": record["score"],
                }
            )
    return report


def _print_report(report: EvalReport, show_errors: bool) -> None:
    from bot.core.answers import PUBLIC_ACTIONS as actions

    print(f"handled right: {report.accuracy:.1%} ({report.correct}/{report.total})")
    print(f"answered from a wrong entry: {report.wrong_entry}")
    print("label kind     " + " ".join(f"{a:>12}" for a in actions))
    for kind, counts in sorted(report.confusion.items()):
        print(f"{kind:<14} " + " ".join(f"{counts.get(a, 0):>12}" for a in actions))
    if show_errors:
        for err in report.errors:
            print(f"✗ {err['label']} → {err['predicted']} ({err['score']:.2f}): {err['question']}")


# -- misses --------------------------------------------------------------------------------


async def _misses(limit: int) -> list[dict[str, Any]]:
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from bot.config import load_settings
    from storage import cases as cases_repo
    from storage.db import Database

    db = Database(load_settings().database_url)
    try:
        async with db.session() as session:
            rows = await cases_repo.top_misses(session, limit)
            return [
                {
                    "question": r.question,
                    "count": r.count,
                    "action": r.action,
                    "faq_id": r.faq_id,
                    "last_seen": r.last_seen.isoformat(),
                }
                for r in rows
            ]
    except (OperationalError, ProgrammingError) as exc:
        raise SystemExit(
            f"cannot read FAQ misses ({exc.orig}); run `congdoan-bot db upgrade`"
        ) from exc
    finally:
        await db.dispose()


def run(args: argparse.Namespace) -> int:
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")
    if args.faq_command == "eval":
        report = evaluate(read_tsv(args.file))
        if args.json:
            print(json.dumps(report.as_json(), ensure_ascii=False))
        else:
            _print_report(report, args.errors)
        return 0
    rows = asyncio.run(_misses(args.limit))
    for row in rows:
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            print(f"{row['count']:>5}  {row['action']:<12} {row['question']}")
    if not rows and not args.json:
        print("no FAQ misses recorded yet")
    return 0


# -- grading (shared by `faq eval`, bench/ask.py and the tests) ------------------------------


def label_set(label: str) -> frozenset[str]:
    """A label is an FAQ id or an action; "a|b" lists several acceptable ones."""
    return frozenset(part.strip() for part in label.split("|") if part.strip())


def verdict(action: str, entry_id: str | None, suggestions: Sequence[str], label: str) -> str:
    """How a decision compares with a label: "right", "wrong_entry" or "miss".

    Right means the worker got what they needed in one step: the answer from the labelled
    entry, or the labelled action (join, lead, escalate, smalltalk, out_of_scope). A suggestion
    list is right only where the label itself names two or more entries (a question that really
    is ambiguous). "wrong_entry" is an answer from an entry the label does not name: the
    confident wrong answer editors must never ship.
    """
    wanted = label_set(label)
    if action == "answer":
        return "right" if entry_id in wanted else "wrong_entry"
    if action == "suggest" and len(wanted) > 1 and wanted & set(suggestions):
        return "right"
    return "right" if action in wanted else "miss"
