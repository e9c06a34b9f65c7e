"""The geography of Hải Phòng: the 114 commune-level units and the union body for each.

Workers name their workplace the way they always have: "Lê Chân", "le chan", "P. Lê Chân", the old
district ("huyện An Dương", "Thủy Nguyên", "Hải Dương") or the industrial park ("KCN Đại An"), often
without diacritics and with typos. The join form, the lead reports and volunteer area assignments
all need one current unit out of that, so the search lives here, once, over `content/areas.csv`
(which the federation edits). Every pre-merger ward and commune is known too
(`content/old_units.csv`, from the official conversion table): a worker who types the name they
always used ("phường Nguyễn Trãi") sees which unit it is now, with the old district beside each
suggestion (`AreaIndex.suggest`), so two units of one old name are not mixed up. Pure: no storage,
handlers or channels.
"""

from __future__ import annotations

import csv
import dataclasses
import re
import unicodedata
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from rapidfuzz import fuzz, process

from bot.core.textnorm import canonical, fold, new_tone_style

DEFAULT_UNION_BODY = "Liên đoàn Lao động thành phố Hải Phòng"
"""Who handles an area until the federation names its commune union (FACTS §7 fallback)."""

UNIT_TYPES = ("phường", "xã", "đặc khu")
_UNIT_WORDS = {"phuong", "xa", "khu"}  # the folded type word before a unit's own name
HEADER = ("code", "name", "type", "aliases", "union_body")
OLD_UNITS_FILE = "old_units.csv"
OLD_HEADER = ("code", "old_name", "old_district", "merge")
DISTRICT_LIST_MAX = 12
"""An old district's units are all offered (the biggest, TP Hải Dương, has nine)."""
MAX_QUERY_CHARS = 120
"""No unit, old district or park name is near this long; a longer message is not an area answer."""

_NAME_PREFIX = {"phường": "Phường ", "xã": "Xã ", "đặc khu": "Đặc khu "}
_WORD = re.compile(r"\w+", re.UNICODE)
_CODE = re.compile(r"^[0-9]{5}$")

# Type words people put before a place name, folded, longest first. The value is the hint the
# prefix gives: a unit type, an old district type, "town" (old thị trấn) or "kcn".
_PREFIXES: tuple[tuple[tuple[str, ...], str | None], ...] = (
    (("khu", "cong", "nghiep"), "kcn"),
    (("khu", "cn"), "kcn"),
    (("kcn",), "kcn"),
    (("dac", "khu"), "đặc khu"),
    (("dk",), "đặc khu"),
    (("thi", "tran"), "town"),
    (("tt",), "town"),
    (("thi", "xa"), "thị xã"),
    (("tx",), "thị xã"),
    (("thanh", "pho"), "thành phố"),
    (("tp",), "thành phố"),
    (("phuong",), "phường"),
    (("p",), "phường"),
    (("xa",), "xã"),
    (("x",), "xã"),
    (("quan",), "quận"),
    (("q",), "quận"),
    (("huyen",), "huyện"),
    (("h",), "huyện"),
    (("tinh",), None),
)
_DISTRICT_TYPES = frozenset({"quận", "huyện", "thị xã", "thành phố"})
_CITY_SUFFIXES = (
    ("thanh", "pho", "hai", "phong"),
    ("tp", "hai", "phong"),
    ("hai", "phong"),
    ("hp",),
)

# Scores: an exact unit name always beats an exact alias, which beats any fuzzy match.
_EXACT = {
    "name": 100.0,
    "district": 90.0,
    "old": 90.0,
    "other": 90.0,
    "kcn": 88.0,
    "oldunit": 89.0,
}
_PREFIX_MATCH = {"name": 78.0, "alias": 70.0}
_CONTAINED = {"name": 80.0, "alias": 72.0}
_FUZZY_WEIGHT = {"name": 0.8, "alias": 0.72}
_FUZZY_CUTOFF = 80.0
_EXACT_FLOOR = 88.0
_KEEP_WITH_EXACT = 85.0
_GUESS_SPREAD = 20.0


