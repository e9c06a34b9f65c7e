"""The area search as a worker meets it in the join and lead forms, and the areas file check.

The reference list of the 114 units lives outside the repository (../shared/data); the tests that
need it skip with a message when it is absent. content/areas.csv itself is in the repository.
"""

from __future__ import annotations

import csv
import time
import unicodedata
from pathlib import Path

import pytest

from bot.core.areas import (
    DEFAULT_UNION_BODY,
    Area,
    AreaIndex,
    AreasFileError,
    load_areas,
    short_district,
    validate_areas_file,
)
from bot.core.textnorm import fold

REPO = Path(__file__).resolve().parents[1]
AREAS_CSV = REPO / "content" / "areas.csv"
UNITS_CSV = REPO / ".." / "shared" / "data" / "haiphong-units.csv"

# Units per pre-07/2025 district, from the official conversion table (see content/README.md).
AN_DUONG = {"11581", "11593", "11602", "11617"}
THUY_NGUYEN = {"11473", "11488", "11503", "11506", "11533", "11542", "11557", "11560"}
TP_HAI_DUONG = {"10507", "10525", "10532", "10537", "10543", "10660", "10837", "10891", "11002"}
LE_CHAN = {"11383", "11407"}
KIEN_THUY = {"11680", "11713", "11725", "11728", "11749"}
VINH_BAO = {"11824", "11836", "11842", "11848", "11875", "11887", "11911"}
CHI_LINH = {"10546", "10549", "10552", "10570", "10573", "10603"}


@pytest.fixture(scope="module")
def units() -> list[dict[str, str]]:
    if not UNITS_CSV.is_file():
        pytest.skip(f"reference list not found at {UNITS_CSV.resolve()} (../shared/data)")
    with UNITS_CSV.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def index() -> AreaIndex:
    return load_areas(AREAS_CSV)


def codes(areas: list[Area]) -> list[str]:
    return [a.code for a in areas]


# --- the file -----------------------------------------------------------------------------------


def test_areas_file_matches_the_114_reference_units(units: list[dict[str, str]]) -> None:
    assert len(units) == 114
    assert validate_areas_file(AREAS_CSV, UNITS_CSV) == []


def test_areas_file_is_utf8_nfc_with_lf_line_endings() -> None:
    raw = AREAS_CSV.read_bytes()
    text = raw.decode("utf-8")
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert b"\r" not in raw
    assert unicodedata.is_normalized("NFC", text)
    assert text.splitlines()[0] == "code,name,type,aliases,union_body"


# --- every unit by its own name -----------------------------------------------------------------


def test_every_reference_unit_is_found_by_its_own_name(
    index: AreaIndex, units: list[dict[str, str]]
) -> None:
    folded_names: dict[str, int] = {}
    for u in units:
        key = fold(u["name"])
        folded_names[key] = folded_names.get(key, 0) + 1
    failures = []
    for u in units:
        code, name = u["code"], u["name"]
        area = index.by_code(code)
        assert area is not None, f"{code} {name} missing from content/areas.csv"
        bare = area.bare_name
        for query in (name, bare):
            if codes(index.search(query))[:1] != [code]:
                failures.append(f"{query!r} -> {codes(index.search(query))}")
        for query in (fold(name), fold(bare)):
            found = index.search(query)
            # Without diacritics "Cẩm Giang" and "Cẩm Giàng" read the same: both must come first.
            top = [a for a in found if fold(a.bare_name) == fold(bare)]
            if area not in top or found[: len(top)] != top:
                failures.append(f"{query!r} -> {codes(found)}")
        if index.by_name(name) != area:
            failures.append(f"by_name({name!r})")
        ambiguous = folded_names[fold(name)] > 1
        if index.by_name(fold(name)) != (None if ambiguous else area):
            failures.append(f"by_name({fold(name)!r})")
    assert failures == []


def test_diacritics_decide_between_units_that_fold_alike(index: AreaIndex) -> None:
    assert codes(index.search("Xã Cẩm Giàng"))[0] == "10903"
    assert codes(index.search("Cẩm Giang"))[0] == "10888"
    assert set(codes(index.search("cam giang"))[:2]) == {"10888", "10903"}
    assert index.by_name("xa cam giang") is None  # ambiguous: the form asks again, no guessing


# --- type words, abbreviations ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("le chan", "11383"),
        ("Lê Chân", "11383"),
        ("phuong le chan", "11383"),
        ("Phường Lê Chân", "11383"),
        ("P. Lê Chân", "11383"),
        ("p.le chan", "11383"),
        ("LÊ CHÂN", "11383"),
        ("Lê Chân, Hải Phòng", "11383"),
        ("xa cat hai", "11914"),
        ("dac khu cat hai", "11914"),
        ("Bạch Long Vĩ", "11948"),
        ("tp hai duong", "10525"),
        ("x. an lao", "11629"),
        ("Hải An", "11413"),
        ("nguyen binh", "11911"),
        ("11383", "11383"),
    ],
)
def test_type_words_and_abbreviations(index: AreaIndex, query: str, first: str) -> None:
    assert codes(index.search(query))[:1] == [first]


