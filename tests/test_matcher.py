"""The FAQ matcher: normalisation, decisions on real worker phrasing, accuracy, robustness."""

from __future__ import annotations

import json
import random
import time
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from bot.commands.faq import label_set, read_tsv, verdict
from bot.core.matcher import (
    ACTIONS,
    MAX_TOKENS,
    UNCOVERED,
    Citation,
    Matcher,
    _raw_words,
    load_faq,
    normalise_query,
)
from bot.core.textnorm import fold

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT / "content"
DEV = ROOT / "tests" / "data" / "faq_dev.tsv"
TEST = ROOT / "tests" / "data" / "faq_test.tsv"
ZALO = ROOT / ".." / "shared" / "data" / "zalo-ai-2021-legal-questions.json"
INTENT_LABELS = {"join", "lead", "out_of_scope", "escalate", "smalltalk"}
# The goal of issue #11: at least 95% handled right on the test split (measured 0.958, 248 of
# 259, once wages.minimum had samples of "my wage is X a month, is it too low?").
TEST_ACCURACY_FLOOR = 0.95


@pytest.fixture(scope="module")
def faq() -> tuple[list, dict]:
    return load_faq(CONTENT)


@pytest.fixture(scope="module")
def matcher(faq: tuple[list, dict]) -> Matcher:
    entries, intents = faq
    return Matcher(entries, intents)


def load_split(path: Path) -> list[tuple[str, str]]:
    return read_tsv(path)


# --- normalisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Cty nợ lg 2 tháng", "cong ty no cham luong 2 thang"),
        ("ko", "khong"),
        ("k", "khong"),
        ("hok", "khong"),
        ("khong", "khong"),
        ("cty", "cong ty"),
        ("bhxh", "bao hiem xa hoi"),
        ("cđ", "cong doan"),
        ("cd", "cong doan"),
        ("kpcđ", "kinh phi cong doan"),
        ("nlđ", "nguoi lao dong"),
        ("nld", "nguoi lao dong"),
        ("đc", "duoc"),
        ("dc", "duoc"),
        ("tăng ca", "lam them gio"),
        ("tang ca", "lam them gio"),
        ("lg", "luong"),
        ("bầu 5 tháng", "mang thai 5 thang"),
        ("đuổi việc", "sa thai"),
        ("nghỉ đẻ", "nghi thai san"),
        ("nghi de", "nghi thai san"),
        ("sếp", "nguoi su dung lao dong"),
        ("hđlđ", "hop dong lao dong"),
    ],
)
def test_slang_and_abbreviations_expand(typed: str, expected: str) -> None:
    assert normalise_query(typed) == expected


def test_expansion_respects_diacritics_typed() -> None:
    # "nghỉ để" (in order to) is not "nghỉ đẻ" (maternity); "bầu cử" is an election.
    assert normalise_query("xin nghỉ để đi khám") == "xin nghi de di kham"
    assert normalise_query("bầu cử ban chấp hành") == "bau cu ban chap hanh"
    # In a message typed with diacritics, a bare "mang" (carry) is not "mắng" (scold)...
    assert normalise_query("Tôi mang theo giấy tờ") == "toi mang theo giay to"
    # Typed without diacritics, a key matches any spelling that folds to it...
    assert normalise_query("to truong chui em") == "to truong chui nguoc dai em"
    # ...so keys whose folded form is an everyday word are left out ("hổng"/"hỏng", "mắng"/"mang").
    assert normalise_query("dang mang thai") == "dang mang thai"
    assert normalise_query("lam hong may") == "lam hong may"


def test_nfc_and_tone_placement_do_not_matter() -> None:
    composed = "Hoà giải lương thuỷ sản"
    decomposed = unicodedata.normalize("NFD", composed)
    new_style = "Hòa giải lương thủy sản"
    assert normalise_query(decomposed) == normalise_query(composed)
    assert normalise_query(new_style) == normalise_query(composed)
    assert normalise_query(composed) == "hoa giai luong thuy san"


def test_numbers_and_units_are_kept() -> None:
    assert normalise_query("tăng ca 40 giờ") == "lam them gio 40 gio"
    assert normalise_query("làm 10h một ngày") == "lam 10 gio mot ngay"
    assert normalise_query("4 tiếng/ngày") == "4 gio moi ngay"
    assert normalise_query("phạt 100k") == "phat 100 nghin"


def test_long_text_is_cut_to_a_bounded_number_of_words() -> None:
    words = _raw_words("lương " * 3000)
    assert len(words) == MAX_TOKENS


def test_citation_labels_are_exact() -> None:
    assert Citation("blld", 107).label == "Bộ luật Lao động 2019, Điều 107"
    assert Citation("lcd", 5).label == "Luật Công đoàn 2024, Điều 5"
    assert Citation("nd105", 4).label == "Nghị định 105/2026/NĐ-CP, Điều 4"
    assert Citation("qd61").label == "Quyết định 61/QĐ-TLĐ của Tổng Liên đoàn Lao động Việt Nam"


