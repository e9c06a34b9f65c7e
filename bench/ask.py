"""FAQ matcher benchmark: speed, dev-set accuracy, and how often non-labour questions get answered.

Prints ONE JSON object:

- ``match_ms``: per-question match time over the whole FAQ, p50 and p99 in milliseconds, each the
  median over ``--runs`` passes of the workload (dev set + the Zalo AI 2021 legal questions); the
  first, cold pass (empty typo cache) is reported separately, as is a 5,000-character message.
- ``dev``: top-1 accuracy on ``tests/data/faq_dev.tsv`` (entry id for answer/suggest, else action)
  and the count of each action.
- ``zalo``: on ``../shared/data/zalo-ai-2021-legal-questions.json``, questions are split by a
  keyword list into labour and non-labour; ``outside_labour_answer_share`` is the share of
  non-labour questions that got action "answer" (goal < 5 %). The file is only measured, never
  tuned on question by question.
- ``machine``: platform, Python version, CPU count.

``--sweep`` adds ``sweep``: dev accuracy and Zalo answer share for a grid of thresholds, the
input for retuning ``bot.core.matcher.Thresholds`` (see that module's docstring).

Run: ``.venv/bin/python bench/ask.py [--runs 5] [--sweep]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.matcher import Matcher, Thresholds, load_faq  # noqa: E402
from bot.core.textnorm import canonical  # noqa: E402

ZALO = ROOT / ".." / "shared" / "data" / "zalo-ai-2021-legal-questions.json"
DEV = ROOT / "tests" / "data" / "faq_dev.tsv"

# A question is "labour" if its canonical (accented) text contains one of these words or
# abbreviations. Generic business words ("công ty", "doanh nghiệp") are left out on purpose: the
# file is full of securities-company and enterprise-registration questions, which are exactly
# the non-labour questions the bot must not answer from the labour FAQ.
LABOUR_KEYWORDS = tuple(
    (
        "lao động|công đoàn|đoàn viên|tiền lương|lương|hợp đồng lao động|bảo hiểm xã hội"
        "|bảo hiểm thất nghiệp|thai sản|sa thải|thôi việc|nghỉ việc|mất việc|làm thêm giờ|tăng ca"
        "|thử việc|trợ cấp thất nghiệp|nghỉ phép|nghỉ hằng năm|nghỉ lễ|kỷ luật lao động|công nhân"
        "|việc làm|nghỉ hưu|hưu trí|quấy rối"
    ).split("|")
)
LABOUR_ABBREVIATIONS = ("nlđ", "nld", "nsdlđ", "hđlđ", "bhxh", "bhtn", "cđcs", "kpcđ")


def load_dev(path: Path = DEV) -> list[tuple[str, str]]:
    """The labelled development set: (question, faq id or action)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            question, label = line.rsplit("\t", 1)
            rows.append((question, label.strip()))
    return rows


def top1(matcher: Matcher, question: str) -> str:
    """What the dev set compares with its label."""
    m = matcher.match(question)
    return m.entry.id if m.action in ("answer", "suggest") and m.entry else m.action


def dev_accuracy(matcher: Matcher, rows: list[tuple[str, str]]) -> float:
    return sum(top1(matcher, q) == label for q, label in rows) / len(rows)


def is_labour(text: str) -> bool:
    """Keyword test for "this question is about labour or union law"."""
    t = canonical(text)
    words = set(t.split())
    return any(k in t for k in LABOUR_KEYWORDS) or any(a in words for a in LABOUR_ABBREVIATIONS)


def zalo_questions() -> list[str] | None:
    if not ZALO.is_file():
        return None
    return [q["text"] for q in json.loads(ZALO.read_text(encoding="utf-8"))]


def zalo_report(matcher: Matcher, questions: list[str]) -> dict[str, object]:
    outside = [q for q in questions if not is_labour(q)]
    labour = [q for q in questions if is_labour(q)]
    out_actions = Counter(matcher.match(q).action for q in outside)
    lab_actions = Counter(matcher.match(q).action for q in labour)
    return {
        "questions": len(questions),
        "outside_labour": len(outside),
        "outside_labour_actions": dict(out_actions),
        "outside_labour_answer_share": round(out_actions["answer"] / max(len(outside), 1), 4),
        "labour": len(labour),
        "labour_actions": dict(lab_actions),
    }