class AreasFileError(ValueError):
    """content/areas.csv cannot be loaded; `problems` says why, line by line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class OldUnit:
    """A ward or commune before 01/07/2025 and the district it was in ("Phường Nguyễn Trãi",
    "Thành phố Hải Dương"), as the conversion table writes them."""

    name: str
    district: str


@dataclass(frozen=True)
class Suggestion:
    """One unit offered for what a worker typed, with the words that tell it apart: the old
    district, or the old ward or commune the query named ("Phường Thành Đông (phường Nguyễn Trãi
    cũ, TP Hải Dương)")."""

    area: Area
    label: str
    park: str | None = None  # the industrial park the query named ("KCN Đại An"), if any
    via: str = "name"  # what matched: name, district, oldunit, old (town), kcn, other


@dataclass(frozen=True)
class Area:
    """One commune-level unit (phường, xã, đặc khu) as the federation's file describes it."""

    code: str
    name: str
    type: str
    aliases: tuple[str, ...] = ()
    union_body: str = ""
    # The pre-07/2025 wards and communes (or parts of them) this unit was formed from.
    old_units: tuple[OldUnit, ...] = ()

    @property
    def old_districts(self) -> tuple[str, ...]:
        """The old districts, towns and cities its old units were in, each once, as written."""
        seen: dict[str, str] = {}
        for unit in self.old_units:
            seen.setdefault(_fold_name(unit.district), unit.district)
        return tuple(seen.values())

    @property
    def union_body_or_default(self) -> str:
        """The body that receives applications and leads here; the city federation until set."""
        return self.union_body or DEFAULT_UNION_BODY

    @property
    def bare_name(self) -> str:
        """The name without its type word ("Lê Chân"), for short buttons."""
        prefix = _NAME_PREFIX.get(self.type, "")
        return self.name[len(prefix) :] if prefix and self.name.startswith(prefix) else self.name


@dataclass(frozen=True)
class _Key:
    folded: str
    canon: str
    area: int
    kind: str  # name | district | old | kcn | other | oldunit
    subtype: str | None  # the type word the alias carried ("huyện", "quận", ...)
    old: OldUnit | None = None  # for kind "oldunit": the old ward or commune named
    alias: str = ""  # the alias as the file writes it ("KCN Đại An")


def _split(text: str) -> tuple[list[str], list[str]]:
    """Canonical words (accents kept) and their folded twins, one for one."""
    canon = _WORD.findall(canonical(text))
    return canon, [fold(w) for w in canon]


def _strip_prefix(folded: list[str]) -> tuple[int, str | None, bool]:
    """How many leading words are a type word, the hint they give, and whether one was found."""
    for words, hint in _PREFIXES:
        n = len(words)
        if len(folded) > n and tuple(folded[:n]) == words:
            return n, hint, True
    return 0, None, False


def _strip_city(folded: list[str]) -> int:
    """How many trailing words only say "Hải Phòng" (every unit is in Hải Phòng)."""
    for words in _CITY_SUFFIXES:
        n = len(words)
        if len(folded) > n and tuple(folded[-n:]) == words:
            return n
    return 0


def _kind_of(hint: str | None, found: bool) -> str:
    if not found:
        return "other"
    if hint == "kcn":
        return "kcn"
    if hint in _DISTRICT_TYPES:
        return "district"
    return "old"


