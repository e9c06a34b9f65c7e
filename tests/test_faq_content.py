"""FAQ content rules: what a worker reads must be short, cited, NFC, and rest on a real article.

The Labour Code check reads ../shared/data/labour-code-2019-articles.json at test time (never a
copy in the repository) and skips, saying so, when that file is absent.
"""

from __future__ import annotations

import json
import re
import tomllib
import unicodedata
from pathlib import Path

import pytest

from bot.core.content_check import labour_code_articles
from bot.core.matcher import ABBREVIATIONS, LAW_NAMES, SLANG, FaqEntry, load_faq, normalise_query
from bot.core.textnorm import canonical, fold

ROOT = Path(__file__).resolve().parents[1]
FAQ_DIR = ROOT / "content" / "faq"
SHARED_DATA = ROOT / ".." / "shared" / "data"
ARTICLES = SHARED_DATA / "labour-code-2019-articles.json"
ZALO = SHARED_DATA / "zalo-ai-2021-legal-questions.json"
DEV = ROOT / "tests" / "data" / "faq_dev.tsv"

ID_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
# The words of an article that show it is on the entry's topic (any one must appear).
TOPIC_KEYWORDS: dict[str, tuple[str, ...]] = {
    "contract": ("hợp đồng lao động",),
    "probation": ("thử việc",),
    "hours": ("thời giờ làm việc", "nghỉ hằng tuần", "ban đêm", "làm việc theo ca"),
    "overtime": ("làm thêm giờ",),
    "wages": ("lương", "thưởng"),
    "deductions": ("khấu trừ", "phạt tiền", "kỷ luật lao động"),
    "leave": ("nghỉ",),
    "maternity": ("thai sản", "mang thai", "nuôi con"),
    "dismissal": ("sa thải", "chấm dứt hợp đồng", "kỷ luật lao động"),
    "severance": ("trợ cấp", "thanh toán", "chấm dứt hợp đồng"),
    "insurance": ("bảo hiểm xã hội", "nghỉ hưu"),
    "harassment": ("quấy rối tình dục", "ngược đãi", "phân biệt đối xử"),
    "quitting": ("chấm dứt hợp đồng", "báo trước"),
    "dialogue": ("đối thoại", "thương lượng", "thỏa ước"),
    "union": ("công đoàn",),
    "unemployment": ("thất nghiệp",),
    "accident": ("tai nạn lao động",),
    "dispute": ("tranh chấp lao động",),
}
NEXT_STEP_WORDS = ("hãy", "bấm", "nhắn", "hỏi", "liên hệ", "gửi", "báo")
# Figures that were true once and must not come back (FACTS.md: current figures only).
OUTDATED = ("2.340.000", "234.000", "Nghị định 191/2013")
SLANG_WORDS = {fold(k) for k in ABBREVIATIONS} | {fold(k) for k in SLANG if " " not in k}


@pytest.fixture(scope="module")
def entries() -> list[FaqEntry]:
    return load_faq(ROOT / "content")[0]


@pytest.fixture(scope="module")
def intents() -> dict[str, list[str]]:
    return load_faq(ROOT / "content")[1]


def law_text(raw: str) -> str:
    """The article itself, without the decree and circular articles filed after it."""
    lines = raw.split("\n")
    out = [lines[0]]
    for line in lines[1:]:
        if line.startswith("(Điều này") or re.match(r"^Điều \d+\.\d+\.[A-Z]", line):
            break
        out.append(line)
    return "\n".join(out)


def is_folded_or_slang(sample: str) -> bool:
    words = canonical(sample).split()
    return fold(sample) == sample.lower() or any(fold(w) in SLANG_WORDS for w in words)


def test_at_least_60_entries_with_unique_well_formed_ids(entries: list[FaqEntry]) -> None:
    assert len(entries) >= 60
    ids = [e.id for e in entries]
    assert len(ids) == len(set(ids))
    for e in entries:
        assert ID_RE.match(e.id), e.id
        assert e.topic in TOPIC_KEYWORDS, (e.id, e.topic)
        assert e.id.split(".")[0] == e.topic, e.id


def test_every_topic_of_the_brief_is_covered(entries: list[FaqEntry]) -> None:
    assert {e.topic for e in entries} >= set(TOPIC_KEYWORDS)
    union_ids = {e.id for e in entries if e.topic == "union"}
    for needed in (
        "union.who",
        "union.dues",
        "union.fund",
        "union.prohibited",
        "union.no_union",
        "union.rights",
        "union.officer_protection",
    ):
        assert needed in union_ids


def test_files_are_nfc() -> None:
    for path in FAQ_DIR.glob("*.toml"):
        text = path.read_text(encoding="utf-8")
        assert unicodedata.is_normalized("NFC", text), path.name


def test_question_is_a_short_button_label(entries: list[FaqEntry]) -> None:
    for e in entries:
        assert 0 < len(e.question) <= 60, (e.id, len(e.question))


def test_answers_are_short_warm_and_end_with_a_next_step(entries: list[FaqEntry]) -> None:
    for e in entries:
        assert len(e.answer) < 600, (e.id, len(e.answer))
        assert re.search(r"\bbạn\b", e.answer, re.IGNORECASE), e.id
        last_sentence = re.split(r"(?<=[.!?])\s+", e.answer.strip())[-1].lower()
        assert any(w in last_sentence for w in NEXT_STEP_WORDS), (e.id, last_sentence)
        for old in OUTDATED:
            assert old not in e.answer, (e.id, old)