def time_pass(matcher: Matcher, questions: list[str]) -> list[float]:
    times = []
    for q in questions:
        t0 = time.perf_counter()
        matcher.match(q)
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100.0 * (len(ordered) - 1))))
    return ordered[k]


def sweep(matcher: Matcher, rows: list[tuple[str, str]], zalo: list[str] | None) -> list[dict]:
    """Dev accuracy and Zalo answer share over a threshold grid, best accuracy first."""
    dev = [(matcher.analyse(q), label) for q, label in rows]
    outside = [matcher.analyse(q) for q in zalo or [] if not is_labour(q)]
    results = []
    grid = itertools.product(
        (0.36, 0.40, 0.44, 0.48),  # answer
        (0.0, 0.04, 0.08),  # margin
        (0.18, 0.20, 0.22, 0.26),  # suggest
        (0.30, 0.35, 0.40),  # intent
        (0.16, 0.20, 0.25, 0.30),  # suggest_bare
    )
    for answer, margin, suggest, intent, bare in grid:
        t = Thresholds(
            answer=answer, margin=margin, suggest=suggest, intent=intent, suggest_bare=bare
        )
        correct = answered = answered_right = 0
        for a, label in dev:
            m = matcher.decide(a, t)
            got = m.entry.id if m.action in ("answer", "suggest") and m.entry else m.action
            correct += got == label
            answered += m.action == "answer"
            answered_right += m.action == "answer" and got == label
        share = (
            sum(matcher.decide(a, t).action == "answer" for a in outside) / len(outside)
            if outside
            else None
        )
        results.append(
            {
                **asdict(t),
                "dev_accuracy": round(correct / len(dev), 4),
                "dev_answered": answered,
                "dev_answer_precision": round(answered_right / max(answered, 1), 4),
                "zalo_outside_answer_share": None if share is None else round(share, 4),
            }
        )
    results.sort(key=lambda r: (-r["dev_accuracy"], -r["dev_answer_precision"], -r["dev_answered"]))
    return results[:30]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sweep", action="store_true")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    entries, intents = load_faq(ROOT / "content")
    matcher = Matcher(entries, intents)
    build_ms = (time.perf_counter() - t0) * 1000.0

    rows = load_dev()
    zalo = zalo_questions()
    workload = [q for q, _ in rows] + (zalo or [])

    cold = time_pass(matcher, workload)
    runs = [time_pass(matcher, workload) for _ in range(max(1, args.runs))]
    long_text = ("công ty nợ lương em hai tháng rồi, giờ phải làm sao ạ " * 100)[:5000]
    long_runs = [time_pass(matcher, [long_text] * 5) for _ in range(max(1, args.runs))]

    matches = [(matcher.match(q), label) for q, label in rows]
    actions = Counter(m.action for m, _ in matches)
    answers = [(m, label) for m, label in matches if m.action == "answer"]
    precision = sum(m.entry is not None and m.entry.id == label for m, label in answers) / max(
        len(answers), 1
    )
    report: dict[str, object] = {
        "faq_entries": len(entries),
        "intents": {k: len(v) for k, v in intents.items()},
        "build_ms": round(build_ms, 1),
        "match_ms": {
            "questions_per_pass": len(workload),
            "passes": len(runs),
            "p50": round(statistics.median(pct(r, 50) for r in runs), 3),
            "p99": round(statistics.median(pct(r, 99) for r in runs), 3),
            "cold_p50": round(pct(cold, 50), 3),
            "cold_p99": round(pct(cold, 99), 3),
            "message_5000_chars_p50": round(statistics.median(pct(r, 50) for r in long_runs), 3),
        },
        "dev": {
            "questions": len(rows),
            "top1_accuracy": round(dev_accuracy(matcher, rows), 4),
            "actions": dict(actions),
            "answer_precision": round(precision, 4),
        },
        "zalo": zalo_report(matcher, zalo) if zalo is not None else f"absent: {ZALO}",
        "thresholds": asdict(matcher.thresholds),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
        },
    }
    if args.sweep:
        report["sweep"] = sweep(matcher, rows, zalo)
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
