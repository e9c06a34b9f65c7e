"""Match a worker's free-text question to the Vietnamese FAQ, or to what the chat should do instead.

Workers type on phones, often without diacritics, with slang ("cty no lg", "bầu bị đuổi"),
abbreviations ("bhxh", "cđ") and typos. The matcher must still find the right answer, must never
answer a traffic-fine or divorce question from the labour FAQ, and must be cheap enough to search
the whole FAQ on every message. It is pure: no I/O besides reading the FAQ TOML files.

How a message is handled
------------------------
1. ``normalise_query``: NFC, one tone placement (``bot.core.textnorm``), lower case, units split
   ("10h" -> "10 giờ", "/ngày" -> "mỗi ngày"), abbreviations (``ABBREVIATIONS``: "ko" -> "không",
   "cty" -> "công ty", "bhxh", "cđ", "nlđ", "đc", "lg"), then slang phrases (``SLANG``: "tăng ca"
   -> "làm thêm giờ", "bầu" -> "mang thai", "đuổi việc" -> "sa thải", "nghỉ đẻ" -> "nghỉ thai
   sản"), then diacritic folding (đ -> d). Numbers are kept. Keys are spelt with diacritics: in a
   message typed without any, "nghi de" matches "nghỉ đẻ"; in one typed with them, only the exact
   spelling does, so "nghỉ để" (in order to) and "mang theo" (carry) are left alone.
2. The ``Matcher`` fixes unknown words against the FAQ vocabulary (rapidfuzz ratio >=
   ``FUZZ_CUTOFF`` for typos such as "luongg"; splits such as "congdoan"), drops question frames
   ("có đúng luật không", ``FRAMES``) and stop words, and builds a sparse TF-IDF vector of folded
   words, folded word pairs and, at ``ACCENT_WEIGHT``, accented words (diacritics typed help;
   their absence costs nothing). Words of the message that no FAQ text uses weigh
   ``UNKNOWN_WEIGHT`` (0.5, swept on dev over {1, 0.7, 0.5, 0.3}: 97.7 % -> 98.3 % right).
3. Each FAQ entry and intent gets a cosine score: ``SAMPLE_WEIGHT`` x (best cosine against one
   of its sample questions) + (1 - ``SAMPLE_WEIGHT``) x (cosine against all its text pooled,
   answer included at ``ANSWER_WEIGHT``). The cosine says which words a message shares with an
   entry, not which words tell that entry from its neighbours ("giải thể" is what separates
   job-loss allowance from contract types), so a linear classifier learns that from the same
   sample vectors: a one-vs-rest scikit-learn ``LinearSVC`` (``CLASSIFIER_C``), trained when
   the matcher is built. Its margin, -1 (clearly another label) .. +1 (clearly this one), is
   mapped to [0, 1] and weighs ``CLASSIFIER_WEIGHT`` in the final score, the cosine the rest.
   On dev it lifts the right entry to first place from 95.2 % to 96.7 % of FAQ questions.
   Scores lie in [0, 1]. The vectors and the classifier's weights are SciPy sparse matrices
   stored feature-major, so a message reads only the rows of its own features and the
   per-entry reductions run in NumPy: the cost follows the message, not the FAQ's size
   (``bench/ask.py`` prints it at 77, 300 and 1,000 entries; training takes about a second at
   100 entries and grows with the FAQ, once per process).
4. Domain lexicons say what the message is about: ``LABOUR_TERMS`` (strong: "lương", "thai
   sản", "công đoàn"...), ``WEAK_LABOUR_TERMS`` ("công ty", "hợp đồng": also common elsewhere),
   ``OUT_OF_SCOPE_TERMS`` (traffic, land, family, crime, tax, ...), ``LEGAL_CUE_TERMS`` (the
   vocabulary of formal legal questions: "quy định", "thủ tục", "xử phạt").
5. Decision (``Matcher.decide`` with ``Thresholds``), first rule that applies:
   - no words: an emoji such as 👍 is ``smalltalk``; nothing at all is ``unknown``
   - a request for a person (``PERSON_TERMS``: "gặp luật sư", "hỏi luật sư", "người thật",
     "gọi điện cho em"), whatever the topic                              -> ``escalate``
     (intent "human"): "tôi muốn hỏi luật sư về việc công ty nợ lương" wants the lawyer
   - small talk ranked first at >= ``smalltalk`` and no labour word     -> ``smalltalk``
   - best label is an intent scoring >= ``intent``: join / lead / out_of_scope -> that action;
     smalltalk (greetings, thanks, goodbyes, "ok"; no strong labour word) -> ``smalltalk``;
     human ("gặp luật sư", "người thật", "gọi điện") -> ``escalate`` (intent "human": the
     lawyer form or the hotline); ``uncovered.*`` (a labour topic the facts do not cover yet:
     strikes, health-insurance cards, hazard pay...; unless the message names another field
     and has no labour word) -> ``escalate`` with that intent, so the question gets one safe
     sentence and is never answered from a neighbouring entry
   - an out-of-scope term and no strong labour word                     -> ``out_of_scope``
   - a public-sector word (``PUBLIC_SECTOR_TERMS``: "viên chức", "công an") and no
     workplace of the Labour Code (``WORKPLACE_TERMS``: "công nhân", "công ty")
                                                                        -> ``out_of_scope``
   - a message of at least ``MIN_ANSWER_WORDS`` words (one word such as "lương" names a
     topic: it gets the list below), best entry >= ``answer``, ahead of EVERY other label
     (entries and intents) by ``margin``,
     and sure enough of the field: a strong labour word in the message; or only general work
     words and a score >= ``answer_weak`` (>= ``answer_cue`` with a legal-field cue such as
     "bồi thường"); or no labour word at all, no legal-field cue, a score >= ``answer_bare``
     and ahead by ``margin_bare`` ("bao hiem 1 lan", "1 nam dc bao nhieu ngay phep": the words
     are the FAQ's own)                                                 -> ``answer``
   - a legal-question cue and no labour word                            -> ``out_of_scope``
   - best entry >= ``suggest`` (``suggest_bare`` if the message has no
     labour word at all): the entries within ``suggest_spread``          -> ``suggest`` (<= 3)
   - a strong labour word, or a weak one in a worker's question          -> ``escalate``
   - a legal-question cue, a question of >= 4 words, the out-of-scope
     intent ranked first, or >= ``MIN_OUT_WORDS`` words without any
     labour word ("cách nấu phở bò ngon")                              -> ``out_of_scope``
   - otherwise (gibberish)                                              -> ``unknown``
   So a message without a labour word gets ``answer`` only when it is far ahead on the FAQ's
   own words, one naming another field
   (traffic, land, divorce...) without a strong labour word is declined before any FAQ lookup,
   and an entry is answered only when it is clearly ahead: when two labels are close the
   worker chooses from a short numbered list.

Thresholds and how to retune
----------------------------
Questions are labelled in two splits written for the project the way workers type (about half
without diacritics, slang, typos, long stories, questions that share words with an entry but
ask something else, small talk, requests for a person, uncovered topics, other legal fields):
``tests/data/faq_dev.tsv`` (tune on it) and ``tests/data/faq_test.tsv`` (report it, never tune
on it). A question is "handled right" (``bot.commands.faq.verdict``) when it is answered from
its labelled entry or gets its labelled action; a suggestion list counts only where the label
names two entries. ``bench/ask.py --sweep`` scores a grid of thresholds on dev and ranks the
points by dev accuracy among those whose dev wrong-entry rate is at most 4 %. The defaults in
``Thresholds`` are the top of that ranking:

- ``answer`` 0.25 and ``margin`` 0.01: with the classifier in the score the best entry is more
  often right, so a smaller margin is enough; 0.04 halves dev wrong entries (2.6 % -> 1.4 %)
  but turns two right answers in a hundred into lists.
- ``suggest`` 0.20 (``suggest_bare`` 0.26 when the message has no labour word): below, nothing
  is offered and the question is escalated (labour) or declined (other fields).
- ``intent`` 0.35 and ``answer_weak`` 0.30; ``answer_cue`` 0.40; ``answer_bare`` 0.50 with
  ``margin_bare`` 0.20 (dev ties with lower values; the stricter point was kept); ``smalltalk``
  0.30 ("chào bot, chúc một ngày tốt lành" scores lower than "xin chào"). Where several
  points tie on dev, the one with the highest thresholds (fewest answers) is kept.
- ``CLASSIFIER_WEIGHT`` 0.33 and ``CLASSIFIER_C`` 1.0 were swept on dev over {0.2, 0.33, 0.5}
  x {0.5, 1, 2}; 0.5 lets the classifier's one decisive word outvote the shared phrasing.
- ``SAMPLE_WEIGHT`` 0.5 and ``ANSWER_WEIGHT`` 0.5 were swept on dev with the thresholds (the
  pooled text, answer included, evens out entries whose samples happen to share one phrase
  with the question); ``BIGRAM_WEIGHT`` 0.5, ``ACCENT_WEIGHT`` 0.5 and ``NUMBER_WEIGHT`` 0.4
  were chosen the same way earlier (word pairs above 0.5 let one shared phrase decide the
  match; full-weight numbers let "5 tháng" pull towards "5 ngày"). Letter trigrams were tried
  and left out: no gain on dev.

To retune after editing FAQ content or lexicons: add dev questions for new entries and test
questions for them (worker phrasing, never a copy of a sample; a test checks), run
``.venv/bin/python bench/ask.py --sweep``, choose from the top rows, set ``Thresholds``, then run
``.venv/bin/pytest tests/test_matcher.py tests/test_faq_content.py``. ``bench/ask.py`` also
reports the share of non-labour questions of the Zalo AI 2021 legal set answered from the FAQ
(goal < 5 %); read it, but do not tune on that file question by question.
"""