@pytest.mark.parametrize("query", ["TT", "tp", "Xã", "P.", "kcn", "huyện"])
def test_a_type_word_alone_finds_nothing(index: AreaIndex, query: str) -> None:
    assert index.search(query) == []


# --- old districts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected", "first"),
    [
        # The old Phường An Dương of quận Lê Chân is Phường An Biên now: offered too, labelled.
        ("An Dương", AN_DUONG | {"11407"}, "11581"),
        ("huyen an duong", AN_DUONG, "11581"),
        ("quận An Dương", AN_DUONG, "11581"),
        ("Thủy Nguyên", THUY_NGUYEN, "11560"),
        ("Thuỷ Nguyên", THUY_NGUYEN, "11560"),
        ("thuy nguyen", THUY_NGUYEN, "11560"),
        ("Hải Dương", TP_HAI_DUONG, "10525"),
        ("quận Lê Chân", LE_CHAN, "11383"),
        ("huyện Kiến Thuỵ", KIEN_THUY, "11680"),
        ("vinh bao", VINH_BAO, "11824"),
    ],
)
def test_old_district_names_give_the_units_of_that_district(
    index: AreaIndex, query: str, expected: set[str], first: str
) -> None:
    found = index.search(query, limit=30)
    assert set(codes(found)) == expected
    assert found[0].code == first  # the unit that carries the name itself comes first


def test_old_district_lists_more_units_than_fit_stay_within_the_district(index: AreaIndex) -> None:
    found = index.search("Thủy Nguyên")
    assert len(found) == 5
    assert found[0].name == "Phường Thủy Nguyên"
    assert set(codes(found)) <= THUY_NGUYEN
    assert CHI_LINH <= set(codes(index.search("thanh pho chi linh", limit=30)))


@pytest.mark.parametrize("query", ["Thuy Nguyen", "Thủy Nguyên", "huyen thuy nguyen"])
def test_suggestions_for_an_old_district_offer_all_its_units(index: AreaIndex, query: str) -> None:
    found = index.suggest(query)
    assert {s.area.code for s in found} == THUY_NGUYEN  # all 8, not the first 5
    assert all(s.label.endswith("(TP Thủy Nguyên cũ)") for s in found), [s.label for s in found]
    assert {s.area.code for s in index.suggest("thanh pho hai duong")} == TP_HAI_DUONG  # 9


# --- old wards and communes (content/old_units.csv) ---------------------------------------------

OLD_UNITS_CSV = REPO / ".." / "shared" / "data" / "haiphong-old-units.csv"


@pytest.fixture(scope="module")
def old_units() -> list[dict[str, str]]:
    if not OLD_UNITS_CSV.is_file():
        pytest.skip(f"conversion table not found at {OLD_UNITS_CSV.resolve()} (../shared/data)")
    with OLD_UNITS_CSV.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_old_units_file_is_the_official_conversion_table(old_units: list[dict[str, str]]) -> None:
    with (REPO / "content" / "old_units.csv").open(encoding="utf-8", newline="") as f:
        ours = [(r["code"], r["old_name"], r["old_district"]) for r in csv.DictReader(f)]
    assert ours == [(r["new_code"], r["old_name"], r["old_district"]) for r in old_units]
    assert len(ours) == 451


def test_every_pre_merger_ward_and_commune_is_found_with_its_old_district(
    index: AreaIndex, old_units: list[dict[str, str]]
) -> None:
    failures = []
    for row in old_units:
        if not row["old_name"]:
            continue  # Bạch Long Vĩ: the whole district became the đặc khu
        found = {s.area.code: s.label for s in index.suggest(row["old_name"], limit=30)}
        label = found.get(row["new_code"])
        if label is None:
            failures.append(f"{row['old_name']} ({row['old_district']}) -> {sorted(found)}")
            continue
        district = short_district(row["old_district"])
        if district not in label:
            failures.append(f"{row['old_name']}: {label!r} does not say {district!r}")
    assert failures == []


