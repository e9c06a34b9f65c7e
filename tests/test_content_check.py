"""`congdoan-bot content check` passes on the repository and catches each kind of mistake."""

from __future__ import annotations

import shutil
import unicodedata
from pathlib import Path

import pytest

from bot.config import ROOT
from bot.core.content_check import check_content, check_texts
from bot.core.texts import TextError, Texts, fmt_date, fmt_money

CODE = [ROOT / "bot", ROOT / "handlers"]


def test_repository_content_is_clean() -> None:
    assert check_content(ROOT / "content", CODE) == []


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(ROOT / "content", target)
    return target


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text("utf-8") + text, "utf-8")


def test_unused_and_too_long_keys_are_reported(content_copy: Path) -> None:
    _append(content_copy / "vi" / "common.toml", '\n[zz]\nlong = "' + "a" * 2100 + '"\n')
    problems = check_texts(content_copy, CODE)
    assert "unused text key zz.long" in problems
    assert any("zz.long: 2100 characters" in p for p in problems)


def test_rights_messages_must_fit_a_phone_screen(content_copy: Path) -> None:
    path = content_copy / "vi" / "rights.toml"
    path.write_text(path.read_text("utf-8").replace("Người lao động Việt Nam", "x" * 400), "utf-8")
    assert any(p.startswith("rights.body.who:") for p in check_texts(content_copy, CODE))


def test_missing_key_and_placeholder_mismatch(content_copy: Path, tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "h.py").write_text(
        'def f(ctx):\n    ctx.t("nope.key")\n    ctx.say("common.error", extra=1)\n', "utf-8"
    )
    problems = check_texts(content_copy, [*CODE, code])
    assert any(p.startswith("missing text key nope.key") for p in problems)
    assert "common.error: fills ['extra'] not in text" in problems


def test_non_nfc_file_is_reported(content_copy: Path) -> None:
    path = content_copy / "vi" / "common.toml"
    path.write_text(unicodedata.normalize("NFD", path.read_text("utf-8")), "utf-8")
    assert "common.toml: not NFC-normalised" in check_texts(content_copy, CODE)


def test_texts_are_strict_about_placeholders() -> None:
    texts = Texts({"a.b": "Xin chào {name}, gọi {hotline}"}, {"hotline": "1800.888864"})
    assert texts("a.b", name="Lan") == "Xin chào Lan, gọi 1800.888864"
    with pytest.raises(TextError):
        texts("a.b")
    with pytest.raises(TextError):
        texts("a.b", name="Lan", other=1)
    with pytest.raises(TextError):
        texts("missing.key")


def test_vietnamese_formatting() -> None:
    from datetime import UTC, datetime

    assert fmt_money(253000) == "253.000 đ"
    # 20:00 UTC on 30 June is already 1 July in Hai Phong.
    assert fmt_date(datetime(2026, 6, 30, 20, 0, tzinfo=UTC)) == "01/07/2026"


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")


def test_one_quotation_style_one_tone_placement_and_the_bot_says_minh(content_copy: Path) -> None:
    from bot.core.content_check import check_style

    assert check_style(content_copy) == []
    _replace(
        content_copy / "vi" / "ask.toml",
        'hoặc bấm “Hỏi tư vấn viên” nhé."\n',
        'hoặc bấm «Hỏi» nhé."\n',
    )
    _replace(content_copy / "vi" / "common.toml", "Đã hủy.", 'Đã huỷ. Bot chưa hiểu \\"gì\\".')
    _replace(
        content_copy / "faq" / "wages.toml", 'answer = """Lương phải', 'answer = """Có. Lương phải'
    )
    problems = check_style(content_copy)
    assert any("ask.toml ask.gone: use “ instead of «" in p for p in problems), problems
    assert any("common.cancelled: tone on the first vowel: 'uỷ'" in p for p in problems), problems
    assert any('common.cancelled: use “…” instead of "' in p for p in problems), problems
    assert any("common.cancelled: the bot speaks as “mình”" in p for p in problems), problems
    assert any("wages.late: open with the fact" in p for p in problems), problems


def test_a_figure_not_in_the_cited_labour_code_article_is_reported(content_copy: Path) -> None:

    from bot.core.content_check import check_figures, labour_code_articles, labour_code_path

    if not labour_code_path().is_file():
        pytest.skip(f"Labour Code text not found at {labour_code_path()}; figures not checked")
    articles = labour_code_articles(labour_code_path())
    assert check_figures(content_copy, articles) == []
    _replace(
        content_copy / "faq" / "wages.toml", "nhưng không quá 30 ngày", "nhưng không quá 45 ngày"
    )
    problems = check_figures(content_copy, articles)
    assert len(problems) == 1 and "wages.late: 45 is not in BLLĐ Điều 97" in problems[0]
