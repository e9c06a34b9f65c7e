"""The dashboard's editing pages: leads by area, targets, the commune → union body mapping,
campaigns; each validated, scoped and audited."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

import openpyxl
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import build_web_app
from bot.core.areas import DEFAULT_UNION_BODY
from storage import enterprises as leads_repo
from storage import membership as repo
from storage import reports
from storage.cases import LegalCase
from storage.people import add_person
from storage.recruitment import campaign_by_code
from tests import dashboard_seed as seed
from tests.driver import CaptureChannel, Chat
from tests.test_join import join

STAFF, VOLUNTEER = "7501", "7502"
MINE, OTHER = "10507", "10525"  # Phường Thành Đông (the volunteer's), Phường Hải Dương


@pytest.fixture
async def site(make_app: Any, clock: Any) -> Any:
    channel = CaptureChannel("telegram")
    app = await make_app(channel, extra={"staff": {"staff": [STAFF]}})
    crypto = app.engine.services.crypto
    async with app.db.transaction() as s:
        vol = await add_person(
            s,
            role="volunteer",
            external_id=VOLUNTEER,
            area_codes=[MINE],
            name_enc=crypto.encrypt("Đỗ Văn Tình"),
        )
        leads = {}
        for code, name in ((MINE, "Công ty TNHH Sao Mai"), (OTHER, "Công ty CP Biển Xanh")):
            lead = await leads_repo.report_enterprise(
                s,
                name=name,
                area_code=code,
                size_band="25_99",
                union_status="no",
                reporter_contact_id=None,
                contact_ok=False,
                source="report",
                now=clock(),
            )
            leads[code] = lead.id
    async with seed.signed_in_clients(app, channel) as client_for:
        yield app, client_for, leads, vol.id


async def csrf_of(client: TestClient, path: str) -> str:
    page = await (await client.get(path)).text()
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


async def audit(app: Any, action: str) -> list[repo.AuditEntry]:
    async with app.db.session() as session:
        return await repo.audit_entries(session, action=action)


async def test_volunteer_sees_and_claims_only_own_area(site: Any) -> None:
    app, client_for, leads, vol_id = site
    client = await client_for(VOLUNTEER)
    page = await (await client.get("/doanhnghiep")).text()
    assert "Sao Mai" in page and "Biển Xanh" not in page
    csrf = await csrf_of(client, "/doanhnghiep")
    other = await client.post(f"/doanhnghiep/{leads[OTHER]}/nhan", data={"csrf": csrf})
    assert other.status == 404
    mine = await client.post(
        f"/doanhnghiep/{leads[MINE]}/nhan", data={"csrf": csrf}, allow_redirects=False
    )
    assert mine.status == 303
    async with app.db.session() as session:
        lead = await session.get(leads_repo.Lead, leads[MINE])
        assert lead.status == "claimed" and lead.claimed_by == vol_id
    assert (await client.get("/muctieu")).status == 404  # city staff's page


async def test_staff_assign_a_lead_and_see_the_funnel(site: Any) -> None:
    app, client_for, leads, vol_id = site
    client = await client_for(STAFF)
    page = await (await client.get("/doanhnghiep")).text()
    assert "Đỗ Văn Tình" in page and "Biển Xanh" in page  # names for the one who assigns
    csrf = await csrf_of(client, "/doanhnghiep")
    done = await client.post(
        f"/doanhnghiep/{leads[OTHER]}/giao",
        data={"csrf": csrf, "nguoi": str(vol_id)},
        allow_redirects=False,
    )
    assert done.status == 303
    async with app.db.session() as session:
        assert (await session.get(leads_repo.Lead, leads[OTHER])).claimed_by == vol_id
        assert await reports.lead_funnel(session) == {
            "employer_request": 0,
            "new": 2,
            "claimed": 1,
            "contacted": 0,
            "core_group": 0,
            "committee": 0,
            "founded": 0,
        }
    assert [e.subject for e in await audit(app, "web.lead_assigned")] == [f"lead:{leads[OTHER]}"]


def funnel_of(page: str) -> dict[str, str]:
    table = page.split('id="pheu"', 1)[1].split("</table>", 1)[0]
    return dict(re.findall(r"<tr><td>([^<]+)</td><td[^>]*>([^<]+)</td></tr>", table))


async def test_founding_steps_through_the_committee_and_the_employer_stage(
    site: Any, clock: Any
) -> None:
    """The pipeline: reported → claimed → contacted → core group → organising committee →
    founded, plus "doanh nghiệp đề nghị"; a volunteer records the steps of the lead they hold,
    forward only, and the funnel on the page and in the workbook counts every stage."""
    app, client_for, leads, _ = site
    async with app.db.transaction() as s:
        await leads_repo.request_by_employer(
            s, name="Công ty TNHH Sao Mai", area_code=MINE, size_band="25_99",
            tax_code=None, now=clock(),
        )  # fmt: skip
    client = await client_for(VOLUNTEER)
    csrf = await csrf_of(client, "/doanhnghiep")
    not_held = await client.post(
        f"/doanhnghiep/{leads[MINE]}/buoc", data={"csrf": csrf, "buoc": "contacted"}
    )
    assert not_held.status == 409  # nobody holds it yet
    await client.post(f"/doanhnghiep/{leads[MINE]}/nhan", data={"csrf": csrf})
    page = await (await client.get("/doanhnghiep")).text()
    assert "Có ban vận động thành lập" in page.split(f'id="dau-moi-{leads[MINE]}"', 1)[1]
    for step in ("contacted", "core_group", "committee"):
        done = await client.post(
            f"/doanhnghiep/{leads[MINE]}/buoc",
            data={"csrf": csrf, "buoc": step},
            allow_redirects=False,
        )
        assert done.status == 303, step
    back = await client.post(
        f"/doanhnghiep/{leads[MINE]}/buoc", data={"csrf": csrf, "buoc": "core_group"}
    )
    assert back.status == 409  # a step already passed
    other = await client.post(
        f"/doanhnghiep/{leads[OTHER]}/buoc", data={"csrf": csrf, "buoc": "contacted"}
    )
    assert other.status == 404  # another area's lead
    async with app.db.session() as session:
        assert (await session.get(leads_repo.Lead, leads[MINE])).status == "committee"
    assert [e.detail["after"] for e in await audit(app, "web.lead_progress")] == [
        "contacted", "core_group", "committee",
    ]  # fmt: skip

    staff = await client_for(STAFF)
    page = await (await staff.get("/doanhnghiep")).text()
    assert funnel_of(page) == {
        "Doanh nghiệp đề nghị": "1",
        "Được báo về": "2",
        "Có người nhận": "1",
        "Đã tiếp cận": "1",
        "Có nhóm nòng cốt": "1",
        "Có ban vận động thành lập": "1",
        "Đã thành lập CĐCS": "0",
    }
    csrf = await csrf_of(staff, "/doanhnghiep")
    founded = await staff.post(
        f"/doanhnghiep/{leads[MINE]}/buoc",
        data={"csrf": csrf, "buoc": "founded"},
        allow_redirects=False,
    )
    assert founded.status == 303
    page = await (await staff.get("/doanhnghiep")).text()
    assert funnel_of(page)["Đã thành lập CĐCS"] == "1"
    book = await staff.get("/baocao/tai?quy=2026Q4")
    wb = openpyxl.load_workbook(io.BytesIO(await book.read()))
    rows = wb["Doanh nghiệp"].iter_rows(min_row=2, max_row=8, values_only=True)
    sheet = {r[0]: r[1] for r in rows}
    assert sheet == {k: int(v) for k, v in funnel_of(page).items()}


async def test_targets_are_validated_and_audited(site: Any, clock: Any) -> None:
    app, client_for, _, _ = site
    client = await client_for(STAFF)
    csrf = await csrf_of(client, "/muctieu")
    bad = await client.post(
        "/muctieu/chitieu", data={"csrf": csrf, "nam": "2026", "so": "-5", "don_vi": ""}
    )
    assert bad.status == 400 and "Chỉ tiêu từ 0" in await bad.text()
    ok = await client.post(
        "/muctieu/chitieu",
        data={"csrf": csrf, "nam": "2026", "so": "12.000", "don_vi": ""},
        allow_redirects=False,
    )
    assert ok.status == 303
    async with app.db.session() as session:
        assert await reports.targets_for(session, 2026) == {reports.CITY: 12000}
    [entry] = await audit(app, "web.target_set")
    assert entry.detail["after"] == 12000 and entry.detail["before"] is None
    overview = await (await client.get("/tongquan")).text()
    assert "chỉ tiêu 12.000" in overview
    assert 'id="chua-co-so-goc"' in overview  # baseline_members not given yet: the page says so


async def test_area_mapping_edit_routes_the_chat_and_exports_the_file(site: Any) -> None:
    app, client_for, _, _ = site
    client = await client_for(STAFF)
    csrf = await csrf_of(client, "/muctieu")
    body = "Công đoàn phường Thành Đông"
    refused = await client.post(
        "/muctieu/donvi", data={"csrf": csrf, "xa": MINE, "don_vi": "Hội phụ nữ"}
    )
    assert refused.status == 400 and "Công đoàn" in await refused.text()
    done = await client.post(
        "/muctieu/donvi", data={"csrf": csrf, "xa": MINE, "don_vi": body}, allow_redirects=False
    )
    assert done.status == 303
    assert app.engine.services.areas.by_code(MINE).union_body == body  # the chat routes by it
    twin = await client.post(
        "/muctieu/donvi", data={"csrf": csrf, "xa": OTHER, "don_vi": "Cong doan phuong Thanh Dong"}
    )
    assert twin.status == 400 and f"“{body}”" in await twin.text()
    csv_text = await (await client.get("/muctieu/areas.csv")).text()
    assert csv_text.startswith("code,name,type,aliases,union_body\n")
    assert f"{MINE},Phường Thành Đông,phường,thành phố Hải Dương,{body}" in csv_text
    [entry] = await audit(app, "web.area_mapped")
    assert entry.subject == f"area:{MINE}" and entry.detail["after"] == body


async def test_campaign_saved_with_validation(site: Any) -> None:
    app, client_for, _, _ = site
    client = await client_for(STAFF)
    csrf = await csrf_of(client, "/chiendich")
    form = {
        "csrf": csrf,
        "ma": "t5-2028",
        "ten": "Tháng Công nhân 2028",
        "tu": "2028-05-31",
        "den": "2028-05-01",
    }
    backwards = await client.post("/chiendich", data=form)
    assert backwards.status == 400 and "kết thúc phải sau" in await backwards.text()
    form.update(tu="2028-05-01", den="2028-05-31")
    saved = await client.post("/chiendich", data=form, allow_redirects=False)
    assert saved.status == 303
    async with app.db.session() as session:
        campaign = await campaign_by_code(session, "T5-2028")
    assert campaign is not None and campaign.name == "Tháng Công nhân 2028"
    page = await (await client.get("/chiendich?ma=T5-2028")).text()
    assert "Tháng Công nhân 2028" in page and "bảng xếp hạng" in page


async def test_area_mapping_edit_takes_effect_in_every_process(
    site: Any, make_app: Any, clock: Any
) -> None:
    """Two processes on one database: the mapping edited on one's dashboard routes the next
    application made through the other at once, and the other's page and export show it."""
    app, client_for, _, _ = site
    channel = CaptureChannel("telegram")
    other = await make_app(channel, create_schema=False, extra={"staff": {"staff": [STAFF]}})
    assert other.engine.services.areas.by_code(MINE).union_body == ""  # started before the edit
    client = await client_for(STAFF)
    csrf = await csrf_of(client, "/muctieu")
    body = "Công đoàn phường Thành Đông"
    done = await client.post(
        "/muctieu/donvi", data={"csrf": csrf, "xa": MINE, "don_vi": body}, allow_redirects=False
    )
    assert done.status == 303

    worker = Chat(other, channel, user_id="7590")
    reference = await join(worker, area="thanh dong", pick="Phường Thành Đông")
    assert body in worker.text  # the worker is told who handles it
    async with other.db.session() as session:
        application = await session.scalar(
            select(repo.MemberApplication).where(repo.MemberApplication.reference == reference)
        )
    assert application is not None and application.union_body == body

    other_web = TestClient(TestServer(build_web_app(other)))
    await other_web.start_server()
    try:
        staff = Chat(other, channel, user_id=STAFF)
        await staff.send("/dangnhap")
        token = re.search(r"/dangnhap/(\S+)", staff.text).group(1)
        await other_web.post(f"/dangnhap/{token}")
        csv_text = await (await other_web.get("/muctieu/areas.csv")).text()
        assert f"{MINE},Phường Thành Đông,phường,thành phố Hải Dương,{body}" in csv_text
        csrf = await csrf_of(other_web, "/muctieu")
        removed = await other_web.post(
            "/muctieu/donvi", data={"csrf": csrf, "xa": MINE, "don_vi": ""}, allow_redirects=False
        )
        assert removed.status == 303
    finally:
        await other_web.close()
    second = Chat(app, app.channels["telegram"], user_id="7591")
    await join(second, phone="0987 654 321", area="thanh dong", pick="Phường Thành Đông")
    assert DEFAULT_UNION_BODY in second.text  # removed in the other process: the city again