def test_a_ward_now_part_of_another_unit_is_not_mistaken_for_its_namesake(
    index: AreaIndex,
) -> None:
    found = index.suggest("phường Nguyễn Trãi")
    assert [(s.area.code, s.label) for s in found] == [
        ("10552", "Phường Nguyễn Trãi (TP Chí Linh cũ)"),
        ("10507", "Phường Thành Đông (phường Nguyễn Trãi cũ, TP Hải Dương)"),
    ]
    labels = [s.label for s in index.suggest("Tran Hung Dao")]
    assert "Phường Hải Dương (phường Trần Hưng Đạo cũ, TP Hải Dương)" in labels
    assert "Phường Lưu Kiếm (phường Trần Hưng Đạo cũ, TP Thủy Nguyên)" in labels
    assert [s.area.code for s in index.suggest("Cẩm Thượng")] == ["10507"]
    # Naming the old district keeps the old ward of the same name out.
    assert "11407" not in codes(index.search("quận An Dương", limit=30))


def test_old_units_file_problems_are_reported(tmp_path: Path) -> None:
    path = save(tmp_path / "areas.csv", real_rows())
    (tmp_path / "old_units.csv").write_text(
        "code,old_name,old_district,merge\n99999,Xã Cũ,Huyện Cũ,Nhập toàn bộ\n", encoding="utf-8"
    )
    assert any("99999" in p and "old_units.csv" in p for p in validate_areas_file(path))
    with pytest.raises(AreasFileError):
        load_areas(path)


# --- industrial parks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("KCN Đại An", {"10891", "10543"}),
        ("khu cong nghiep dai an", {"10891", "10543"}),
        ("kcn dai an", {"10891", "10543"}),
        ("Khu CN Đại An", {"10891", "10543"}),
        ("em làm ở KCN Đại An", {"10891", "10543"}),
        ("KCN Phú Thái", {"10750"}),
        ("KCN Tân Trường", {"10930"}),
        ("KCN Lai Vu", {"10756"}),
        ("KCN Đình Vũ", {"11411"}),
        ("VSIP", {"11542", "11473"}),
        ("Nomura", {"11602", "11581"}),
    ],
)
def test_industrial_parks_give_the_units_they_lie_in(
    index: AreaIndex, query: str, expected: set[str]
) -> None:
    assert set(codes(index.search(query))) == expected


def test_kcn_word_prefers_the_park_over_a_unit_of_the_same_name(index: AreaIndex) -> None:
    # KCN Nam Sách lies in Phường Ái Quốc, not in Xã Nam Sách.
    assert codes(index.search("KCN Nam Sách"))[0] == "10660"
    assert codes(index.search("Nam Sách"))[0] == "10606"


# --- typos --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("le chann", "11383"),
        ("lechan", "11383"),
        ("thuy nguyn", "11560"),
        ("ngo quen", "11329"),
        ("kien thuyy", "11680"),
        ("cat hia", "11914"),
        ("haiduong", "10525"),
        ("phuong ngo quyenn", "11329"),
    ],
)
def test_small_typos(index: AreaIndex, query: str, first: str) -> None:
    assert codes(index.search(query))[:1] == [first]


def test_typo_in_a_park_name(index: AreaIndex) -> None:
    assert set(codes(index.search("KCN Dai Ann"))) == {"10891", "10543"}


def test_an_exact_match_is_not_crowded_by_typo_guesses(index: AreaIndex) -> None:
    assert codes(index.search("Vĩnh Hải")) == ["11875"]


# --- input that is not an area ------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "!!!???",
        "😀🏭👷",
        "\x00\x01",
        "漢字",
        "Hà Nội",
        "a" * 5000,
        ("Lê Chân " * 700)[:5000],
        "😀" * 5000,
    ],
)
def test_non_areas_give_nothing_quickly(index: AreaIndex, query: str) -> None:
    start = time.perf_counter()
    assert index.search(query) == []
    assert time.perf_counter() - start < 0.2


def test_limit_is_respected(index: AreaIndex) -> None:
    assert len(index.search("Thủy Nguyên", limit=3)) == 3
    assert index.search("Lê Chân", limit=0) == []


def test_search_is_fast_enough_for_a_form(index: AreaIndex) -> None:
    queries = ["le chan", "KCN Đại An", "huyen an duong", "thuy nguyn", "cat hia"] * 40
    start = time.perf_counter()
    for q in queries:
        index.search(q)
    per_query = (time.perf_counter() - start) / len(queries)
    assert per_query < 0.01


# --- lookups and union bodies -------------------------------------------------------------------


def test_lookups(index: AreaIndex) -> None:
    assert index.by_code("11383").name == "Phường Lê Chân"
    assert index.by_code(11914).name == "Đặc khu Cát Hải"
    assert index.by_code("00000") is None
    assert index.by_name("Xã Cát Hải").code == "11914"  # as staff type it in `people add`
    assert index.by_name("quận Lê Chân") is None  # an old district is not a unit
    assert index.by_name("Kiến Thuỵ").code == "11680"  # old tone placement
    assert len(index.all()) == 114
    assert codes(index.all()) == sorted(codes(index.all()))