from __future__ import annotations

import math
import re
import tomllib
import unicodedata
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from bot.core.textnorm import canonical, fold, nfc

__all__ = [
    "ACTIONS",
    "LAW_NAMES",
    "Analysis",
    "Citation",
    "FaqEntry",
    "Match",
    "Matcher",
    "Thresholds",
    "load_faq",
    "normalise_query",
]

ACTIONS = (
    "answer",
    "suggest",
    "join",
    "lead",
    "escalate",
    "out_of_scope",
    "smalltalk",
    "unknown",
)
UNCOVERED = "uncovered."  # intents naming labour topics the FAQ does not answer yet

# Short names used in citation labels. "Luật Công đoàn 2024" is Law 50/2024/QH15 as amended by
# Law 97/2025/QH15; content/faq/union.toml says so in full.
LAW_NAMES: dict[str, str] = {
    "blld": "Bộ luật Lao động 2019",
    "bhxh": "Luật Bảo hiểm xã hội 2024",
    "vl": "Luật Việc làm 2025",
    "atvsld": "Luật An toàn, vệ sinh lao động 2015",
    "lcd": "Luật Công đoàn 2024",
    "nd105": "Nghị định 105/2026/NĐ-CP",
    "nd161": "Nghị định 161/2026/NĐ-CP",
    "nd283": "Nghị định 283/2026/NĐ-CP",
    "nd293": "Nghị định 293/2025/NĐ-CP",
    "qd61": "Quyết định 61/QĐ-TLĐ của Tổng Liên đoàn Lao động Việt Nam",
}


@dataclass(frozen=True)
class Citation:
    """A law and article an answer rests on; ``article`` is None for a decision cited whole."""

    law: str
    article: int | None = None

    @property
    def label(self) -> str:
        """Human form shown to workers, e.g. "Bộ luật Lao động 2019, Điều 107"."""
        name = LAW_NAMES.get(self.law, self.law)
        return name if self.article is None else f"{name}, Điều {self.article}"


@dataclass(frozen=True)
class FaqEntry:
    """One question the bot can answer, with the sample phrasings it is matched on."""

    id: str
    topic: str
    question: str
    answer: str
    citations: tuple[Citation, ...]
    samples: tuple[str, ...]
    offer: str | None = None  # a flow the answer offers next ("lead"), shown as a button


@dataclass(frozen=True)
class Match:
    """What to do with a message: the action, the entry (answer/suggest), its score, choices."""

    action: str
    entry: FaqEntry | None
    score: float
    suggestions: tuple[FaqEntry, ...] = ()
    intent: str | None = None  # the intent that decided it ("human", "uncovered.strike"...)


@dataclass(frozen=True)
class Thresholds:
    """Decision cut-offs on the [0, 1] match score; see the module docstring for tuning."""

    answer: float = 0.25
    margin: float = 0.01
    suggest: float = 0.20
    intent: float = 0.35
    suggest_bare: float = 0.26  # suggest when the message has no labour word at all
    suggest_spread: float = 0.20  # offer runners-up within this distance of the best
    answer_weak: float = 0.30  # answer a message with only general work words ("công ty")
    answer_cue: float = 0.40  # ... even with a legal-field cue ("bồi thường", "thủ tục")
    answer_bare: float = 0.50  # answer a message with no labour word at all (no other field)
    margin_bare: float = 0.20  # ... when this far ahead of every other label
    smalltalk: float = 0.30  # small talk ranked first in a message without any labour word


# ---------------------------------------------------------------------------------------------
# Loading


def load_faq(content_dir: Path) -> tuple[list[FaqEntry], dict[str, list[str]]]:
    """Read every ``faq/*.toml`` under ``content_dir`` (or ``content_dir`` itself if it is the
    faq directory): entries from ``[[entry]]`` tables, intents from ``[[intent]]`` tables.

    Raises ValueError naming the file on a malformed entry or a duplicate id, so a content
    mistake stops start-up instead of silently hiding an answer.
    """
    faq_dir = content_dir / "faq" if (content_dir / "faq").is_dir() else content_dir
    entries: list[FaqEntry] = []
    intents: dict[str, list[str]] = {}
    seen: set[str] = set()
    for path in sorted(faq_dir.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path.name}: {exc}") from exc
        for raw in data.get("entry", []):
            entry = _entry_from_toml(raw, path)
            if entry.id in seen:
                raise ValueError(f"{path.name}: duplicate FAQ id {entry.id!r}")
            seen.add(entry.id)
            entries.append(entry)
        for raw in data.get("intent", []):
            try:
                intent_id = str(raw["id"])
                samples = [_nfc_text(s) for s in raw["samples"]]
            except (KeyError, TypeError) as exc:
                raise ValueError(f"{path.name}: malformed intent {raw!r}") from exc
            intents.setdefault(intent_id, []).extend(samples)
    return entries, intents