async def test_every_faq_topic_has_a_label_on_the_legal_page(site: Any, clock: Any) -> None:
    """Cases are counted by the FAQ topic they were opened with; each topic reads in Vietnamese
    on /tuvan, and a case no topic fitted is "Chưa phân loại"."""
    app, client_for, _, _ = site
    services = app.engine.services
    topics = sorted({e.topic for e in services.matcher.entries})
    assert len(topics) >= 10
    missing = [t for t in topics if f"dashboard.topic.{t}" not in services.texts]
    assert missing == []
    async with app.db.transaction() as s:
        contact = await seed.worker(s, 7599)
        for i, topic in enumerate([*topics, None, None]):
            s.add(LegalCase(contact_id=contact, channel="telegram", chat_id=str(i),
                            question_enc="x", topic=topic, created_at=clock()))  # fmt: skip
    client = await client_for(STAFF)
    page = await (await client.get("/tuvan")).text()
    table = page.split('id="chu-de"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>([^<]+)</td><td[^>]*>([^<]+)</td>", table)
    assert rows[0] == ("Chưa phân loại", "2")
    assert ("Tiền lương", "1") in rows and ("Thai sản, lao động nữ", "1") in rows
    assert len(rows) == len(topics) + 1 and not any("." in label for label, _ in rows)


async def test_overview_counts_members_from_the_baseline_to_the_plan_goal(
    make_app: Any, clock: Any
) -> None:
    """Tổng quan: the members on record at baseline_on ([targets]) plus those admitted through
    the bot since, against the 2028 goal, with the progress bar and the pace still needed."""
    channel = CaptureChannel("telegram")
    targets = {"plan_year": 2028, "plan_members": 390000, "baseline_members": 350000,
               "baseline_on": "2026-06-30"}  # fmt: skip
    app = await make_app(channel, extra={"staff": {"staff": [STAFF]}, "targets": targets})
    crypto = app.engine.services.crypto
    async with app.db.transaction() as s:
        for i, decided in enumerate(
            (datetime(2026, 6, 20, 3, tzinfo=UTC),  # before the baseline: already on record
             datetime(2026, 9, 2, 3, tzinfo=UTC), datetime(2026, 11, 20, 3, tzinfo=UTC))
        ):  # fmt: skip
            contact = await seed.worker(s, 7610 + i)
            await seed.application(s, crypto, contact_id=contact, union_body="Công đoàn phường A",
                                   at=decided, status=repo.ADMITTED, decided_at=decided,
                                   phone=f"+8491234560{i}")  # fmt: skip
    client = TestClient(TestServer(build_web_app(app)))
    await client.start_server()
    try:
        chat = Chat(app, channel, user_id=STAFF)
        await chat.send("/dangnhap")
        token = re.search(r"/dangnhap/(\S+)", chat.text).group(1)
        await client.post(f"/dangnhap/{token}")
        page = await (await client.get("/tongquan")).text()
    finally:
        await client.close()
    bar = re.search(r'<progress id="tien-do" max="(\d+)" value="(\d+)"', page)
    assert bar and bar.groups() == ("390000", "350002")
    assert "Mục tiêu đến năm 2028: 390.000 đoàn viên" in page
    assert re.search(r'id="so-doan-vien">350\.002<', page)
    assert re.search(r'id="ti-le-muc-tieu">89,7 %<', page)
    assert re.search(r'id="qua-bot">2<', page)
    # November 2026 to December 2028: 26 months for the 39,998 still missing
    assert "Còn thiếu 39.998 đoàn viên: cần khoảng 1.539 đoàn viên mới mỗi tháng" in page
    assert 'id="chua-co-so-goc"' not in page