class AreaIndex:
    """All areas with a search that forgives missing diacritics, type words, old names and typos."""

    def __init__(self, areas: Iterable[Area]) -> None:
        self._areas: list[Area] = sorted(areas, key=lambda a: a.code)
        self._by_code = {a.code: a for a in self._areas}
        self._keys: list[_Key] = []
        self._by_folded: dict[str, list[_Key]] = defaultdict(list)
        names: dict[str, list[Area]] = defaultdict(list)
        for i, area in enumerate(self._areas):
            canon, folded = _split(area.bare_name)
            self._add(_Key(" ".join(folded), " ".join(canon), i, "name", area.type))
            full_canon, full_folded = _split(area.name)
            # Accented forms first: "Cẩm Giang" and "Cẩm Giàng" fold to the same letters.
            for form in {" ".join(full_canon), " ".join(full_folded)}:
                names["full:" + form].append(area)
            for form in {" ".join(canon), " ".join(folded)}:
                names["bare:" + form].append(area)
            for alias in area.aliases:
                canon, folded = _split(alias)
                n, hint, found = _strip_prefix(folded)
                m = _strip_city(folded[n:])
                end = len(folded) - m
                if n >= end:
                    n, end = 0, len(folded)
                key = _Key(
                    " ".join(folded[n:end]),
                    " ".join(canon[n:end]),
                    i,
                    _kind_of(hint, found),
                    hint,
                    alias=alias,
                )
                if key.folded:
                    self._add(key)
            bare = " ".join(_split(area.bare_name)[0])
            for old in area.old_units:
                o_canon, o_folded = _split(old.name)
                n, hint, _ = _strip_prefix(o_folded)
                if not o_folded or " ".join(o_canon[n:]) == bare or n >= len(o_folded):
                    continue  # the unit kept its name: the name key finds it
                self._add(
                    _Key(" ".join(o_folded[n:]), " ".join(o_canon[n:]), i, "oldunit", hint, old)
                )
        self._unique_names = {k: v[0] for k, v in names.items() if len(v) == 1}
        self._choices = list(self._by_folded)
        # For prefix and contained-words matches without a pass over every key (451 old wards
        # and communes more than doubled them): sorted for prefixes, by first word for the rest.
        self._sorted = sorted(self._choices)
        self._by_first: dict[str, list[str]] = defaultdict(list)
        for folded in self._choices:
            if len(folded) >= 5:
                self._by_first[folded.split(" ", 1)[0]].append(folded)

    def _add(self, key: _Key) -> None:
        self._keys.append(key)
        self._by_folded[key.folded].append(key)

    def __len__(self) -> int:
        return len(self._areas)

    def __iter__(self) -> Iterator[Area]:
        return iter(self._areas)

    def all(self) -> list[Area]:
        """Every area, in code order."""
        return list(self._areas)

    def with_union_bodies(self, mapping: Mapping[str, str]) -> AreaIndex:
        """The same areas with ``mapping`` (area code → union body) laid over the file's bodies
        (the dashboard's edits; content/areas.csv stays the file of record)."""
        if not mapping:
            return self
        return AreaIndex(
            dataclasses.replace(a, union_body=mapping.get(a.code, a.union_body))
            for a in self._areas
        )

    def by_code(self, code: str | int) -> Area | None:
        return self._by_code.get(str(code).strip())

    def by_name(self, name: str) -> Area | None:
        """Exact name, ignoring case, diacritics and tone placement ("Phường Lê Chân" = "phuong le
        chan"). A name typed without or with the wrong type word ("Xã Cát Hải" for Đặc khu Cát Hải)
        is accepted when exactly one unit has that bare name, so staff lists keep working."""
        canon, folded = _split(name)
        n, hint, _ = _strip_prefix(folded)
        if hint not in UNIT_TYPES:
            n = 0  # "quận Lê Chân" is an old district, not Phường Lê Chân
        for form in (
            "full:" + " ".join(canon),
            "full:" + " ".join(folded),
            "bare:" + " ".join(canon[n:]),
            "bare:" + " ".join(folded[n:]),
        ):
            hit = self._unique_names.get(form)
            if hit is not None:
                return hit
        return None

    def places_in(self, text: str) -> list[tuple[str, list[Area]]]:
        """The places a sentence names, in order: (the words as typed, the units they mean).

        Two to four words matched exactly (longest first) against unit names, old districts,
        towns, industrial parks and old wards. Where the words were typed with diacritics they
        must agree ("tự ký" is not Tứ Kỳ); typed without, the folded letters decide. A unit's
        own name means that unit alone; an old district's name means every unit it became."""
        canon, folded = _split(text[:500])
        found: list[tuple[str, list[Area]]] = []
        i = 0
        while i < len(folded):
            for n in (4, 3, 2):
                if i + n > len(folded):
                    continue
                keys = self._by_folded.get(" ".join(folded[i : i + n]), [])
                typed = " ".join(canon[i : i + n])
                if typed != " ".join(folded[i : i + n]):
                    keys = [k for k in keys if k.canon == typed]
                named = [k for k in keys if k.kind == "name"]
                # "xã Thanh Miện": the unit of that name, not the old district's units
                if named and (len(named) == len(keys) or folded[max(0, i - 1)] in _UNIT_WORDS):
                    keys = named
                if not keys:
                    continue
                units = [self._areas[u] for u in sorted({k.area for k in keys})]
                if keys == named and len(units) == 1:
                    label = units[0].name
                else:
                    label = next((k.alias for k in keys if k.alias), units[0].bare_name)
                found.append((new_tone_style(label), units))
                i += n
                break
            else:
                i += 1
        return found

    def by_union_body(self, body: str) -> list[Area]:
        """Areas a union body answers for; the city federation also gets every unassigned area."""
        want = " ".join(_split(body)[1])
        return [a for a in self._areas if " ".join(_split(a.union_body_or_default)[1]) == want]

    def search(self, query: str, limit: int = 5) -> list[Area]:
        """Best matches first: exact unit name, then old district / town / industrial park / old
        ward or commune, then prefixes and typos. Returns [] for empty, emoji-only or overlong
        input."""
        if limit <= 0:
            return []
        return [self._areas[i] for i, _, _ in self._ranked(query)[:limit]]

    def suggest(self, query: str, limit: int = 5) -> list[Suggestion]:
        """What the forms offer: the best units, each labelled with its old district (or the old
        ward or commune the query named). An old district's name offers all its units, however
        many (up to DISTRICT_LIST_MAX), so none is left out."""
        ranked = self._ranked(query)
        if any(key.kind == "district" and score >= _EXACT_FLOOR for _, score, key in ranked):
            limit = max(limit, min(len(ranked), DISTRICT_LIST_MAX))
        return [
            Suggestion(
                self._areas[i],
                _label(self._areas[i], key),
                key.alias if key.kind == "kcn" else None,
                key.kind,
            )
            for i, _, key in ranked[:limit]
        ]

    def namesakes(self, name: str) -> list[Suggestion]:
        """Every unit the name names exactly: as its own name, an old district, an old ward or
        commune, a park (labelled as in ``suggest``). For staff lists, where a guess must not
        pass silently: "An Dương" is a phường, and also the old quận of four units."""
        ranked = self._ranked(name)
        return [
            Suggestion(self._areas[i], _label(self._areas[i], key), None, key.kind)
            for i, score, key in ranked[:DISTRICT_LIST_MAX]
            if score >= _EXACT_FLOOR and key.kind != "kcn"
        ]

    def _ranked(self, query: str) -> list[tuple[int, float, _Key]]:
        """(area index, score, the key that scored best) for every candidate, best first."""
        if not query or len(query) > MAX_QUERY_CHARS:
            return []
        text = query.strip()
        if _CODE.match(text):
            hit = self._by_code.get(text)
            if hit is None:
                return []
            i = self._areas.index(hit)
            return [(i, 100.0, _Key("", "", i, "name", hit.type))]
        canon, folded = _split(text)
        if not folded:
            return []
        m = _strip_city(folded)
        if m:
            canon, folded = canon[:-m], folded[:-m]
        variants: list[tuple[list[str], list[str], str | None]] = [(canon, folded, None)]
        n, hint, found = _strip_prefix(folded)
        if found:
            variants.append((canon[n:], folded[n:], hint or "tinh"))
        best: dict[int, tuple[float, _Key]] = {}
        for v_canon, v_folded, v_hint in variants:
            for key, score in self._score(v_canon, v_folded):
                score += _hint_bonus(key, self._areas[key.area], v_hint)
                if score > best.get(key.area, (0.0, key))[0]:
                    best[key.area] = (score, key)
        if best and max(s for s, _ in best.values()) >= _EXACT_FLOOR:
            # Something matched exactly: typo guesses would only push real answers off the list.
            best = {i: sk for i, sk in best.items() if sk[0] >= _KEEP_WITH_EXACT}
        elif best:
            # Only guesses: those far behind the best one are noise (a park's typo is not also
            # an old ward that happens to look alike).
            top = max(s for s, _ in best.values())
            best = {i: sk for i, sk in best.items() if sk[0] >= top - _GUESS_SPREAD}
        ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], self._areas[kv[0]].code))
        return [(i, score, key) for i, (score, key) in ranked]

    def _score(self, canon: list[str], folded: list[str]) -> Iterator[tuple[_Key, float]]:
        q = " ".join(folded)
        q_canon = " ".join(canon)
        for key in self._by_folded.get(q, ()):
            yield key, _EXACT[key.kind] + (1.0 if key.canon == q_canon else 0.0)
        if len(q) >= 4:
            start = q + " "
            at = bisect_left(self._sorted, start)
            while at < len(self._sorted) and self._sorted[at].startswith(start):
                for key in self._by_folded[self._sorted[at]]:
                    yield key, _PREFIX_MATCH["name" if key.kind == "name" else "alias"]
                at += 1
            for first in dict.fromkeys(folded):
                for other in self._by_first.get(first, ()):
                    if _contains(folded, other.split()):
                        for key in self._by_folded[other]:
                            yield key, _CONTAINED["name" if key.kind == "name" else "alias"]
        if len(q) >= 3:
            for choice, ratio, _ in process.extract(
                q, self._choices, scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF, limit=None
            ):
                if choice == q:
                    continue
                for key in self._by_folded[choice]:
                    group = "name" if key.kind == "name" else "alias"
                    yield key, ratio * _FUZZY_WEIGHT[group]