# --- what a worker gets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        ("cty no luong 2 thang thi lam sao", "wages.late"),
        ("bầu 5 tháng bị đuổi việc", "maternity.no_dismissal"),
        ("tăng ca 4 tiếng/ngày có đúng luật ko", "overtime.cap"),
        ("nghỉ thai sản được mấy tháng", "maternity.leave"),
        ("nghi thai san duoc may thang", "maternity.leave"),
        ("cty no luongg 2 thang", "wages.late"),  # typo
        ("đoàn phí bây giờ đóng bao nhiêu phần trăm", "union.dues"),
    ],
)
def test_worker_questions_get_the_right_answer(
    matcher: Matcher, question: str, entry_id: str
) -> None:
    m = matcher.match(question)
    assert m.action == "answer", m
    assert m.entry is not None and m.entry.id == entry_id
    assert m.suggestions == ()
    # The answer the worker reads cites its article.
    for citation in m.entry.citations:
        if citation.article is not None:
            assert f"Điều {citation.article}" in m.entry.answer


def test_join_and_lead_are_recognised(matcher: Matcher) -> None:
    assert matcher.match("muốn vào công đoàn").action == "join"
    assert matcher.match("lam sao de vao cong doan vay ad").action == "join"
    assert matcher.match("cty em chua co cong doan").action == "lead"
    assert matcher.match("công ty mình không có công đoàn").action == "lead"


@pytest.mark.parametrize(
    "question",
    [
        "vượt đèn đỏ phạt bao nhiêu",
        "xe may khong chinh chu bi phat bao nhieu",
        "thủ tục ly hôn thuận tình mất mấy tháng",
        "chia thua ke dat cua ong ba de lai",
        "tranh chấp ranh giới đất với nhà bên cạnh",
        "trốn thuế thu nhập cá nhân bị phạt thế nào",
        "bị đánh gây thương tích thì kiện ai",
        "Mức phạt đối với hành vi buôn bán pháo nổ là bao nhiêu?",
        "đăng ký thường trú cho con ở đâu",
        "tôi muốn ly hôn mà chồng không ký đơn",
    ],
)
def test_out_of_scope_is_never_answered(matcher: Matcher, question: str) -> None:
    m = matcher.match(question)
    assert m.action == "out_of_scope", m
    assert m.entry is None


@pytest.mark.parametrize("text", ["", "   ", "?!...", "\n\t"])
def test_empty_messages_are_unknown(matcher: Matcher, text: str) -> None:
    m = matcher.match(text)
    assert m.action == "unknown"
    assert m.entry is None and m.suggestions == ()


@pytest.mark.parametrize(
    "text", ["😀😀👍", "🙏", "👍👍👍👍" * 200, "xin chào", "chao ad", "cảm ơn bạn", "ok", "bye nhé"]
)
def test_small_talk_and_emoji_are_smalltalk(matcher: Matcher, text: str) -> None:
    m = matcher.match(text)
    assert m.action == "smalltalk"
    assert m.entry is None and m.suggestions == ()


def test_thanks_with_a_labour_question_is_not_small_talk(matcher: Matcher) -> None:
    assert matcher.match("cảm ơn, cho em hỏi công ty nợ lương 2 tháng").action == "answer"


def test_labour_question_outside_the_faq_is_escalated(matcher: Matcher) -> None:
    m = matcher.match("công ty không trang bị đồ bảo hộ khi làm hóa chất")
    assert m.action == "escalate"
    assert m.entry is None and (m.intent or UNCOVERED).startswith(UNCOVERED)


def test_vague_question_gets_at_most_three_suggestions(matcher: Matcher) -> None:
    m = matcher.match("lương")
    assert m.action == "suggest"
    assert 1 <= len(m.suggestions) <= 3
    assert m.entry == m.suggestions[0]
    assert len({e.id for e in m.suggestions}) == len(m.suggestions)


def test_a_5000_character_message_is_handled_quickly(matcher: Matcher) -> None:
    story = (
        "Em làm công nhân may ở khu công nghiệp được 3 năm, công ty nợ lương em 2 tháng, "
        "tổ trưởng còn bắt tăng ca đến 10 giờ đêm 😭😭. "
    ) * 60
    story = story[:5000]
    assert len(story) == 5000
    start = time.perf_counter()
    m = matcher.match(story)
    elapsed = time.perf_counter() - start
    assert m.action in ACTIONS
    assert m.action != "out_of_scope"
    assert elapsed < 2.0  # typically ~10 ms; a generous bound so a busy machine does not fail


def test_a_huge_paste_is_bounded(matcher: Matcher) -> None:
    text = "cty no luong " + "x" * 200_000 + " tăng ca 😀" * 20_000
    start = time.perf_counter()
    m = matcher.match(text)
    assert m.action in ACTIONS
    assert time.perf_counter() - start < 2.0


