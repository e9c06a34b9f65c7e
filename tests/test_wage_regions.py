"""The minimum-wage region of the place a worker names (bot/core/wage_regions.py): the table
matches NĐ 293/2025's appendix as ../shared/data gives it, places are found in a sentence
without mistaking words for names, and the chat and `ask --json` put the line first."""

from __future__ import annotations

import csv
from collections import Counter

import pytest

from bot.app import FEATURES
from bot.commands import ask as ask_cli
from bot.config import ROOT
from bot.core.areas import load_areas
from bot.core.wage_regions import load_regions
from tests.conftest import shared_file
from tests.driver import CaptureChannel, Chat

CONTENT = ROOT / "content"


@pytest.fixture(scope="module")
def areas():  # type: ignore[no-untyped-def]
    return load_areas(CONTENT / "areas.csv")


def test_the_table_is_the_decree_appendix_for_every_unit(areas) -> None:  # type: ignore[no-untyped-def]
    regions = load_regions(CONTENT)
    with shared_file("data", "haiphong-units-vung-2026.csv").open(encoding="utf-8") as f:
        source = {row["code"]: row["vung_2026"] for row in csv.DictReader(f)}
    assert dict(regions) == source
    assert set(regions) == {a.code for a in areas}
    assert Counter(regions.values()) == {"I": 99, "II": 15}


def test_places_are_found_in_a_sentence_and_words_are_not_taken_for_names(areas) -> None:  # type: ignore[no-untyped-def]
    def named(text: str) -> list[list[str]]:
        return [[u.name for u in units] for _, units in areas.places_in(text)]

    assert named("công ty em ở phường Lê Chân") == [["Phường Lê Chân"]]
    assert named("o xa thanh mien thi luong toi thieu vung may") == [["Xã Thanh Miện"]]
    district = named("luong toi thieu o huyen thanh mien")[0]
    assert len(district) == 6 and "Xã Trường Tân" in district  # every unit it became
    assert named("hợp đồng điện tử ký trên app có hợp lệ không") == []  # "tử ký" is not Tứ Kỳ
    assert named("Công ty trả lương chậm") == []


async def test_the_worker_reads_the_region_of_their_place_first(make_app) -> None:  # type: ignore[no-untyped-def]
    channel = CaptureChannel("telegram")
    app = await make_app(channel, features=FEATURES)
    chat = Chat(app, channel)
    await chat.send("/start")
    await chat.send("Lương của em 4 triệu ở Thủy Nguyên có thấp quá không")
    first = chat.text.split("\n")[0]
    assert first.startswith("📍 Các xã, phường của thành phố Thủy Nguyên đều thuộc Vùng I")
    assert "5.310.000 đồng/tháng" in first and "Nghị định 293/2025/NĐ-CP, Điều 3" in first
    await chat.send("o xa thanh mien thi luong toi thieu vung may")
    assert chat.text.startswith("📍 Xã Thanh Miện thuộc Vùng II: lương tối thiểu 4.730.000")
    await chat.send("luong toi thieu o huyen thanh mien")
    assert "thuộc hai vùng" in chat.text and "Vùng II (4.730.000" in chat.text
    await chat.send("luong toi thieu vung 1 la bao nhieu")  # no place: the answer alone
    assert "📍" not in chat.text and "Vùng I 5.310.000" in chat.text
    await chat.send("cty no luong 2 thang o le chan thi lam sao")  # not about minimum wages
    assert "📍" not in chat.text


def test_ask_json_prints_what_the_worker_reads() -> None:
    [record] = list(ask_cli.answers(["Lương của em 4 triệu ở Thủy Nguyên có thấp quá không"]))
    assert record["faq_id"] == "wages.minimum"
    assert record["text"].startswith("📍 Các xã, phường của thành phố Thủy Nguyên")