def _contains(words: list[str], part: list[str]) -> bool:
    """Whether `part` occurs as consecutive whole words inside a longer `words`."""
    n = len(part)
    if n >= len(words):
        return False
    return any(words[i : i + n] == part for i in range(len(words) - n + 1))


_DISTRICT_SHORT = (
    ("thành phố ", "TP "),
    ("thị xã ", "TX "),
    ("huyện ", "huyện "),
    ("quận ", "quận "),
)


def short_district(name: str) -> str:
    """ "Thành phố Thuỷ Nguyên" → "TP Thủy Nguyên", "Huyện An Lão" → "huyện An Lão": how a
    suggestion names an old district (one tone style, the one content/ uses)."""
    text = new_tone_style(" ".join(name.split()))
    for long, short in _DISTRICT_SHORT:
        if text.lower().startswith(long):
            return short + text[len(long) :]
    return text


def _old_unit_name(name: str) -> str:
    """ "Phường Nguyễn Trãi" → "phường Nguyễn Trãi" (mid-sentence), "Thị trấn X" → "thị trấn X"."""
    text = new_tone_style(" ".join(name.split()))
    words = text.split(" ", 2)
    for n in (2, 1):
        head = " ".join(words[:n]).lower()
        if head in ("thị trấn", "phường", "xã") and len(words) > n:
            return head + " " + " ".join(words[n:])
    return text