def _nfc_text(text: str) -> str:
    """NFC without changing case: content is stored as written, only normalised."""
    return nfc(str(text))


def _entry_from_toml(raw: Mapping[str, object], path: Path) -> FaqEntry:
    try:
        citations = tuple(
            Citation(law=str(c["law"]), article=int(c["article"]) if "article" in c else None)
            for c in raw["citations"]  # type: ignore[union-attr]
        )
        return FaqEntry(
            id=str(raw["id"]),
            topic=str(raw["topic"]),
            question=_nfc_text(str(raw["question"])),
            answer=_nfc_text(str(raw["answer"])).strip(),
            citations=citations,
            samples=tuple(_nfc_text(s) for s in raw["samples"]),  # type: ignore[union-attr]
            offer=str(raw["offer"]) if "offer" in raw else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path.name}: malformed FAQ entry {raw.get('id')!r}: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# Normalisation

_WORD = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=1 << 16)
def _fold(word: str) -> str:
    """fold() for one word, cached: the hot path folds the same few thousand words all day."""
    return fold(word)


# fmt: off
# Abbreviations and spelling variants, one typed word each, replaced first so that the phrase
# table below sees full words ("nợ lg" -> "nợ lương" -> "nợ chậm lương").
ABBREVIATIONS: dict[str, str] = {
    # negation, particles, question words
    "ko": "không", "k": "không", "kh": "không", "khg": "không", "hok": "không",
    "khum": "không", "kô": "không", "dc": "được", "đc": "được", "đx": "được",
    "j": "gì", "ntn": "như thế nào", "bn": "bao nhiêu", "bnhiu": "bao nhiêu", "vs": "với",
    "r": "rồi", "trc": "trước", "z": "vậy", "zậy": "vậy", "đag": "đang", "thág": "tháng",
    "tg": "thời gian", "ng": "người", "mn": "mọi người", "tr": "triệu", "tiếng": "giờ",
    "kí": "ký",
    # workplace and people
    "cty": "công ty", "cti": "công ty", "congty": "công ty", "dn": "doanh nghiệp",
    "xn": "xí nghiệp", "kcn": "khu công nghiệp", "nv": "nhân viên", "nld": "người lao động",
    "nlđ": "người lao động", "ld": "lao động", "lđ": "lao động",
    "nsdld": "người sử dụng lao động", "nsdlđ": "người sử dụng lao động",
    "sếp": "người sử dụng lao động",
    # contracts, papers, insurance
    "hđ": "hợp đồng", "hd": "hợp đồng", "hđlđ": "hợp đồng lao động",
    "hdld": "hợp đồng lao động", "tưlđtt": "thỏa ước lao động tập thể",
    "ctv": "cộng tác viên", "cccd": "căn cước", "cmnd": "căn cước", "cmt": "căn cước",
    "bhxh": "bảo hiểm xã hội", "bhyt": "bảo hiểm y tế", "bhtn": "bảo hiểm thất nghiệp",
    "bh": "bảo hiểm",
    # union
    "cđ": "công đoàn", "cd": "công đoàn", "cđcs": "công đoàn cơ sở", "cdcs": "công đoàn cơ sở",
    "kpcđ": "kinh phí công đoàn", "kpcd": "kinh phí công đoàn", "bch": "ban chấp hành",
    "lđlđ": "liên đoàn lao động", "ldld": "liên đoàn lao động", "tlđ": "tổng liên đoàn",
    # wages and hours
    "lg": "lương", "ot": "làm thêm giờ",
    # other fields (so out-of-scope questions are recognised however they are typed)
    "tncn": "thu nhập cá nhân", "gplx": "giấy phép lái xe", "csgt": "cảnh sát giao thông",
    "oto": "ô tô",
}

# Slang and everyday phrases -> the words the FAQ is written in. Keys are spelt with diacritics
# (see _key_matches). Longest key wins; a key mapped to itself protects a phrase from a shorter
# key inside it ("bầu cử" is not "mang thai cử").
SLANG: dict[str, str] = {
    "bao nhiu": "bao nhiêu", "c ty": "công ty", "hàng năm": "hằng năm",
    "hàng tuần": "hằng tuần", "hàng tháng": "hằng tháng",
    "chủ công ty": "người sử dụng lao động", "chủ xưởng": "người sử dụng lao động",
    "cắt hợp đồng": "chấm dứt hợp đồng",
    "về hưu": "nghỉ hưu", "tuổi hưu": "tuổi nghỉ hưu",
    "kinh phí công đoàn": "kinh phí công đoàn", "phí công đoàn": "đoàn phí",
    # wages and hours
    "tăng ca": "làm thêm giờ", "làm thêm": "làm thêm giờ", "làm thêm giờ": "làm thêm giờ",
    "làm ngoài giờ": "làm thêm giờ", "ca 3": "ca đêm",
    "trễ lương": "chậm lương", "lương trễ": "lương chậm", "khất lương": "chậm lương",
    "nợ lương": "nợ chậm lương", "trễ": "chậm", "đi trễ": "đi muộn", "trả muộn": "trả chậm",
    "làm đêm": "làm ca đêm", "tết nguyên đán": "tết âm lịch",
    "hợp đồng miệng": "hợp đồng bằng lời nói", "nói miệng": "thỏa thuận bằng lời nói",
    # pregnancy and children ("bầu" is also "to elect", "để" is not "đẻ")
    "bầu": "mang thai", "mang thai": "mang thai", "có bầu": "mang thai",
    "mang bầu": "mang thai", "có thai": "mang thai", "dính bầu": "mang thai",
    "bà bầu": "mang thai", "đang bầu": "đang mang thai",
    "bầu cử": "bầu cử", "bầu ban": "bầu ban", "bầu chọn": "bầu chọn", "bầu lại": "bầu lại",
    "bầu chủ": "bầu chủ", "bầu đại": "bầu đại", "được bầu": "được bầu", "phiếu bầu": "phiếu bầu",
    "nghỉ đẻ": "nghỉ thai sản", "nghỉ sinh": "nghỉ thai sản", "đi đẻ": "nghỉ thai sản",
    "vợ đẻ": "vợ sinh con", "đẻ con": "sinh con", "sắp đẻ": "sắp sinh con",
    "mới đẻ": "mới sinh con", "sau đẻ": "sau sinh con", "đẻ xong": "sinh con xong",
    # dismissal, quitting, harassment
    "đuổi việc": "sa thải", "bị đuổi": "bị sa thải", "đuổi em": "sa thải em",
    "đuổi tôi": "sa thải tôi", "đuổi mình": "sa thải mình", "đuổi công nhân": "sa thải công nhân",
    "nghỉ ngang": "nghỉ việc không báo trước", "bỏ ngang": "nghỉ việc không báo trước",
    "bỏ việc ngang": "nghỉ việc không báo trước", "thế chấp": "đặt cọc",
    "tiền thế chân": "tiền đặt cọc",
    "sờ mó": "quấy rối tình dục", "đụng chạm": "quấy rối tình dục", "nói bậy": "quấy rối tình dục",
    "chốt sổ": "chốt sổ bảo hiểm xã hội", "nghỉ chờ việc": "ngừng việc", "đẻ mổ": "sinh mổ",

    "sàm sỡ": "quấy rối tình dục", "gạ gẫm": "quấy rối tình dục", "gạ tình": "quấy rối tình dục",
    "quấy rối": "quấy rối tình dục", "quấy rối tình dục": "quấy rối tình dục",
    "chửi": "chửi ngược đãi", "bị mắng": "bị mắng ngược đãi", "la mắng": "la mắng ngược đãi",
    "mắng chửi": "mắng chửi ngược đãi", "chửi mắng": "chửi mắng ngược đãi",
    "mắng nhiếc": "mắng nhiếc ngược đãi", "đánh đập": "đánh đập ngược đãi",
    # "đánh" alone is also "đánh giá", "đánh máy": only a person hitting is abuse
    "giám đốc đánh": "giám đốc đánh đập ngược đãi",
    "quản lý đánh": "quản lý đánh đập ngược đãi", "tổ trưởng đánh": "tổ trưởng đánh đập ngược đãi",
    "sếp đánh": "sếp đánh đập ngược đãi", "chủ đánh": "chủ đánh đập ngược đãi",
    "đăng kí": "đăng ký",
    # "nghi de ve que" is "nghỉ để về quê" (to go home), not "nghỉ đẻ"
    "nghỉ để về": "nghỉ để về", "nghỉ để đi": "nghỉ để đi", "nghỉ để làm": "nghỉ để làm",
    "nghỉ để lo": "nghỉ để lo", "nghỉ để học": "nghỉ để học",
}