def test_union_body_falls_back_to_the_city_federation() -> None:
    assert Area("1", "Phường A", "phường").union_body_or_default == DEFAULT_UNION_BODY
    assert DEFAULT_UNION_BODY == "Liên đoàn Lao động thành phố Hải Phòng"
    set_body = Area("1", "Phường A", "phường", (), "Công đoàn phường A")
    assert set_body.union_body_or_default == "Công đoàn phường A"


def write_csv(path: Path, rows: list[list[str]], header: str = "code,name,type,aliases,union_body"):
    lines = [header] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")
    return path


def test_by_union_body_groups_areas_and_the_default_takes_the_rest(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "areas.csv",
        [
            ["10001", "Phường Một", "phường", "", "Công đoàn phường Một"],
            ["10002", "Xã Hai", "xã", "", "Công đoàn phường Một"],
            ["10003", "Xã Ba", "xã", "huyện Cũ", ""],
        ],
    )
    idx = load_areas(path)
    assert codes(idx.by_union_body("cong doan phuong mot")) == ["10001", "10002"]
    assert codes(idx.by_union_body(DEFAULT_UNION_BODY)) == ["10003"]
    assert codes(idx.search("huyen cu")) == ["10003"]


# --- the check finds injected problems ----------------------------------------------------------


def real_rows() -> list[list[str]]:
    with AREAS_CSV.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))[1:]


def save(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(
            [["code", "name", "type", "aliases", "union_body"], *rows]
        )
    return path


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        (lambda rows: rows.append(list(rows[0])), "10507 bị trùng"),
        (lambda rows: rows.pop(3), "thiếu đơn vị 10537"),
        (lambda rows: rows.append(["99999", "Xã Mới", "xã", "", ""]), "mã 99999 không có"),
        (lambda rows: rows[5].__setitem__(1, unicodedata.normalize("NFD", rows[5][1])), "NFC"),
        (lambda rows: rows[5].__setitem__(2, "quận"), "loại 'quận' không hợp lệ"),
        (lambda rows: rows[5].__setitem__(1, ""), "tên trống"),
        (lambda rows: rows[5].__setitem__(0, "1234"), "5 chữ số"),
        # rows[5] is Phường Chí Linh; give its name to the next row too
        (lambda rows: rows[6].__setitem__(1, "Phường Chí Linh"), "trùng với mã 10546"),
        (lambda rows: rows[5].__setitem__(1, "Chí Linh"), "phải bắt đầu bằng 'Phường '"),
        (lambda rows: rows[5].__setitem__(1, "Phường Chí Linh Mới"), "danh sách gốc ghi"),
        (lambda rows: rows[5].__setitem__(3, unicodedata.normalize("NFD", "quận Lê Chân")), "NFC"),
        (
            lambda rows: (
                rows[0].__setitem__(4, "Công đoàn phường Thành Đông"),
                rows[1].__setitem__(4, "Cong doan phuong Thanh Dong"),
            ),
            "viết khác nhau",
        ),
    ],
)
def test_validate_reports_an_injected_problem(
    tmp_path: Path, units: list[dict[str, str]], change, expect: str
) -> None:
    rows = real_rows()
    change(rows)
    problems = validate_areas_file(save(tmp_path / "areas.csv", rows), UNITS_CSV)
    assert any(expect in p for p in problems), problems


def test_validate_reports_bad_header_and_bad_encoding(tmp_path: Path) -> None:
    bad_header = write_csv(tmp_path / "h.csv", [["10001", "Xã A", "xã", "", ""]], "ma,ten,loai")
    assert any("tiêu đề" in p for p in validate_areas_file(bad_header))
    legacy = tmp_path / "legacy.csv"
    legacy.write_bytes("code,name,type,aliases,union_body\n10001,Xã Hà,xã,,\n".encode("latin-1"))
    assert any("UTF-8" in p for p in validate_areas_file(legacy))
    assert any("không đọc được" in p for p in validate_areas_file(tmp_path / "missing.csv"))


def test_load_refuses_a_broken_file_instead_of_half_loading(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "areas.csv",
        [["10001", "Xã A", "xã", "", ""], ["10001", "Xã B", "xã", "", ""]],
    )
    with pytest.raises(AreasFileError) as err:
        load_areas(path)
    assert any("10001 bị trùng" in p for p in err.value.problems)


def test_a_spreadsheet_export_with_bom_and_crlf_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "areas.csv"
    path.write_bytes(
        "\ufeffcode,name,type,aliases,union_body\r\n10001,Phường Một,phường,quận Cũ,\r\n".encode()
    )
    assert validate_areas_file(path) == []
    assert codes(load_areas(path).search("quan cu")) == ["10001"]