def _bare_folded(name: str) -> str:
    folded = _split(name)[1]
    n, _, _ = _strip_prefix(folded)
    return " ".join(folded[n:])


def _label(area: Area, key: _Key) -> str:
    """The unit's name and what tells it apart: the old ward or commune the query named and its
    district, else the old district(s) the unit was formed from."""
    old = key.old
    if old is None and key.kind in ("old", "other"):  # an alias that names an old town, commune
        old = next((u for u in area.old_units if _bare_folded(u.name) == key.folded), None)
    if old is not None:
        return f"{area.name} ({_old_unit_name(old.name)} cũ, {short_district(old.district)})"
    districts = area.old_districts
    if key.kind == "district":
        named = [d for d in districts if key.folded in _fold_name(d)]
        districts = tuple(named) or districts
    if not districts:
        return area.name
    return f"{area.name} ({', '.join(short_district(d) for d in districts)} cũ)"


def _hint_bonus(key: _Key, area: Area, hint: str | None) -> float:
    """Nudge results toward what the type word said: "huyện X" means the old district X, "KCN X"
    means the industrial park, "phường X" means a ward."""
    if hint is None or hint == "tinh":
        return 0.0
    if hint == "kcn":
        return 5.0 if key.kind == "kcn" else -15.0
    if key.kind == "oldunit":
        # "quận An Dương" is the old district, not the old Phường An Dương (now An Biên).
        if hint in _DISTRICT_TYPES:
            return -10.0
        return 3.0 if key.subtype == hint else 0.0
    if hint in UNIT_TYPES:
        return 3.0 if key.kind == "name" and area.type == hint else 0.0
    if hint in _DISTRICT_TYPES:
        if key.kind == "district":
            return 3.0 if key.subtype == hint else 2.0
        return 0.0
    if hint == "town":
        return 3.0 if key.kind == "old" else 0.0
    return 0.0


