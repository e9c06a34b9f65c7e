"""Enterprise de-duplication, report counts and the lead queue, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from storage import enterprises as repo
from storage.db import Database
from storage.enterprises import Enterprise, Lead, LeadReport, LeadStatusChange
from storage.migrate import upgrade_async
from storage.models import Contact
from storage.people import add_person
from storage.recruitment import credit_of

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
LE_CHAN, AN_BIEN = "11383", "11407"


async def _db(url: str) -> Database:
    await upgrade_async(url)
    return Database(url)


async def _report(session, name: str, area: str | None = LE_CHAN, **kw) -> Lead:  # type: ignore[no-untyped-def]
    values = {
        "size_band": "25_99",
        "union_status": "no",
        "reporter_contact_id": None,
        "contact_ok": False,
        "source": "report",
        "now": NOW,
    }
    values.update(kw)
    return await repo.report_enterprise(session, name=name, area_code=area, **values)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Công ty TNHH May Mặc Hải Phòng", "Cty TNHH may mac Hai Phong"),
        ("Công ty TNHH May Mặc Hải Phòng", "CT TNHH May Mặc Hải Phòng"),
        ("Công ty Cổ phần Thép Hòa Bình", "cty cp thep hoa binh"),
        ("Công ty Cổ phần Thép Hoà Bình", "CÔNG TY CỔ PHẦN THÉP HÒA BÌNH"),
        ("Công ty TNHH Điện tử Minh Anh", "cong ty tnhh dien tu minhanh"),
        ("Công ty TNHH Điện tử Minh Anh", "Điện Tử  Minh-Anh Co., Ltd"),
        ("Công ty TNHH MTV Giày Da Việt Nam", "cty giay da VN"),
        ("Công ty TNHH Dệt Kim Phương Đông", "Cty TNHH Det Kim Phuong Dong."),
        # A near miss (a typo) in the same area is the same enterprise.
        ("Công ty TNHH Bao Bì Thành Công", "Cty TNHH Bao Bi Thanh Cong Hai"),
    ],
)
def test_names_that_mean_the_same_enterprise(first: str, second: str) -> None:
    key_a, key_b = repo.normalise_name(first), repo.normalise_name(second)
    if key_a != key_b:
        from rapidfuzz import fuzz

        assert fuzz.ratio(key_a, key_b) >= repo.FUZZY_MIN_SCORE, (key_a, key_b)


def test_legal_form_words_inside_a_name_are_kept() -> None:
    assert repo.normalise_name("CP Foods") == "cpfoods"
    assert repo.normalise_name("Công ty CP CP Foods") == "cpfoods"
    assert repo.normalise_name("Công ty TNHH") == "congtytnhh"  # nothing but the form: keep it


def test_tax_codes() -> None:
    assert repo.normalise_tax_code("0201234567") == "0201234567"
    assert repo.normalise_tax_code("0201234567-001") == "0201234567001"
    assert repo.normalise_tax_code(" 0201 234 567 ") == "0201234567"
    for bad in ("12345", "02012345678", "abcdefghij", "", None):
        assert repo.normalise_tax_code(bad) is None


async def test_same_enterprise_reported_three_ways_is_one_with_three_reports(
    db_url: str,
) -> None:
    db = await _db(db_url)
    async with db.transaction() as session:
        a = await _report(session, "Công ty TNHH May Mặc Hải Phòng")
        b = await _report(session, "Cty TNHH may mac Hai Phong", size_band="unknown")
        c = await _report(session, "CT TNHH  MayMặc   Hải-Phòng")
        # The same name in another area is another enterprise (a second factory).
        other = await _report(session, "Công ty TNHH May Mặc Hải Phòng", area=AN_BIEN)
    async with db.session() as session:
        assert a.id == b.id == c.id != other.id
        ent = await session.get(Enterprise, a.enterprise_id)
        assert ent is not None
        assert (ent.report_count, ent.size_band, ent.name) == (
            3, "25_99", "Công ty TNHH May Mặc Hải Phòng",
        )  # fmt: skip
        lead = await session.get(Lead, a.id)
        assert lead is not None and lead.report_count == 3
        assert await session.scalar(select(func.count()).select_from(LeadReport)) == 4
        assert await session.scalar(select(func.count()).select_from(Enterprise)) == 2
    await db.dispose()


async def test_the_tax_code_decides(db_url: str) -> None:
    db = await _db(db_url)
    async with db.transaction() as session:
        first = await _report(session, "Công ty TNHH ABC Việt Nam", tax_code="0201234567")
        # Same tax code, a different name (the trading name): the same enterprise.
        by_tax = await _report(session, "Nhà máy Ánh Dương", tax_code="0201234567")
        # Same name, a different tax code: another enterprise.
        other = await _report(session, "Công ty TNHH ABC Việt Nam", tax_code="0209999999")
        # A branch (13 digits) is its own workplace.
        branch = await _report(session, "Cty TNHH ABC VN", tax_code="0201234567-001")
        # No tax code: the name in the area finds the first one.
        by_name = await _report(session, "cty tnhh abc viet nam")
        # A name reported without a tax code learns it from a later report.
        plain = await _report(session, "Công ty TNHH Gỗ Sao Mai")
        learns = await _report(session, "Cty TNHH go sao mai", tax_code="0301112223")
    assert first.id == by_tax.id == by_name.id
    assert len({first.id, other.id, branch.id}) == 3
    assert plain.id == learns.id
    async with db.session() as session:
        ent = await session.get(Enterprise, plain.enterprise_id)
        assert ent is not None and ent.tax_code == "0301112223"
    await db.dispose()


async def test_numbered_factories_stay_apart(db_url: str) -> None:
    db = await _db(db_url)
    async with db.transaction() as session:
        one = await _report(session, "Công ty TNHH May Hải Phòng 1")
        two = await _report(session, "Công ty TNHH May Hải Phòng 2")
    assert one.id != two.id
    await db.dispose()


async def test_union_recorded_and_founded(db_url: str) -> None:
    db = await _db(db_url)
    async with db.transaction() as session:
        assert not await repo.union_recorded(session, "Cty May ABC", LE_CHAN)
        lead = await _report(session, "Công ty TNHH May ABC")
        assert not await repo.union_recorded(session, "cty tnhh may abc", LE_CHAN)
        person = await add_person(session, role="volunteer", external_id="501")
        assert await repo.claim_lead(session, lead.id, person.id, NOW)
        await session.refresh(lead)
        await repo.record_progress(
            session, lead, person_id=person.id, to_status="founded", now=NOW, note_enc=None
        )
        assert await repo.union_recorded(session, name="CT TNHH May ABC", area_code=LE_CHAN)
        history = [c.to_status for c in await repo.history_of(session, lead.id)]
        assert history == ["new", "claimed", "founded"]
    await db.dispose()


async def test_claim_is_first_come_and_release_reopens(db_url: str) -> None:
    db = await _db(db_url)
    async with db.transaction() as session:
        lead = await _report(session, "Công ty TNHH Sao Vàng")
        a = await add_person(session, role="volunteer", external_id="601")
        b = await add_person(session, role="volunteer", external_id="602")
        assert await repo.claim_lead(session, lead.id, a.id, NOW)
        assert not await repo.claim_lead(session, lead.id, b.id, NOW)
        await session.refresh(lead)
        later = NOW + timedelta(days=3)
        await repo.release_lead(session, lead, person_id=a.id, now=later)
        assert (lead.status, lead.claimed_by, lead.opened_at) == ("new", None, later)
        assert await repo.released_by(session, lead.id) == {a.id}
        assert await repo.claim_lead(session, lead.id, b.id, later)
    await db.dispose()


async def test_queue_ranks_25_plus_then_20_plus_then_reports_within_areas(db_url: str) -> None:
    db = await _db(db_url)
    async with db.transaction() as session:
        small = await _report(session, "Cty Nhỏ Một", size_band="lt20")
        for _ in range(5):  # many reports do not lift a small company above the goals
            await _report(session, "Cty Nhỏ Một", size_band="lt20")
        mid = await _report(session, "Cty Vừa Hai Mươi", size_band="20_24")
        big_once = await _report(session, "Cty Lớn Một Lượt", size_band="100_499")
        big_twice = await _report(session, "Cty Lớn Hai Lượt", size_band="25_99")
        await _report(session, "Cty Lớn Hai Lượt", size_band="25_99")
        unknown = await _report(session, "Cty Không Rõ", size_band="unknown")
        elsewhere = await _report(session, "Cty Nơi Khác", area=AN_BIEN, size_band="500plus")
        views, total = await repo.open_leads(session, [LE_CHAN])
        assert total == 5
        assert [v.lead.id for v in views] == [
            big_twice.id, big_once.id, mid.id, unknown.id, small.id,
        ]  # fmt: skip
        assert elsewhere.id not in {v.lead.id for v in views}
        assert await repo.get_lead(session, elsewhere.id, [LE_CHAN]) is None
        assert await repo.get_lead(session, elsewhere.id, None) is not None
        assert await repo.open_leads(session, []) == ([], 0)
        all_views, all_total = await repo.open_leads(session, None, limit=2, offset=0)
        # Staff see every area; equal tier and reports: the bigger band first.
        assert all_total == 6
        assert [v.lead.id for v in all_views] == [big_twice.id, elsewhere.id]
    await db.dispose()


async def test_anonymous_report_stores_no_reporter_and_forget_erases_the_link(
    db_url: str,
) -> None:
    db = await _db(db_url)
    async with db.transaction() as session:
        worker = Contact()
        session.add(worker)
        await session.flush()
        anon = await _report(
            session, "Công ty TNHH Kín Đáo", credit=await credit_of(session, worker.id)
        )
        named = await _report(
            session, "Công ty TNHH Mở Lời", reporter_contact_id=worker.id, contact_ok=True,
            contact_enc="ciphertext",
        )  # fmt: skip
    async with db.transaction() as session:
        reports = {r.lead_id: r for r in await session.scalars(select(LeadReport))}
        assert reports[anon.id].reporter_contact_id is None
        assert reports[named.id].reporter_contact_id == worker.id
        assert [name for _, name in await repo.reports_by(session, worker.id)] == [
            "Công ty TNHH Mở Lời"
        ]
        assert await repo.forget_reporter(session, worker.id) == 1
    async with db.session() as session:
        report = await session.get(LeadReport, reports[named.id].id)
        assert report is not None
        assert (report.reporter_contact_id, report.contact_ok, report.contact_enc) == (
            None, False, None,
        )  # fmt: skip
        lead = await session.get(Lead, named.id)
        assert lead is not None and lead.reporter_contact_id is None and lead.report_count == 1
    await db.dispose()


async def test_scheduler_queries(db_url: str) -> None:
    db = await _db(db_url)
    async with db.transaction() as session:
        person = await add_person(session, role="volunteer", external_id="701")
        fresh = await _report(session, "Cty Mới Báo")
        old = await _report(session, "Cty Báo Lâu", now=NOW - timedelta(days=8))
        worked = await _report(session, "Cty Đang Làm", now=NOW - timedelta(days=20))
        assert await repo.claim_lead(session, worked.id, person.id, NOW - timedelta(days=15))
        assert {v.lead.id for v in await repo.unannounced(session)} == {
            fresh.id, old.id, worked.id,
        }  # fmt: skip
        assert [v.lead.id for v in await repo.unclaimed_too_long(session, NOW, 7)] == [old.id]
        assert [v.lead.id for v in await repo.stalled(session, NOW, 14)] == [worked.id]
        changes = await session.scalar(select(func.count()).select_from(LeadStatusChange))
        assert changes == 4  # three "new", one "claimed"
    await db.dispose()