# Question frames that say "is this legal / what do I do" in every topic. They are dropped
# before scoring, so that "… có đúng luật không" does not pull every question towards the one
# sample that happens to share the frame. normalise_query keeps them (it is the readable form).
FRAMES: tuple[str, ...] = (
    "có đúng luật không", "đúng luật không", "có đúng không", "đúng luật", "có sai không",
    "có sao không", "thì sao", "thì làm sao", "làm sao", "phải làm gì", "làm gì", "làm thế nào",
    "như thế nào", "thế nào", "ra sao", "được không", "có được không", "hay không", "có phải",
    "có vi phạm không", "vi phạm không", "có hợp pháp không", "hợp pháp không", "ạ",
    "cho hỏi", "cho em hỏi", "cho tôi hỏi", "xin hỏi", "hỏi chút", "mọi người ơi",
)
# fmt: on

# Words that carry no meaning for matching. Accented forms are dropped as typed; the unaccented
# spellings in _STOP_FOLDED are dropped only in messages typed without diacritics, and only where
# the folded form is not also a meaningful word ("toi" may be "tối", "ban" may be "ban").
_STOP_ACCENTED = frozenset(
    "em anh chị tôi mình tao tớ bạn ạ à ơi nhé nha nhỉ vậy thế thì là mà của và với ở tại này "
    "đó kia ấy những các cái ah ak hả hở ha vâng dạ ad admin bot khi".split()
)
_STOP_FOLDED = frozenset(
    "em anh minh a oi nhe nha nhi cua o ak ah ha vs ad admin bot z nay khi".split()
)


def _terms(spec: str) -> frozenset[str]:
    """A lexicon written as "a|b|c" over several lines -> its canonical, trimmed terms."""
    return frozenset(" ".join(canonical(t).split()) for t in spec.split("|") if t.strip())


# Domain lexicons, written with diacritics and matched as whole words on the expanded message:
# exactly when the message was typed with diacritics ("chất lượng" is not "lương"), folded when
# it was typed without.
LABOUR_TERMS: frozenset[str] = _terms(
    """lao động|công đoàn|đoàn viên|đoàn phí|lương|làm thêm giờ|thử việc|thai sản|mang thai
    |sinh con|nuôi con|sa thải|thôi việc|nghỉ việc|kỷ luật lao động|bảo hiểm xã hội
    |bảo hiểm thất nghiệp|trợ cấp thôi việc|trợ cấp mất việc|công nhân|quấy rối
    |ngược đãi|phân biệt đối xử|thương lượng|thỏa ước|đối thoại|nghỉ hưu|tổ trưởng|xưởng
    |nhà máy|xí nghiệp|hợp đồng lao động|ca đêm|nghỉ phép|phép năm|nghỉ lễ|nghỉ tết|chấm công
    |nghỉ hằng năm|ban chấp hành|ngừng việc|khấu trừ|người sử dụng lao động|ngày công|nghỉ ốm
    |ốm đau|nghỉ việc riêng|chấm dứt hợp đồng|được nghỉ|cho nghỉ|trừ lương|trừ tiền|đi muộn
    |giờ làm|làm ca|bỏ việc|thất nghiệp|tai nạn lao động|ốm|thưởng tết|đình công|bảo hộ lao động
    |bảo hiểm y tế|lương hưu|sổ bảo hiểm|giữa ca|đổi ca|chuyển ca|ngày phép|nghỉ không phép
    |không phép|giờ làm việc|ngày làm việc|tuần làm|làm đêm|tiền đêm|bảo hiểm bắt buộc
    |bảo hiểm một lần|rút bảo hiểm
    |đối xử|xử lý kỷ luật|biên bản|báo trước|cho con bú|con nhỏ|chốt sổ|trả sổ|thai|sinh mổ
    |hòa giải viên|tranh chấp lao động|người lao động|đóng bảo hiểm|nghỉ ngang|ca làm|tan ca"""
)
# Labour words too general to outweigh a non-labour field on their own ("hợp đồng mua bán nhà",
# "phụ cấp của viên chức"); they still let a weak FAQ match be offered as a suggestion.
WEAK_LABOUR_TERMS: frozenset[str] = _terms(
    """công ty|doanh nghiệp|hợp đồng|đi làm|làm việc|căn cước|bằng cấp|văn bằng|đặt cọc|quản lý
    |giám đốc|phạt tiền|việc làm|kỷ luật|phụ cấp|tiền thưởng|trợ cấp|khu công nghiệp|ngày nghỉ
    |nhân viên|nghỉ|ngày làm|đi ca|thưởng|trả lương|quản lý|tổ trưởng|sếp"""
)
OUT_OF_SCOPE_TERMS: frozenset[str] = _terms(
    """giao thông|xe máy|ô tô|bằng lái|giấy phép lái xe|vượt đèn|đèn đỏ|mũ bảo hiểm|nồng độ cồn
    |rượu bia|phạt nguội|tước bằng|đăng kiểm|cảnh sát giao thông|sổ đỏ|sổ hồng|đất đai|thửa đất
    |nhà đất|đất nông nghiệp|đất ở|quyền sử dụng đất|tranh chấp đất|ly hôn|đăng ký kết hôn
    |thừa kế|di chúc|hình sự|tội phạm|phạm tội|đi tù|phạt tù|án treo|lừa đảo|ma túy|tiền thuế
    |nộp thuế|đóng thuế|quyết toán thuế|thu nhập cá nhân|tạm trú|thường trú|hộ khẩu|hộ chiếu
    |visa|nghĩa vụ quân sự|chung cư
    |hàng xóm|vay tiền|nợ xấu|cho vay|lãi suất|chứng khoán|công chứng|chứng thực|khai sinh
    |khai tử|hộ kinh doanh|giấy phép kinh doanh|thành lập công ty|thành lập doanh nghiệp|bầu cử
    |đảng viên|quân nhân|quân đội|học sinh|sinh viên|trường học|xây dựng|xây nhà|biển số
    |tài xế|hành khách|đăng ký xe|kiểm lâm|rừng|tàu cá|hải quan|xuất nhập khẩu
    |người tiêu dùng|điện lực|bảo hiểm xe|bảo hiểm nhân thọ|tôn giáo|tín ngưỡng|di sản|báo chí
    |quảng cáo|môi trường|khoáng sản|trồng trọt|chăn nuôi|thú y|dịch bệnh|tiêm chủng|quốc tịch
    |cư trú|cán bộ công chức|công chức|viên chức|viện kiểm sát|công an|thương tích|phạm nhân
    |đấu thầu|ngân sách|mang thai hộ|mua bán|mua nhà|bán nhà|thuê nhà|làm căn cước
    |làm lại căn cước|cấp lại căn cước|cấp căn cước"""
)
# Words that name a non-labour field only when typed with diacritics ("dat" may be "đặt cọc",
# "thue" is usually "thuê": "thue tre 15 tuoi lam" asks about hiring a child).
OUT_OF_SCOPE_ACCENTED_TERMS: frozenset[str] = _terms("đất|ranh giới|nhà bên cạnh|thuế")
# Public-sector employment (cán bộ, công chức, viên chức, quân nhân) is outside the federation's
# labour FAQ. These terms count against the labour reading only when no strong labour word is
# present ("công nhân bị tai nạn giao thông trên đường đi làm" stays a labour question).
LEGAL_CUE_TERMS: frozenset[str] = _terms(
    """quy định|xử phạt|mức phạt|bị phạt|pháp luật|thủ tục|hồ sơ|thẩm quyền|cơ quan|nghị định
    |thông tư|điều kiện|xử lý|vi phạm|truy cứu|bồi thường|đăng ký|cấp phép|giấy phép|luật
    |trách nhiệm|nguyên tắc|chức năng|nhiệm vụ"""
)

