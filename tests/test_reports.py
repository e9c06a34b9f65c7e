"""The quarterly workbook says what the dashboard says, on a known set of joins, leads and cases.

The seeds are chosen so every figure is known by hand (written below), so the test fails if the
two agree on a wrong number as well as if they disagree.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from typing import Any

import openpyxl
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_web_app
from bot.core.periods import LOCAL_TZ, parse_quarter, quarter_bounds
from bot.reports.workbook import SUMMARY_KEYS, sheet_name
from storage import membership as repo
from storage import reports
from storage.cases import CaseRating, LegalCase
from storage.enterprises import Enterprise, Lead, LeadStatusChange
from tests import dashboard_seed as seed
from tests.driver import CaptureChannel, Chat

STAFF = "7301"
BODY_A, BODY_B = "Công đoàn phường Hải Dương", "Công đoàn phường Thành Đông"


def local(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    """A Hai Phong wall-clock time as aware UTC (UTC+7)."""
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL_TZ).astimezone(UTC)


async def seed_everything(app: Any, now: datetime) -> None:
    crypto = app.engine.services.crypto
    async with app.db.transaction() as s:
        n = 0

        async def join(
            body: str, at: datetime, status: str = repo.PENDING, decided: datetime | None = None
        ) -> None:
            nonlocal n
            n += 1
            contact = await seed.worker(s, 8000 + n)
            await seed.application(
                s,
                crypto,
                contact_id=contact,
                union_body=body,
                at=at,
                status=status,
                decided_at=decided,
                phone=f"09123{n:05d}",
            )

        for day in (2, 9, 16):  # three admitted in body A this quarter (November)
            await join(BODY_A, local(2026, 11, day, 9), repo.ADMITTED, local(2026, 11, day + 1, 10))
        await join(BODY_A, local(2026, 8, 3, 9), repo.ADMITTED, local(2026, 8, 4, 9))  # Q3
        await join(BODY_A, local(2026, 11, 12, 9))  # pending 12 days: over the 7-day review
        await join(BODY_A, local(2026, 11, 23, 9))  # pending 1 day
        for day in (5, 20):
            await join(BODY_B, local(2026, 10, day, 9), repo.ADMITTED, local(2026, 10, day, 15))
        await join(BODY_B, local(2026, 10, 7, 9), repo.RETURNED, local(2026, 10, 8, 9))
        await reports.set_target(s, 2026, reports.CITY, 100, now)
        await reports.set_target(s, 2026, BODY_A, 40, now)

        async def enterprise(name: str, area: str, size: str, status: str) -> None:
            ent = Enterprise(
                name=name,
                name_key=name.lower(),
                area_code=area,
                size_band=size,
                union_status="yes" if status == "founded" else "no",
            )
            s.add(ent)
            await s.flush()
            lead = Lead(
                enterprise_id=ent.id,
                area_code=area,
                status=status,
                is_open=status != "founded",
                opened_at=local(2026, 10, 1, 9),
                last_progress_at=local(2026, 11, 10, 9),
            )
            s.add(lead)
            await s.flush()
            if status == "founded":
                s.add(
                    LeadStatusChange(
                        lead_id=lead.id,
                        from_status="core_group",
                        to_status="founded",
                        created_at=local(2026, 11, 10, 9),
                    )
                )

        await enterprise("Công ty TNHH Một", "10507", "25_99", "new")
        await enterprise("Công ty TNHH Hai", "10507", "100_499", "contacted")
        await enterprise("Công ty TNHH Ba", "10525", "20_24", "claimed")
        await enterprise("Công ty TNHH Bốn", "10525", "500plus", "founded")

        contact = await seed.worker(s, 8999)
        for created, answered, topic, score in (
            (local(2026, 11, 23, 9), local(2026, 11, 23, 10), "wages", 5),  # 1 working hour
            (local(2026, 11, 23, 8), local(2026, 11, 23, 14), "wages", 2),  # 6 h: past 4 h
            (local(2026, 11, 20, 16), local(2026, 11, 23, 9), "dismissal", None),  # 1 + 1.5 h
            (local(2026, 11, 23, 15), None, None, None),  # waiting: 2 + 1.5 h, in time
            (local(2026, 9, 23, 9), local(2026, 9, 23, 10), "maternity", 1),  # last quarter
        ):
            case = LegalCase(
                contact_id=contact,
                channel="telegram",
                chat_id="8999",
                status="answered" if answered else "open",
                question_enc="x",
                topic=topic,
                created_at=created,
                first_response_at=answered,
            )
            s.add(case)
            if score is not None:
                await s.flush()
                s.add(CaseRating(case_id=case.id, score=score, created_at=created))


def numbers(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert match, element_id
    return match.group(1).strip()


def table_rows(html: str, table_id: str) -> list[list[str]]:
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    body = body.split("<tbody>", 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    return [
        [
            re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S)
        ]
        for r in rows
    ]


def vi_int(text: str) -> int | None:
    return None if text in ("–", "") else int(text.replace(".", ""))


@pytest.fixture
async def client_app(make_app: Any, clock: Any) -> Any:
    channel = CaptureChannel("telegram")
    app = await make_app(channel, extra={"staff": {"staff": [STAFF]}, "join": {"review_days": 7}})
    await seed_everything(app, clock())
    client = TestClient(TestServer(build_web_app(app)))
    await client.start_server()
    chat = Chat(app, channel, user_id=STAFF)
    await chat.send("/dangnhap")
    token = re.search(r"/dangnhap/(\S+)", chat.text).group(1)
    await client.post(f"/dangnhap/{token}")
    yield app, client
    await client.close()


async def test_workbook_figures_equal_the_dashboard(client_app: Any) -> None:
    _, client = client_app
    overview = await (await client.get("/tongquan")).text()
    legal = await (await client.get("/tuvan?quy=2026Q4")).text()
    firms = await (await client.get("/doanhnghiep")).text()
    response = await client.get("/baocao/tai?quy=2026Q4")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    wb = openpyxl.load_workbook(io.BytesIO(await response.read()))
    summary = wb["Tổng hợp"]
    cells = {
        summary.cell(row=r, column=1).value: summary.cell(row=r, column=2).value
        for r in range(6, 6 + len(SUMMARY_KEYS))
    }

    # the figures, known by hand
    assert numbers(overview, "so-quy") == "5" == str(cells["Đoàn viên mới kết nạp trong quý"])
    assert numbers(overview, "so-nam") == "6" == str(cells["Đoàn viên mới từ đầu năm 2026"])
    assert numbers(overview, "so-cho") == "2" == str(cells["Đơn đang chờ duyệt (lúc lập báo cáo)"])
    assert cells["… trong đó chờ quá 7 ngày"] == 1
    assert cells["Chỉ tiêu kết nạp năm 2026"] == 100 and "chỉ tiêu 100" in overview
    assert cells["Tỉ lệ hoàn thành chỉ tiêu năm"] == pytest.approx(0.06)

    # per union body: the overview's table equals the sheet
    page_rows = {r[0]: [vi_int(x) for x in r[1:]] for r in table_rows(overview, "theo-don-vi")}
    sheet = wb["Theo công đoàn"]
    sheet_rows = {row[0]: list(row[1:]) for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert page_rows == sheet_rows == {BODY_A: [3, 4, 40, 2], BODY_B: [2, 2, None, 0]}
    assert wb[sheet_name(BODY_A, set())]["B4"].value == 3  # and each body has its own sheet

    # legal advice, in working hours
    assert numbers(legal, "so-yeu-cau") == "4" == str(cells["Yêu cầu tư vấn pháp luật trong quý"])
    assert numbers(legal, "trung-vi").startswith("2,5")
    assert cells["Thời gian trả lời đầu tiên, trung vị (giờ làm việc)"] == pytest.approx(2.5)
    assert numbers(legal, "p90").startswith("6")
    assert cells["Thời gian trả lời đầu tiên, 90% trong vòng (giờ làm việc)"] == pytest.approx(6)
    assert numbers(legal, "qua-han") == "1" == str(cells["Yêu cầu trả lời chậm quá 4 giờ làm việc"])
    # … by topic (the FAQ topic the case was opened with) and the workers' ratings
    page_topics = [[r[0], vi_int(r[1])] for r in table_rows(legal, "chu-de")]
    sheet = wb["Tư vấn pháp luật"]
    topic_rows = [list(r) for r in sheet.iter_rows(min_row=2, max_row=4, values_only=True)]
    assert page_topics == topic_rows == [["Tiền lương", 2], ["Sa thải, kỷ luật lao động", 1],
                                         ["Chưa phân loại", 1]]  # fmt: skip
    assert numbers(legal, "diem-tb") == "3,5" and numbers(legal, "so-danh-gia") == "2"
    ratings = {r[0]: r[1] for r in sheet.iter_rows(min_row=8, max_row=10, values_only=True)}
    assert ratings == {"5 sao": 1, "2 sao": 1, "Điểm trung bình": pytest.approx(3.5)}
    assert [r[:2] for r in table_rows(legal, "danh-gia")] == [["5 sao", "1"], ["2 sao", "1"]]

    # enterprises: funnel and the ones still without a union
    funnel = {
        row[0]: row[1]
        for row in wb["Doanh nghiệp"].iter_rows(min_row=2, max_row=8, values_only=True)
    }
    assert list(funnel.values()) == [0, 4, 3, 2, 1, 1, 1]
    page_funnel = re.findall(
        r"<td[^>]*>([\d.]+)</td>", firms.split('id="pheu"', 1)[1].split("</table>", 1)[0]
    )
    assert [int(x) for x in page_funnel] == list(funnel.values())
    gaps = table_rows(firms, "chua-co-cdcs")
    assert gaps == [["Phường Thành Đông", "2", "0"], ["Phường Hải Dương", "0", "1"]]
    assert cells["Doanh nghiệp từ 25 lao động chưa có CĐCS"] == 2
    assert cells["Doanh nghiệp 20–24 lao động chưa có CĐCS"] == 1
    assert cells["CĐCS thành lập trong quý (từ đầu mối doanh nghiệp)"] == 1


async def test_workbook_is_a_real_spreadsheet(client_app: Any) -> None:
    app, _ = client_app
    from bot.reports.workbook import quarterly_workbook

    async with app.db.session() as session:
        data = await quarterly_workbook(session, app.engine.services, 2026, 4, app.engine.clock())
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames[:5] == [
        "Tổng hợp", "Theo tuần", "Theo công đoàn", "Doanh nghiệp", "Tư vấn pháp luật",
    ]  # fmt: skip
    assert {BODY_A, BODY_B} <= set(wb.sheetnames)
    weeks = wb["Theo tuần"]
    assert weeks.freeze_panes == "A2" and weeks.auto_filter.ref.startswith("A1:B")
    first = weeks["A2"].value
    assert isinstance(first, datetime) and first.date() == date(2026, 10, 1)  # a real date cell
    assert weeks["A2"].number_format == "DD/MM/YYYY"
    assert sum(weeks.cell(row=r, column=2).value for r in range(2, weeks.max_row + 1)) == 5
    assert weeks._charts and wb["Theo công đoàn"]._charts  # native Excel charts
    assert isinstance(wb["Tổng hợp"]["B6"].value, int)  # numbers, not text


def test_quarters_are_local_calendar_quarters() -> None:
    assert parse_quarter("2027Q2") == (2027, 2) == parse_quarter("2027-q2")
    with pytest.raises(ValueError):
        parse_quarter("2027Q5")
    bounds = quarter_bounds(2027, 3)
    assert bounds.start == datetime(2027, 6, 30, 17, tzinfo=UTC)  # 1 July 00:00 in Hai Phong
    assert bounds.end == datetime(2027, 9, 30, 17, tzinfo=UTC)


def test_sheet_names_follow_excel_rules() -> None:
    taken: set[str] = set()
    long = "Công đoàn các khu công nghiệp và khu kinh tế thành phố"
    first, second = sheet_name(long, taken), sheet_name(long, taken)
    assert len(first) <= 31 and len(second) <= 31 and first != second
    assert "/" not in sheet_name("CĐ A/B", taken)
