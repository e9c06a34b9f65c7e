"""`congdoan-bot people` and `congdoan-bot export` on a migrated SQLite file and PostgreSQL."""

from __future__ import annotations

import argparse
import asyncio
import csv
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.commands import export as export_cmd
from bot.commands import people as people_cmd
from storage import enterprises as leads_repo
from storage import recruitment as repo
from storage.crypto import DataCipher, new_key
from storage.db import Database
from storage.migrate import upgrade_async
from storage.models import Contact
from storage.people import Person, add_person, areas_of

NOW = datetime(2027, 5, 10, 3, 0, tzinfo=UTC)
LE_CHAN, CAT_HAI = "11383", "11914"


def _parse(module: object, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)  # type: ignore[attr-defined]
    return parser.parse_args(argv)


@pytest.fixture
def key() -> str:
    return new_key()


@pytest.fixture
def env(db_url: str, key: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("CONGDOAN_DATA_KEY", key)
    monkeypatch.setenv("CONGDOAN_CONFIG", str(tmp_path / "absent.toml"))
    return db_url


def _run(module: object, argv: list[str]) -> int:
    """The command's own run(), which migrates first like `congdoan-bot` does; off the loop."""
    return int(module.run(_parse(module, argv)))  # type: ignore[attr-defined]


async def test_people_add_list_and_remove(env: str, key: str, capsys) -> None:
    code = await asyncio.to_thread(
        _run, people_cmd,
        ["add", "--role", "volunteer", "--telegram-id", "123456", "--name", "Nguyễn Thị Hoa",
         "--areas", "phuong le chan; Xã Cát Hải"],
    )  # fmt: skip
    assert code == 0
    assert "Phường Lê Chân; Đặc khu Cát Hải" in capsys.readouterr().out
    db = Database(env)
    async with db.session() as session:
        person = (await session.scalars(select(Person))).one()
        assert (person.role, person.channel, person.external_id) == (
            "volunteer", "telegram", "123456",
        )  # fmt: skip
        assert person.name_enc and "Hoa" not in person.name_enc
        assert DataCipher(key).decrypt(person.name_enc) == "Nguyễn Thị Hoa"
        assert sorted(await areas_of(session, person.id)) == [LE_CHAN, CAT_HAI]
    await db.dispose()

    bad = await asyncio.to_thread(
        _run, people_cmd,
        ["add", "--role", "volunteer", "--telegram-id", "99", "--name", "A",
         "--areas", "Phường Không Có"],
    )  # fmt: skip
    assert bad == 2 and "không tìm thấy" in capsys.readouterr().err

    assert await asyncio.to_thread(_run, people_cmd, ["list", "--role", "volunteer"]) == 0
    out = capsys.readouterr().out
    assert "Nguyễn Thị Hoa" in out and "telegram:123456" in out and "1 người." in out

    args = ["remove", "--role", "volunteer", "--telegram-id", "123456"]
    assert await asyncio.to_thread(_run, people_cmd, args) == 0
    assert await asyncio.to_thread(_run, people_cmd, ["list"]) == 0
    assert "(đã thôi)" in capsys.readouterr().out


async def _seed(url: str, key: str) -> dict[str, int]:
    await upgrade_async(url)
    cipher = DataCipher(key)
    db = Database(url)
    ids: dict[str, int] = {}
    async with db.transaction() as session:
        volunteer = await add_person(
            session, role="volunteer", external_id="9001",
            name_enc=cipher.encrypt("Trần Văn Tình"), area_codes=[LE_CHAN],
        )  # fmt: skip
        worker = Contact()
        session.add(worker)
        await session.flush()
        small = await leads_repo.report_enterprise(
            session, name="Cty Nhỏ", area_code=LE_CHAN, size_band="lt20", union_status="no",
            reporter_contact_id=worker.id, contact_ok=True, source="report", now=NOW,
            contact_enc=cipher.encrypt("+84912345678"),
        )  # fmt: skip
        big = await leads_repo.report_enterprise(
            session, name="Công ty TNHH Lớn", area_code=CAT_HAI, size_band="500plus",
            union_status="unknown", reporter_contact_id=None, contact_ok=False, source="join",
            now=NOW, tax_code="0201234567", industrial_park="KCN Nam Đình Vũ",
        )  # fmt: skip
        assert await leads_repo.claim_lead(session, big.id, volunteer.id, NOW)
        collaborator = await add_person(
            session, role="collaborator", external_id="2001",
            name_enc=cipher.encrypt("Phạm Cộng Tác"),
        )  # fmt: skip
        campaign = await repo.save_campaign(
            session, code="T5-2027", name="Tháng Công nhân 2027",
            starts_on=date(2027, 5, 1), ends_on=date(2027, 5, 31),
        )  # fmt: skip
        code = await repo.code_for(session, collaborator.id, "join", NOW)
        await repo.attribute(
            session, contact_id=worker.id, code=code, channel="zalo", now=NOW,
            campaign_id=campaign.id,
        )  # fmt: skip
        await leads_repo.report_enterprise(
            session, name="Cty Thứ Ba", area_code=LE_CHAN, size_band="20_24",
            union_status="no", reporter_contact_id=None, contact_ok=False, source="report",
            now=NOW, credit=await repo.credit_of(session, worker.id),
        )  # fmt: skip
        ids.update(small=small.id, big=big.id)
    await db.dispose()
    return ids


async def test_export_leads_as_csv_and_xlsx(env: str, key: str, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    ids = await _seed(env, key)
    out_csv = tmp_path / "leads.csv"
    assert await asyncio.to_thread(_run, export_cmd, ["leads", "--out", str(out_csv)]) == 0
    raw = out_csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM for Excel
    rows = list(csv.reader(out_csv.read_text("utf-8-sig").splitlines()))
    assert tuple(rows[0]) == export_cmd.LEAD_HEADER
    by_name = {r[1]: r for r in rows[1:]}
    assert [r[1] for r in rows[1:]] == ["Công ty TNHH Lớn", "Cty Thứ Ba", "Cty Nhỏ"]
    big = by_name["Công ty TNHH Lớn"]
    assert big[0] == str(ids["big"])
    assert big[2:5] == ["0201234567", CAT_HAI, "Đặc khu Cát Hải"]
    assert big[6:13] == [
        "KCN Nam Đình Vũ", "Từ 500 người trở lên", "25+ lao động (mục tiêu 2028)", "1", "0",
        "đã có tình nguyện viên nhận", "Trần Văn Tình",
    ]  # fmt: skip
    assert by_name["Cty Nhỏ"][10] == "1"  # one reporter allows contact: a count, no identity
    assert "912" not in out_csv.read_text("utf-8-sig")

    out_xlsx = tmp_path / "leads.xlsx"
    args = ["leads", "--format", "xlsx", "--out", str(out_xlsx)]
    assert await asyncio.to_thread(_run, export_cmd, args) == 0
    sheet = load_workbook(out_xlsx).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert tuple(values[0]) == export_cmd.LEAD_HEADER
    assert [v[1] for v in values[1:]] == ["Công ty TNHH Lớn", "Cty Thứ Ba", "Cty Nhỏ"]


async def test_export_leaderboard(env: str, key: str, tmp_path: Path, capsys) -> None:
    from openpyxl import load_workbook

    await _seed(env, key)
    out = tmp_path / "bxh.xlsx"
    args = ["leaderboard", "--campaign", "t5-2027", "--out", str(out)]
    assert await asyncio.to_thread(_run, export_cmd, args) == 0
    values = [[c.value for c in row] for row in load_workbook(out).active.iter_rows()]
    assert tuple(values[0]) == export_cmd.BOARD_HEADER
    assert values[1][:7] == [1, "Phạm Cộng Tác", "collaborator", 0, 0, 1, "T5-2027"]
    missing = ["leaderboard", "--campaign", "NOPE", "--out", str(tmp_path / "x.csv")]
    assert await asyncio.to_thread(_run, export_cmd, missing) == 1
    assert "--campaign" in capsys.readouterr().err
    wrong = ["leads", "--out", str(tmp_path / "x.pdf")]
    assert await asyncio.to_thread(_run, export_cmd, wrong) == 2


# -- issue #12 point 15: Zalo ids, area names that mean more than one unit, replaced areas ------


async def test_people_add_takes_a_zalo_id(env: str, capsys) -> None:
    argv = ["add", "--role", "volunteer", "--zalo-id", "8112233445566", "--name", "Lê Văn Tú",
            "--areas", "Phường Lê Chân"]  # fmt: skip
    assert await asyncio.to_thread(_run, people_cmd, argv) == 0
    assert "Zalo 8112233445566" in capsys.readouterr().out
    db = Database(env)
    async with db.session() as session:
        person = (await session.scalars(select(Person))).one()
    await db.dispose()
    assert (person.channel, person.external_id) == ("zalo_bot", "8112233445566")
    both = ["add", "--role", "volunteer", "--zalo-id", "1", "--telegram-id", "2", "--name", "A"]
    with pytest.raises(SystemExit):
        _parse(people_cmd, both)  # one account per line: argparse refuses both
    argv = ["remove", "--role", "volunteer", "--zalo-id", "8112233445566"]
    assert await asyncio.to_thread(_run, people_cmd, argv) == 0
    assert "Zalo 8112233445566" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("areas", "says"),
    [
        ("huyện Thủy Nguyên", "là quận/huyện cũ, nay gồm 8 đơn vị"),
        ("cam giang", "Xã Cẩm Giang (huyện Cẩm Giàng cũ); Xã Cẩm Giàng"),
        ("Cầu Đất", "khớp 2 đơn vị"),  # the old Phường Cầu Đất was split between two units
    ],
)
async def test_people_add_refuses_a_name_that_means_several_units(
    env: str, capsys, areas: str, says: str
) -> None:
    argv = ["add", "--role", "volunteer", "--telegram-id", "555", "--name", "A B",
            "--areas", areas]  # fmt: skip
    assert await asyncio.to_thread(_run, people_cmd, argv) == 2
    err = capsys.readouterr().err
    assert says in err, err
    db = Database(env)
    async with db.session() as session:
        assert list(await session.scalars(select(Person))) == []  # nothing saved
    await db.dispose()


async def test_people_add_warns_about_namesakes_and_says_when_areas_are_replaced(
    env: str, capsys
) -> None:
    argv = ["add", "--role", "volunteer", "--telegram-id", "777", "--name", "Vũ Thị Mai",
            "--areas", "An Dương"]  # fmt: skip
    assert await asyncio.to_thread(_run, people_cmd, argv) == 0
    captured = capsys.readouterr()
    assert "Đã đăng ký" in captured.out and "Phường An Dương" in captured.out
    assert "lưu ý: 'An Dương' cũng là tên cũ" in captured.err
    assert "Phường An Phong (quận An Dương cũ)" in captured.err  # the old district's units
    assert "Phường An Biên (phường An Dương cũ, quận Lê Chân)" in captured.err

    argv[-1] = "Nguyễn Trãi"  # Chí Linh's, and the old ward now in Thành Đông
    assert await asyncio.to_thread(_run, people_cmd, argv) == 0
    captured = capsys.readouterr()
    assert "Đã cập nhật" in captured.out and "khu vực: Phường Nguyễn Trãi" in captured.out
    assert "Phường Thành Đông (phường Nguyễn Trãi cũ, TP Hải Dương)" in captured.err
    assert "Khu vực trước đây (Phường An Dương) đã được thay" in captured.out

    argv[-1] = "Cẩm Thượng"  # an old ward's name that means one unit today: accepted, said
    assert await asyncio.to_thread(_run, people_cmd, argv) == 0
    captured = capsys.readouterr()
    assert "khu vực: Phường Thành Đông" in captured.out and "là tên cũ" in captured.err

    argv[-2:] = []  # no --areas: the areas stay, and it says so
    assert await asyncio.to_thread(_run, people_cmd, argv) == 0
    assert "giữ nguyên khu vực cũ: Phường Thành Đông" in capsys.readouterr().out

    argv += ["--areas", "Phường Lê Chân"]  # a full unit name: no note about quận Lê Chân
    assert await asyncio.to_thread(_run, people_cmd, argv) == 0
    assert "lưu ý" not in capsys.readouterr().err


async def test_readme_leaderboard_export_works_with_no_campaign_running(
    env: str, key: str, tmp_path: Path, capsys
) -> None:
    await _seed(env, key)  # the only campaign ran in May 2027; today is not in it
    out = tmp_path / "bang-xep-hang.csv"
    argv = ["leaderboard", "--format", "csv", "--out", str(out)]  # exactly as in the README
    assert await asyncio.to_thread(_run, export_cmd, argv) == 0
    err = capsys.readouterr().err
    assert "mọi lời mời" in err and "--campaign <mã> (T5-2027)" in err
    rows = list(csv.reader(out.read_text("utf-8-sig").splitlines()))
    assert tuple(rows[0]) == export_cmd.BOARD_HEADER
    assert rows[1][:6] == ["1", "Phạm Cộng Tác", "collaborator", "0", "0", "1"]
    assert rows[1][6] == "tất cả"