# Asking for a person rather than an answer: the lawyer form or the hotline, whatever the topic
# ("tôi muốn hỏi luật sư về việc công ty nợ lương"). "luật sư" alone is not a request: "luật sư
# của công đoàn có lấy tiền không" is a question the FAQ answers.
PERSON_TERMS: frozenset[str] = _terms(
    """gặp luật sư|hỏi luật sư|hỏi trực tiếp luật sư|nói chuyện với luật sư|cần luật sư
    |muốn luật sư|người thật|nói chuyện với người|gặp người|gặp tư vấn viên|hỏi tư vấn viên
    |nói chuyện với tư vấn viên|gặp cán bộ|gọi điện cho em|gọi điện cho tôi|gọi điện cho mình
    |gọi lại cho|tư vấn trực tiếp|số điện thoại tư vấn|số hotline|đường dây nóng"""
)
# Public-sector employment (cán bộ, công chức, viên chức, quân nhân, công an) is outside the
# federation's labour FAQ even when the words are labour words ("viên chức nghỉ hưu trước tuổi"),
# unless the message names a workplace of the Labour Code ("công nhân", "công ty", "xưởng").
PUBLIC_SECTOR_TERMS: frozenset[str] = _terms(
    "cán bộ công chức|công chức|viên chức|quân nhân|quân đội|công an"
)
WORKPLACE_TERMS: frozenset[str] = _terms(
    "công nhân|xưởng|nhà máy|xí nghiệp|công ty|doanh nghiệp|khu công nghiệp"
)
MIN_ANSWER_WORDS = 2  # one word ("lương", "bhxh") names a topic, not a question: a list
MIN_OUT_WORDS = 3  # a message of this many words, no labour word and no match: another field

# Words that make a message a question. A question with neither a labour word nor an FAQ match
# is a legal (or other) question outside the bot's field, not chit-chat.
QUESTION_TERMS: frozenset[str] = _terms(
    """không|gì|nào|bao nhiêu|bao lâu|sao|ai|ở đâu|khi nào|thế nào|có được|có phải|chưa|mấy"""
)
MIN_QUESTION_WORDS = 4

_Table = dict[tuple[str, ...], tuple[str, ...]]


def _compile(table: Mapping[str, str]) -> tuple[_Table, dict[str, list[tuple[str, ...]]]]:
    keys: _Table = {}
    for key, value in table.items():
        keys[tuple(_WORD.findall(canonical(key)))] = tuple(_WORD.findall(canonical(value)))
    first: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for k in sorted(keys, key=len, reverse=True):
        first[_fold(k[0])].append(k)
    return keys, dict(first)


_ABBR_KEYS, _ABBR_FIRST = _compile(ABBREVIATIONS)
_SLANG_KEYS, _SLANG_FIRST = _compile(SLANG)
# Never "typo-fixed": every word of an abbreviation or slang key ("ngang" in "nghỉ ngang" must
# not become "ngay" before the phrase is recognised).
_EXPANDABLE = frozenset(_fold(w) for key in (*_ABBR_KEYS, *_SLANG_KEYS) for w in key)
_FRAME_KEYS, _FRAME_FIRST = _compile(dict.fromkeys(FRAMES, ""))
_UNIT = re.compile(r"(?<=\d)(h|k|tr|đ)\b", re.IGNORECASE)
_UNIT_WORDS = {"h": " giờ", "k": " nghìn", "tr": " triệu", "đ": " đồng"}
_PER = re.compile(r"\s*/\s*(ngày|tuần|tháng|năm|ngay|tuan|thang|nam)\b")  # "4 tiếng/ngày"

MAX_TOKENS = 240  # a pasted story is cut to its first 160 and last 80 words
MAX_CHARS = 6000  # and, before that, to its first 4,000 and last 2,000 characters
ACCENTED_SHARE = 0.25  # a message with this share of words carrying diacritics is "accented"


@dataclass(frozen=True)
class _Prepared:
    """A message after normalisation: expanded words, and whether it was typed with diacritics."""

    words: tuple[str, ...]
    accented: bool

    def text(self) -> str:
        """Padded canonical text for whole-word lexicon look-ups in this message's mode."""
        body = " ".join(self.words) if self.accented else " ".join(_fold(w) for w in self.words)
        return f" {body} "

    def has_any(self, terms: Iterable[str]) -> set[str]:
        padded = self.text()
        if self.accented:
            return {t for t in terms if f" {t} " in padded}
        return {t for t in terms if f" {_fold(t)} " in padded}