def test_random_strings_never_crash(matcher: Matcher) -> None:
    rng = random.Random(4)
    alphabet = "aăâbcdđeêghiklmnoôơpqrstuưvxyáàảãạ0123456789 ?!/%😀\u0301\u0323\n"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        m = matcher.match(text)
        assert m.action in ACTIONS
        if m.action in ("answer", "suggest"):
            assert m.entry is not None
        else:
            assert m.entry is None


# --- development set ---------------------------------------------------------------------------


def _labels_known(label: str, ids: set[str]) -> bool:
    return all(part in ids or part in INTENT_LABELS for part in label_set(label))


def test_splits_are_big_varied_and_written_like_workers(faq: tuple[list, dict]) -> None:
    entries, _ = faq
    ids = {e.id for e in entries}
    dev, test = load_split(DEV), load_split(TEST)
    assert len(dev) + len(test) >= 600 and len(test) >= 250
    for question, label in dev + test:
        assert _labels_known(label, ids), label
        assert question == unicodedata.normalize("NFC", question)
    assert not {normalise_query(q) for q, _ in dev} & {normalise_query(q) for q, _ in test} - {""}
    for rows in (dev, test):
        folded = [q for q, _ in rows if fold(q) == q.lower()]
        assert len(folded) * 2 >= len(rows) * 0.9, "about half typed without diacritics"
        labels = [label for _, label in rows]
        for action, least in (("out_of_scope", 15), ("join", 4), ("lead", 4), ("smalltalk", 8)):
            assert labels.count(action) >= least, action
        assert labels.count("escalate") >= 10
        assert sum(len(q) > 120 for q, _ in rows) >= 3, "long stories"
    # Every entry, new ones included, is asked about in the test split.
    asked = {part for _, label in test for part in label_set(label)}
    assert ids - asked == set()


def test_split_questions_are_not_copies_of_samples(faq: tuple[list, dict]) -> None:
    entries, intents = faq
    known = {normalise_query(e.question) for e in entries}
    known |= {normalise_query(s) for e in entries for s in e.samples}
    known |= {normalise_query(s) for samples in intents.values() for s in samples}
    copies = [q for q, _ in load_split(DEV) + load_split(TEST) if normalise_query(q) in known]
    assert copies == []


def _grade(matcher: Matcher, rows: list[tuple[str, str]]) -> Counter[str]:
    out: Counter[str] = Counter()
    for question, label in rows:
        m = matcher.match(question)
        entry = m.entry.id if m.entry else None
        out[verdict(m.action, entry, [e.id for e in m.suggestions], label)] += 1
    return out


def test_test_split_is_handled_right_and_rarely_answered_from_a_wrong_entry(
    matcher: Matcher,
) -> None:
    """The policy was tuned on the dev split only; these floors catch a regression. The goal of
    issue #11 is 95 % right; bench/ask.py prints the figure measured (README of content)."""
    rows = load_split(TEST)
    graded = _grade(matcher, rows)
    assert graded["right"] / len(rows) >= TEST_ACCURACY_FLOOR, graded
    assert graded["wrong_entry"] / len(rows) < 0.05, graded


def test_dev_split_is_handled_right(matcher: Matcher) -> None:
    rows = load_split(DEV)
    graded = _grade(matcher, rows)
    assert graded["right"] / len(rows) >= 0.97, graded
    assert graded["wrong_entry"] / len(rows) < 0.05, graded


def test_out_of_scope_questions_are_never_answered(matcher: Matcher) -> None:
    rows = [q for q, label in load_split(DEV) + load_split(TEST) if label == "out_of_scope"]
    answered = [q for q in rows if matcher.match(q).action == "answer"]
    assert len(answered) <= len(rows) // 20, answered


def test_legal_questions_outside_labour_law_are_almost_never_answered(matcher: Matcher) -> None:
    if not ZALO.is_file():
        pytest.skip(f"Zalo AI 2021 questions not found at {ZALO}; the check was not run")
    from bench.ask import is_labour

    outside = [q["text"] for q in json.loads(ZALO.read_text("utf-8")) if not is_labour(q["text"])]
    answered = sum(matcher.match(q).action == "answer" for q in outside)
    assert answered / len(outside) < 0.05


# --- loading ------------------------------------------------------------------------------------


def test_duplicate_ids_are_rejected(tmp_path: Path) -> None:
    entry = """
[[entry]]
id = "x.same"
topic = "x"
question = "Câu hỏi?"
answer = "Trả lời (Bộ luật Lao động 2019, Điều 1)."
citations = [{ law = "blld", article = 1 }]
samples = ["a", "b", "c", "d"]
"""
    (tmp_path / "a.toml").write_text(entry, encoding="utf-8")
    (tmp_path / "b.toml").write_text(entry, encoding="utf-8")
    with pytest.raises(ValueError, match="duplicate"):
        load_faq(tmp_path)


def test_malformed_entry_names_its_file(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text('[[entry]]\nid = "x.y"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.toml"):
        load_faq(tmp_path)
