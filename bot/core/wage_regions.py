"""The minimum-wage region (vùng) of the place a worker names, for the answer on minimum wages.

Nghị định 293/2025/NĐ-CP (Điều 3 and its appendix, item 13) puts 99 of Hải Phòng's 114 units in
Vùng I and 15 in Vùng II; ../shared/FACTS.md §11.D checked the list unit by unit, and
``content/wage_regions.csv`` (code, name, vung) is that table. "Lương 4 triệu ở Thủy Nguyên có
thấp không" is answered from ``wages.minimum`` with a first line for Thủy Nguyên itself: the
region of each unit the name means (an old district's name means every unit it became, which
may lie in two regions) and that region's figures. Pure: the chat and ``ask --json`` both call it.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path

from bot.core.areas import AreaIndex
from bot.core.matcher import Match

FILE = "wage_regions.csv"
ENTRIES = frozenset({"wages.minimum", "wages.region"})  # the answers a place line goes with
LISTED = 8  # units named per region when a place spans two


@lru_cache(maxsize=4)
def load_regions(content_dir: Path) -> Mapping[str, str]:
    """Unit code -> "I" | "II" (empty when the file is missing: no place line is written)."""
    path = Path(content_dir) / FILE
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        return {row["code"].strip(): row["vung"].strip() for row in csv.DictReader(f)}


def region_line(
    question: str,
    match: Match,
    areas: AreaIndex,
    regions: Mapping[str, str],
    texts: Callable[..., str],
) -> str | None:
    """The line about the worker's own place, or None (not an answer on minimum wages, no
    place named, or a unit the table does not list)."""
    if match.action != "answer" or match.entry is None or match.entry.id not in ENTRIES:
        return None
    if not regions:
        return None
    places = areas.places_in(question)
    if not places:
        return None
    label, units = places[0]
    by_region: dict[str, list[str]] = {}
    for unit in units:
        vung = regions.get(unit.code)
        if vung is None:
            return None
        by_region.setdefault(vung, []).append(unit.name)
    if len(by_region) == 1:
        [vung] = by_region
        figures = texts(f"ask.region.figures.{vung}")
        if len(units) == 1:  # its name now, whatever old name the worker used
            return texts("ask.region.unit", place=units[0].name, vung=vung, figures=figures)
        return texts("ask.region.all", place=label, vung=vung, figures=figures)
    parts = [
        texts(
            "ask.region.part",
            vung=vung,
            units=", ".join(names[:LISTED]) + ("…" if len(names) > LISTED else ""),
            figures=texts(f"ask.region.figures.{vung}"),
        )
        for vung, names in sorted(by_region.items())
    ]
    return texts("ask.region.mixed", place=label, parts="; ".join(parts))