def _key_matches(key_word: str, typed: str, accented: bool) -> bool:
    """A key word matches the same spelling, or, in a message typed without diacritics, any
    word that folds to the same letters ("bau" is "bầu"; in "Tôi mang theo" "mang" is "mang")."""
    return typed == key_word or (not accented and _fold(key_word) == typed)


def _replace(
    words: Sequence[str],
    keys: _Table,
    first: Mapping[str, list[tuple[str, ...]]],
    accented: bool,
) -> list[str]:
    """Replace phrases from a compiled table, longest key first, left to right."""
    out: list[str] = []
    i = 0
    n = len(words)
    while i < n:
        for key in first.get(_fold(words[i]), ()):
            size = len(key)
            if i + size <= n and all(
                _key_matches(kw, tw, accented)
                for kw, tw in zip(key, words[i : i + size], strict=True)
            ):
                out.extend(keys[key])
                i += size
                break
        else:
            out.append(words[i])
            i += 1
    return out


def _raw_words(text: str) -> list[str]:
    """Canonical words; "10h" -> "10 giờ", "/ngày" -> "mỗi ngày"; a long text is cut."""
    if len(text) > MAX_CHARS:  # bound the work before any regex runs over a pasted novel
        text = text[: MAX_CHARS * 2 // 3] + " " + text[-(MAX_CHARS // 3) :]
    text = _UNIT.sub(lambda m: _UNIT_WORDS[m.group(1).lower()], canonical(text))
    text = _PER.sub(lambda m: " mỗi " + m.group(1), text)
    words = [w.replace("_", "") for w in _WORD.findall(text)]
    words = [w for w in words if w]
    if len(words) > MAX_TOKENS:
        words = words[: MAX_TOKENS * 2 // 3] + words[-(MAX_TOKENS // 3) :]
    return words


def _is_accented(words: Sequence[str]) -> bool:
    alpha = [w for w in words if not w.isdigit()]
    marked = sum(1 for w in alpha if w != _fold(w))
    return marked > 0 and marked >= ACCENTED_SHARE * len(alpha)


def _expand(words: Sequence[str], accented: bool) -> tuple[str, ...]:
    """Abbreviations first, then slang phrases."""
    words = _replace(words, _ABBR_KEYS, _ABBR_FIRST, accented)
    return tuple(_replace(words, _SLANG_KEYS, _SLANG_FIRST, accented))


def _prepare(words: Sequence[str]) -> _Prepared:
    accented = _is_accented(words)
    return _Prepared(_expand(words, accented), accented)


def _content_words(prepared: _Prepared) -> list[str]:
    """Words that carry meaning: question frames and stop words removed."""
    words = _replace(prepared.words, _FRAME_KEYS, _FRAME_FIRST, prepared.accented)
    return [
        w for w in words if w not in _STOP_ACCENTED and (prepared.accented or w not in _STOP_FOLDED)
    ]


def normalise_query(text: str) -> str:
    """The searchable form of a message: canonical, slang expanded, folded, numbers kept.

    "Cty nợ lg 2 tháng" -> "cong ty no cham luong 2 thang". Stop words and question frames are
    kept here (this is the readable form); the matcher drops them when it builds vectors.
    """
    return " ".join(_fold(w) for w in _prepare(_raw_words(text)).words)


# ---------------------------------------------------------------------------------------------
# Index

ACCENT_WEIGHT = 0.5  # accented words: a bonus for diacritics typed, never required
BIGRAM_WEIGHT = 0.5  # word pairs: order matters, but one shared phrase must not decide
ANSWER_WEIGHT = 0.5  # answer words in the pooled document of an entry
SAMPLE_WEIGHT = 0.5  # best single sample vs pooled entry text
UNKNOWN_WEIGHT = 0.5  # a message's words the FAQ never uses (place, names): they count, less
NUMBER_WEIGHT = 0.4  # "5 tháng" vs "5 ngày": numbers are mostly incidental to the topic
CLASSIFIER_WEIGHT = 0.33  # share of the linear classifier in a label's score (the rest: cosine)
CLASSIFIER_C = 1.0  # LinearSVC regularisation (smaller: smoother, fewer words decide alone)
RANKED = 12  # labels kept per message: the decision looks at the first few only
FUZZ_CUTOFF = 80  # rapidfuzz ratio for a typo fix: one edit in a five-letter word


@dataclass(frozen=True)
class Analysis:
    """A scored message before the thresholds are applied (kept apart so tuning is cheap)."""

    ranked: tuple[tuple[str, float], ...]  # (FAQ id or "@intent", score), best first
    content_words: int
    labour: frozenset[str]
    strong_labour: frozenset[str]
    out_of_scope: frozenset[str]
    legal_cue: bool
    question: bool
    symbol: bool = False  # no words, but an emoji such as 👍: small talk
    person: bool = False  # asks for a person: "gặp luật sư", "người thật", "gọi điện cho em"


def _features(words: Sequence[str]) -> Counter[str]:
    """Folded words, folded word pairs and accented words (only where diacritics were typed)."""
    feats: Counter[str] = Counter()
    folded = [_fold(w) for w in words]
    for w, f in zip(words, folded, strict=True):
        feats["f:" + f] += 1
        if w != f:
            feats["a:" + w] += 1
    for a, b in pairwise(folded):
        feats[f"b:{a} {b}"] += 1
    return feats


def _feature_weight(name: str) -> float:
    kind, _, body = name.partition(":")
    weight = ACCENT_WEIGHT if kind == "a" else BIGRAM_WEIGHT if kind == "b" else 1.0
    if any(ch.isdigit() for ch in body):
        weight *= NUMBER_WEIGHT
    return weight


class Matcher:
    """Scores a message against every FAQ entry and intent; built once, then read-only.

    ``match`` is safe to call from concurrent tasks: the only mutable state is a typo-correction
    cache whose entries never change once written.
    """

    def __init__(
        self,
        entries: Sequence[FaqEntry],
        intents: Mapping[str, Sequence[str]],
        thresholds: Thresholds | None = None,
    ) -> None:
        self.entries = list(entries)
        self.intents = {k: list(v) for k, v in intents.items()}
        self.thresholds = thresholds or Thresholds()
        self._by_label: dict[str, FaqEntry] = {e.id: e for e in self.entries}
        self._fix_cache: dict[str, tuple[str, ...]] = {}

        def words_of(text: str) -> list[str]:
            return _content_words(_prepare(_raw_words(text)))

        sample_words: list[tuple[str, list[str]]] = []  # (label, content words)
        pooled: dict[str, Counter[str]] = defaultdict(Counter)
        vocab: set[str] = set()
        for e in self.entries:
            for text in (e.question, *e.samples):
                words = words_of(text)
                sample_words.append((e.id, words))
                pooled[e.id].update(_features(words))
            answer_words = words_of(e.answer)
            vocab.update(_fold(w) for w in answer_words)
            for name, count in _features(answer_words).items():
                pooled[e.id][name] += ANSWER_WEIGHT * count
        for intent, samples in self.intents.items():
            for text in samples:
                words = words_of(text)
                sample_words.append((f"@{intent}", words))
                pooled[f"@{intent}"].update(_features(words))
        vocab.update(_fold(w) for _, words in sample_words for w in words)
        # Lexicon words are known words too: "treo" in "án treo" must not be "fixed" into an FAQ
        # word, or the message would lose the very term that says it is about another field.
        for terms in (LABOUR_TERMS, WEAK_LABOUR_TERMS, OUT_OF_SCOPE_TERMS, LEGAL_CUE_TERMS):
            vocab.update(_fold(w) for term in terms for w in term.split())
        self.vocab: frozenset[str] = frozenset(vocab)
        self._vocab_list = sorted(self.vocab)

        sample_feats = [(label, _features(words)) for label, words in sample_words]
        n_docs = len(sample_feats)
        df: Counter[str] = Counter()
        for _, feats in sample_feats:
            df.update(feats.keys())
        self._idf = {
            name: math.log((n_docs + 1) / (count + 0.5)) + 1.0 for name, count in df.items()
        }
        self._default_idf = math.log((n_docs + 1) / 0.5) + 1.0

        # Labels (FAQ ids, then "@intent"s) are rows of the pooled matrix; samples are grouped by
        # label so that one reduceat takes each label's best sample.
        self._labels: list[str] = list(pooled)
        label_row = {label: i for i, label in enumerate(self._labels)}
        sample_feats.sort(key=lambda lf: label_row[lf[0]])
        self._columns: dict[str, int] = {name: i for i, name in enumerate(sorted(df))}
        for feats in pooled.values():
            for name in feats:
                self._columns.setdefault(name, len(self._columns))
        sample_rows = [label_row[label] for label, _ in sample_feats]
        self._sample_starts = np.flatnonzero(
            np.r_[True, np.diff(np.asarray(sample_rows, dtype=np.int64)) != 0]
        )
        self._sample_label_rows = np.asarray(sample_rows, dtype=np.int64)[self._sample_starts]
        # Stored transposed (feature x document, CSR): a message touches only its own rows.
        samples = self._matrix([f for _, f in sample_feats])
        self._samples_t = samples.T.tocsr()
        self._pooled_t = self._matrix([pooled[label] for label in self._labels]).T.tocsr()
        self._classifier_t, self._classifier_bias = self._train(samples, sample_rows)

    # -- building blocks ----------------------------------------------------------------------

    def _weigh(self, feats: Mapping[str, float]) -> dict[str, float]:
        """Sublinear tf x idf x feature-kind weight, L2-normalised (cosine scores in [0, 1]).
        A message's features the FAQ never uses weigh ``UNKNOWN_WEIGHT``: they still lower the
        score (a question about something else shares few words), but a commune or a person's
        name does not drown the words that say what is asked."""
        vec = {
            name: (1.0 + math.log(tf) if tf >= 1 else tf)
            * self._idf.get(name, self._default_idf)
            * _feature_weight(name)
            * (1.0 if name in self._columns else UNKNOWN_WEIGHT)
            for name, tf in feats.items()
            if tf > 0
        }
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {name: v / norm for name, v in vec.items()}

    def _matrix(self, docs: Sequence[Mapping[str, float]]) -> sparse.csr_matrix:
        """Weighted, normalised document vectors as rows of a sparse matrix over the features."""
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for i, feats in enumerate(docs):
            for name, weight in self._weigh(feats).items():
                rows.append(i)
                cols.append(self._columns[name])
                vals.append(weight)
        return sparse.csr_matrix(
            (vals, (rows, cols)), shape=(len(docs), len(self._columns)), dtype=np.float64
        )

    def _train(
        self, samples: sparse.csr_matrix, sample_rows: Sequence[int]
    ) -> tuple[sparse.csr_matrix | None, np.ndarray]:
        """A one-vs-rest linear SVM over the sample vectors: which words tell one label from the
        others (the cosine only says which words they share). Returned as a feature x label
        sparse matrix (weights under 1e-4 dropped) and a bias per label; None with one label."""
        bias = np.zeros(len(self._labels))
        if len(set(sample_rows)) < 2:
            return None, bias
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            svm = LinearSVC(C=CLASSIFIER_C, random_state=0, max_iter=5000)
            svm.fit(samples, np.asarray(sample_rows, dtype=np.int64))
        classes = np.asarray(svm.classes_, dtype=np.int64)
        coef = np.atleast_2d(svm.coef_)
        intercept = np.atleast_1d(svm.intercept_)
        if len(classes) == 2:  # a binary SVM has one hyperplane: the second class's side
            coef = np.vstack([-coef[0], coef[0]])
            intercept = np.array([-intercept[0], intercept[0]])
        coef[np.abs(coef) < 1e-4] = 0.0
        full = sparse.csr_matrix(
            (
                coef.ravel(),
                (
                    np.repeat(classes, coef.shape[1]),
                    np.tile(np.arange(coef.shape[1]), len(classes)),
                ),
            ),
            shape=(len(self._labels), samples.shape[1]),
        )
        full.eliminate_zeros()
        bias[classes] = intercept
        return full.T.tocsr(), bias

    def _fix_word(self, word: str) -> tuple[str, ...]:
        """Map an unknown word to known ones: a split ("congdoan") or the nearest typo fix."""
        folded = _fold(word)
        if folded in self.vocab or folded.isdigit() or len(folded) < 4:
            return (word,)
        cached = self._fix_cache.get(word)
        if cached is not None:
            return cached
        fixed: tuple[str, ...] = (word,)
        for cut in range(2, len(folded) - 1):
            left, right = folded[:cut], folded[cut:]
            if left in self.vocab and right in self.vocab:
                fixed = (left, right)
                break
        else:
            best = process.extractOne(
                folded, self._vocab_list, scorer=fuzz.ratio, score_cutoff=FUZZ_CUTOFF
            )
            if best is not None:
                fixed = (best[0],)
        if len(self._fix_cache) < 50_000:
            self._fix_cache[word] = fixed
        return fixed

    def _prepare_query(self, text: str) -> _Prepared:
        raw = _raw_words(text)
        accented = _is_accented(raw)
        words: list[str] = []
        for w in raw:
            if _fold(w) in _EXPANDABLE or w in _STOP_ACCENTED:
                words.append(w)
            else:
                words.extend(self._fix_word(w))
        return _Prepared(_expand(words, accented), accented)

    def _scores(self, vec: Mapping[str, float], top: int = RANKED) -> list[tuple[str, float]]:
        """The ``top`` best labels for a weighted query vector, best first (score > 0).

        Only the matrix rows of the message's own features are read (a sparse slice), so the
        cost follows the message, not the size of the FAQ; the per-label reductions run in
        NumPy over one array per call.
        """
        known = [(self._columns[n], w) for n, w in vec.items() if n in self._columns]
        if not known:
            return []
        cols = np.fromiter((c for c, _ in known), dtype=np.int64, count=len(known))
        weights = np.fromiter((w for _, w in known), dtype=np.float64, count=len(known))
        per_sample = self._samples_t[cols].T @ weights
        best = np.zeros(len(self._labels))
        best[self._sample_label_rows] = np.maximum.reduceat(per_sample, self._sample_starts)
        scores = SAMPLE_WEIGHT * best + (1.0 - SAMPLE_WEIGHT) * (self._pooled_t[cols].T @ weights)
        if self._classifier_t is not None:
            margin = self._classifier_t[cols].T @ weights + self._classifier_bias
            # SVM margin -1 (clearly another label) .. +1 (clearly this one) mapped to 0 .. 1.
            scores = (1.0 - CLASSIFIER_WEIGHT) * scores + CLASSIFIER_WEIGHT * np.clip(
                (margin + 1.0) / 2.0, 0.0, 1.0
            )
        positive = np.flatnonzero(scores > 0)
        if len(positive) > top:
            positive = positive[np.argpartition(-scores[positive], top - 1)[:top]]
        ranked = [(self._labels[i], float(scores[i])) for i in positive]
        ranked.sort(key=lambda kv: (-kv[1], kv[0]))
        return ranked

    # -- public -------------------------------------------------------------------------------

    def rank(self, text: str) -> list[tuple[str, float]]:
        """All labels (FAQ ids and "@intent") with a positive score, best first."""
        words = _content_words(self._prepare_query(text or ""))
        if not words:
            return []
        return self._scores(self._weigh(_features(words)), top=len(self._labels))

    def analyse(self, text: str) -> Analysis:
        """Everything the decision needs that does not depend on thresholds."""
        prepared = self._prepare_query(text or "")
        words = _content_words(prepared)
        if not any(any(ch.isalpha() for ch in w) for w in words):
            symbol = any(unicodedata.category(ch) == "So" for ch in (text or "")[:200])
            return Analysis((), 0, frozenset(), frozenset(), frozenset(), False, False, symbol)
        ranked = self._scores(self._weigh(_features(words)))
        labour = prepared.has_any(LABOUR_TERMS | WEAK_LABOUR_TERMS)
        # "có đúng luật không" asks whether something is lawful; it is not a legal-field cue.
        unframed = _Prepared(
            tuple(_replace(prepared.words, _FRAME_KEYS, _FRAME_FIRST, prepared.accented)),
            prepared.accented,
        )
        return Analysis(
            ranked=tuple(ranked),
            content_words=len(words),
            labour=frozenset(labour),
            strong_labour=frozenset(labour - WEAK_LABOUR_TERMS),
            out_of_scope=frozenset(
                prepared.has_any(OUT_OF_SCOPE_TERMS)
                | (prepared.has_any(OUT_OF_SCOPE_ACCENTED_TERMS) if prepared.accented else set())
            ),
            legal_cue=bool(unframed.has_any(LEGAL_CUE_TERMS)),
            question=len(words) >= MIN_QUESTION_WORDS
            and ("?" in (text or "") or bool(prepared.has_any(QUESTION_TERMS))),
            person=bool(prepared.has_any(PERSON_TERMS)),
        )

    def decide(self, a: Analysis, thresholds: Thresholds | None = None) -> Match:
        """Turn an analysis into an action; the rules are listed in the module docstring."""
        t = thresholds or self.thresholds
        if not a.ranked and not a.content_words:
            return Match("smalltalk" if a.symbol else "unknown", None, 0.0)
        faq = [(label, s) for label, s in a.ranked if not label.startswith("@")]
        best_faq, best_score = faq[0] if faq else (None, 0.0)
        top_label, top_score = a.ranked[0] if a.ranked else ("", 0.0)

        if a.person:
            return Match("escalate", None, round(top_score, 4), intent="human")
        if top_label == "@smalltalk" and top_score >= t.smalltalk and not a.labour:
            return Match("smalltalk", None, round(top_score, 4), intent="smalltalk")
        if top_label.startswith("@") and top_score >= t.intent:
            intent = top_label[1:]
            if intent in ("join", "lead", "out_of_scope"):
                return Match(intent, None, round(top_score, 4), intent=intent)
            if intent == "smalltalk" and not a.strong_labour:
                return Match("smalltalk", None, round(top_score, 4), intent=intent)
            if intent == "human" or (
                # "xây nhà cần xin giấy phép" is not the work-permit topic: another field's
                # words and no labour word at all
                intent.startswith(UNCOVERED) and not (a.out_of_scope and not a.labour)
            ):
                return Match("escalate", None, round(top_score, 4), intent=intent)
        if a.out_of_scope and not a.strong_labour:
            return Match("out_of_scope", None, round(top_score, 4))
        if a.out_of_scope & PUBLIC_SECTOR_TERMS and not a.labour & WORKPLACE_TERMS:
            return Match("out_of_scope", None, round(top_score, 4))

        # The runner-up is any other label, intents included: an entry is "clearly ahead" only
        # if no other entry and no recognised uncovered topic comes close to it.
        runner_up = next((s for label, s in a.ranked if label != best_faq), 0.0)
        ahead = best_score - runner_up >= t.margin
        sure_enough = (
            a.strong_labour
            or (a.labour and not a.legal_cue and best_score >= t.answer_weak)
            or (a.labour and best_score >= t.answer_cue)
            or (
                not a.labour
                and not a.legal_cue
                and best_score >= t.answer_bare
                and best_score - runner_up >= t.margin_bare
            )
        )
        if (
            best_faq is not None
            and best_score >= t.answer
            and ahead
            and sure_enough
            and a.content_words >= MIN_ANSWER_WORDS
        ):
            return Match("answer", self._by_label[best_faq], round(best_score, 4))
        if a.legal_cue and not a.labour:
            return Match("out_of_scope", None, round(best_score, 4))
        floor = t.suggest if a.labour else t.suggest_bare
        if best_faq is not None and best_score >= floor:
            floor = max(floor, best_score - t.suggest_spread)
            picks = tuple(self._by_label[label] for label, s in faq[:3] if s >= floor)
            return Match("suggest", picks[0], round(best_score, 4), picks)
        if a.strong_labour or (a.labour and a.question and not a.legal_cue):
            return Match("escalate", None, round(best_score, 4))
        if (
            a.legal_cue
            or a.question
            or top_label == "@out_of_scope"
            or (not a.labour and a.content_words >= MIN_OUT_WORDS)
        ):
            return Match("out_of_scope", None, round(best_score, 4))
        return Match("unknown", None, round(best_score, 4))

    def match(self, text: str) -> Match:
        """Decide what the chat does with ``text``; never raises on any string."""
        return self.decide(self.analyse(text))


@lru_cache(maxsize=4)
def build_matcher(content_dir: Path) -> Matcher:
    """Load the FAQ and index it; cached per content folder, so one process builds it once."""
    entries, intents = load_faq(content_dir)
    return Matcher(entries, intents)