# --- reading and checking the file -------------------------------------------------------------


@dataclass
class _Parsed:
    areas: list[Area] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)


def _read_text(path: Path) -> tuple[str | None, list[str]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [f"{path}: không đọc được tệp ({exc.strerror or exc})"]
    try:
        # utf-8-sig: a spreadsheet's "CSV UTF-8" export adds a BOM; that is harmless.
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        return None, [
            f"{path}: tệp không phải UTF-8 (byte {exc.start}); "
            "hãy lưu lại với kiểu 'CSV UTF-8' / 'Unicode (UTF-8)'"
        ]


def _parse(path: Path) -> _Parsed:
    """Rows and structural problems (header, codes, types, names, NFC); no reference needed."""
    out = _Parsed()
    text, problems = _read_text(path)
    if text is None:
        out.problems = problems
        return out
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != HEADER:
        out.problems.append(f"dòng 1: tiêu đề phải là {','.join(HEADER)} (đang là {header})")
        return out
    names: dict[str, str] = {}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(HEADER):
            out.problems.append(f"dòng {line}: cần {len(HEADER)} cột, có {len(cells)}")
            continue
        code, name, typ, aliases, body = (c.strip() for c in cells)
        for col, value in zip(HEADER, (code, name, typ, aliases, body), strict=True):
            if not unicodedata.is_normalized("NFC", value):
                out.problems.append(f"dòng {line}: cột {col} không ở dạng Unicode NFC")
        if not _CODE.match(code):
            out.problems.append(f"dòng {line}: mã '{code}' phải gồm đúng 5 chữ số")
        elif code in out.lines:
            out.problems.append(f"dòng {line}: mã {code} bị trùng với dòng {out.lines[code]}")
            continue
        if not name:
            out.problems.append(f"dòng {line}: tên trống (mã {code})")
        elif (other := names.get(_canon_name(name))) is not None:
            out.problems.append(f"dòng {line}: tên '{name}' trùng với mã {other}")
        if typ not in UNIT_TYPES:
            out.problems.append(
                f"dòng {line}: loại '{typ}' không hợp lệ (chỉ dùng: {', '.join(UNIT_TYPES)})"
            )
        elif name and not name.startswith(prefix := _NAME_PREFIX[typ]):
            out.problems.append(f"dòng {line}: tên '{name}' phải bắt đầu bằng '{prefix}'")
        names.setdefault(_canon_name(name), code)
        out.lines[code] = line
        alias_list = tuple(a.strip() for a in aliases.split(";") if a.strip())
        out.areas.append(Area(code, name, typ, alias_list, body))
    return out


def _fold_name(text: str) -> str:
    """Comparison form ignoring diacritics: two spellings of one union body must not differ."""
    return " ".join(_split(text)[1])


def _canon_name(text: str) -> str:
    """Comparison form keeping diacritics: Xã Cẩm Giang and Xã Cẩm Giàng are two units."""
    return " ".join(_split(text)[0])


def _parse_old_units(path: Path, codes: set[str]) -> tuple[dict[str, list[OldUnit]], list[str]]:
    """content/old_units.csv: the old wards and communes per current unit code, and problems."""
    text, problems = _read_text(path)
    if text is None:
        return {}, problems
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != OLD_HEADER:
        return {}, [f"dòng 1: tiêu đề phải là {','.join(OLD_HEADER)} (đang là {header})"]
    out: dict[str, list[OldUnit]] = defaultdict(list)
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(OLD_HEADER):
            problems.append(f"dòng {line}: cần {len(OLD_HEADER)} cột, có {len(cells)}")
            continue
        code, name, district, _merge = (c.strip() for c in cells)
        if any(not unicodedata.is_normalized("NFC", c) for c in cells):
            problems.append(f"dòng {line}: có cột không ở dạng Unicode NFC")
        if code not in codes:
            problems.append(f"dòng {line}: mã {code} không có trong areas.csv")
            continue
        if not district:  # the name may be empty: a whole district became the unit
            problems.append(f"dòng {line}: thiếu quận/huyện cũ (mã {code})")
            continue
        out[code].append(OldUnit(name, district))
    return out, problems


def load_areas(path: Path, old_units: Path | None = None) -> AreaIndex:
    """Load content/areas.csv, with the old wards and communes of content/old_units.csv beside it
    (or ``old_units``) when that file exists; raise AreasFileError (with every problem) rather
    than half-load."""
    path = Path(path)
    parsed = _parse(path)
    if parsed.problems:
        raise AreasFileError(parsed.problems)
    if not parsed.areas:
        raise AreasFileError([f"{path}: không có dòng dữ liệu nào"])
    old_path = Path(old_units) if old_units is not None else path.with_name(OLD_UNITS_FILE)
    areas = parsed.areas
    if old_path.is_file():
        found, problems = _parse_old_units(old_path, {a.code for a in areas})
        if problems:
            raise AreasFileError([f"{old_path.name}: {p}" for p in problems])
        areas = [replace(a, old_units=tuple(found.get(a.code, ()))) for a in areas]
    return AreaIndex(areas)


def _reference_units(path: Path) -> tuple[dict[str, tuple[str, str]], list[str]]:
    text, problems = _read_text(path)
    if text is None:
        return {}, problems
    units = {
        row["code"].strip(): (row["name"].strip(), row["type"].strip())
        for row in csv.DictReader(text.splitlines())
    }
    return units, []


def validate_areas_file(path: Path, units_csv: Path | None = None) -> list[str]:
    """Every problem in the areas file, for `congdoan-bot content check`. With `units_csv` (the
    114 reference units) also missing, extra or renamed units. Empty list means the file is fine."""
    parsed = _parse(Path(path))
    problems = list(parsed.problems)
    if units_csv is not None:
        units, ref_problems = _reference_units(Path(units_csv))
        problems += ref_problems
        if units:
            have = {a.code: a for a in parsed.areas}
            for code, (name, typ) in sorted(units.items()):
                area = have.get(code)
                if area is None:
                    problems.append(f"thiếu đơn vị {code} ({name})")
                    continue
                line = parsed.lines.get(code, "?")
                if unicodedata.normalize("NFC", name) != area.name:
                    problems.append(
                        f"dòng {line}: tên mã {code} là '{area.name}', danh sách gốc ghi '{name}'"
                    )
                if typ != area.type:
                    problems.append(
                        f"dòng {line}: loại mã {code} là '{area.type}', danh sách gốc ghi '{typ}'"
                    )
            for code in sorted(set(have) - set(units)):
                problems.append(
                    f"dòng {parsed.lines.get(code, '?')}: mã {code} không có trong "
                    f"danh sách {len(units)} đơn vị hành chính"
                )
    old_path = Path(path).with_name(OLD_UNITS_FILE)
    if old_path.is_file():
        _, old_problems = _parse_old_units(old_path, {a.code for a in parsed.areas})
        problems += [f"{OLD_UNITS_FILE}: {p}" for p in old_problems]
    spellings: dict[str, set[str]] = defaultdict(set)
    for area in parsed.areas:
        if area.union_body:
            spellings[_fold_name(area.union_body)].add(area.union_body)
    for variants in spellings.values():
        if len(variants) > 1:
            shown = " / ".join(f"'{v}'" for v in sorted(variants))
            problems.append(f"union_body viết khác nhau cho cùng một công đoàn: {shown}")
    return problems


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def default_areas_path() -> Path:
    """content/areas.csv of this checkout."""
    return repo_root() / "content" / "areas.csv"


def reference_units_path() -> Path:
    """../shared/data/haiphong-units.csv (may be absent outside the project machine)."""
    return repo_root() / ".." / "shared" / "data" / "haiphong-units.csv"