def test_every_citation_is_named_in_its_answer(entries: list[FaqEntry]) -> None:
    for e in entries:
        assert e.citations, e.id
        for c in e.citations:
            assert c.law in LAW_NAMES, (e.id, c.law)
            assert LAW_NAMES[c.law] in e.answer, (e.id, c.label)
            if c.article is not None:
                assert re.search(rf"Điều {c.article}\b", e.answer), (e.id, c.label)


def test_samples_are_enough_and_include_how_workers_type(entries: list[FaqEntry]) -> None:
    for e in entries:
        assert len(e.samples) >= 6, e.id
        informal = [s for s in e.samples if is_folded_or_slang(s)]
        assert len(informal) >= 2, (e.id, informal)
        for s in e.samples:
            assert unicodedata.is_normalized("NFC", s)


def test_no_sample_is_shared_between_entries(
    entries: list[FaqEntry], intents: dict[str, list[str]]
) -> None:
    owner: dict[str, str] = {}
    clashes = []
    phrasings = [(e.id, t) for e in entries for t in (e.question, *e.samples)]
    phrasings += [(f"@{k}", s) for k, v in intents.items() for s in v]
    for label, text in phrasings:
        key = normalise_query(text)
        if key in owner and owner[key] != label:
            clashes.append((text, owner[key], label))
        owner.setdefault(key, label)
    assert clashes == []


def test_intents_cover_the_chat_actions(intents: dict[str, list[str]]) -> None:
    assert {"join", "lead", "out_of_scope", "smalltalk", "human"} <= set(intents)
    assert sum(k.startswith("uncovered.") for k in intents) >= 5
    assert len(intents["join"]) >= 8
    assert len(intents["lead"]) >= 8
    assert len(intents["out_of_scope"]) >= 25


def test_labour_code_citations_exist_and_are_on_topic(entries: list[FaqEntry]) -> None:
    if not ARTICLES.is_file():
        pytest.skip(
            f"Labour Code articles not found at {ARTICLES} (../shared/data); "
            "citations were not checked against the law text"
        )
    # Điều 170-220 are not in the export; FACTS.md §11.E quotes the ones the FAQ cites.
    articles = labour_code_articles(ARTICLES)
    problems = []
    for e in entries:
        for c in e.citations:
            if c.law != "blld":
                continue
            raw = articles.get(str(c.article))
            if raw is None:
                problems.append((e.id, c.article, "no such article in the export"))
                continue
            text = fold(canonical(law_text(raw)))
            keywords = TOPIC_KEYWORDS[e.topic]
            if not any(fold(canonical(k)) in text for k in keywords):
                problems.append((e.id, c.article, f"none of {keywords} in the article"))
    assert problems == []


def test_project_text_is_not_copied_from_the_zalo_question_set(
    entries: list[FaqEntry], intents: dict[str, list[str]]
) -> None:
    if not ZALO.is_file():
        pytest.skip(f"Zalo AI 2021 questions not found at {ZALO}; copy check not run")
    zalo = {normalise_query(q["text"]) for q in json.loads(ZALO.read_text(encoding="utf-8"))}
    ours = [t for e in entries for t in (e.question, *e.samples)]
    ours += [s for v in intents.values() for s in v]
    ours += [line.rsplit("\t", 1)[0] for line in DEV.read_text(encoding="utf-8").splitlines()]
    copied = [t for t in ours if normalise_query(t) in zalo]
    assert copied == []


def test_toml_schema_has_no_unknown_keys() -> None:
    allowed_entry = {"id", "topic", "question", "answer", "citations", "samples"}
    optional_entry = {"offer"}
    for path in FAQ_DIR.glob("*.toml"):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        assert set(data) <= {"entry", "intent"}, path.name
        for raw in data.get("entry", []):
            assert allowed_entry <= set(raw) <= allowed_entry | optional_entry, raw.get("id")
            assert raw.get("offer", "lead") in ("lead", "join"), raw["id"]
            for c in raw["citations"]:
                assert set(c) <= {"law", "article"}, (path.name, raw["id"])
        for raw in data.get("intent", []):
            assert set(raw) == {"id", "samples"}, path.name


def test_figures_are_checked_in_articles_outside_the_export_too(tmp_path: Path) -> None:
    """Điều 188 and 190 (disputes) are not in the JSON export; content check reads the clauses
    FACTS.md §11.E quotes, so a wrong time limit beside them is still caught."""
    if not ARTICLES.is_file():
        pytest.skip(f"Labour Code articles not found at {ARTICLES}; figure check not run")
    from bot.core.content_check import check_figures

    (tmp_path / "faq").mkdir()
    text = (FAQ_DIR / "dispute.toml").read_text(encoding="utf-8")
    assert "Bạn có 6 tháng" in text
    (tmp_path / "faq" / "dispute.toml").write_text(
        text.replace("Bạn có 6 tháng", "Bạn có 7 tháng"), encoding="utf-8"
    )
    articles = labour_code_articles(ARTICLES)
    assert check_figures(ROOT / "content", articles) == []
    problems = check_figures(tmp_path, articles)
    assert len(problems) == 1 and "7 is not in BLLĐ Điều 190" in problems[0]
