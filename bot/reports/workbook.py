"""The quarterly workbook (giao ban quý): a summary sheet and a sheet per union body.

Built with openpyxl from the same figures as the dashboard (``bot/core/figures.py``). Cells hold
real numbers and dates (formatted, not text), headers are frozen, tables have autofilters, and
charts are native Excel charts, so officers can sort, filter and re-chart in Excel itself.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bot.core import figures
from bot.core.context import Services
from bot.core.periods import LOCAL_TZ
from storage import reports

NUMBER = "#,##0"
DECIMAL = "#,##0.0"
PERCENT = "0.0%"
DATE = "DD/MM/YYYY"
HEADER_FILL = PatternFill("solid", fgColor="C8102E")
HEADER_FONT = Font(bold=True, color="FFFFFF")
TITLE_FONT = Font(bold=True, size=14)

CHANNEL_LABELS = {"telegram": "Telegram", "zalo_oa": "Zalo OA", "zalo_bot": "Zalo",
                  "console": "Thử nghiệm"}  # fmt: skip

# The summary sheet's rows, in order (labels and formats in _labels).
SUMMARY_KEYS = (
    "admitted",
    "admitted_year_to_date",
    "year_target",
    "target_share",
    "new_contacts",
    "invited",
    "founded",
    "employer_requests",
    "big_without_union",
    "mid_without_union",
    "waiting",
    "waiting_over",
    "legal_opened",
    "legal_answered",
    "legal_median_hours",
    "legal_p90_hours",
    "legal_past_target",
)


def summary_values(report: figures.QuarterReport) -> dict[str, Any]:
    """The summary figures by key: the workbook's summary sheet and the tests read these."""
    legal = report.legal
    return {
        "admitted": report.admitted,
        "admitted_year_to_date": report.admitted_year_to_date,
        "year_target": report.year_target,
        "target_share": (
            report.admitted_year_to_date / report.year_target if report.year_target else None
        ),
        "new_contacts": report.arrivals.new_contacts,
        "invited": report.arrivals.invited,
        "founded": report.founded,
        "employer_requests": report.employer_requests,
        "big_without_union": sum(g.big for g in report.without_union),
        "mid_without_union": sum(g.mid for g in report.without_union),
        "waiting": report.waiting.count,
        "waiting_over": report.waiting.over_days,
        "legal_opened": legal.opened,
        "legal_answered": legal.answered,
        "legal_median_hours": legal.median_hours,
        "legal_p90_hours": legal.p90_hours,
        "legal_past_target": legal.past_target,
    }


def _labels(report: figures.QuarterReport) -> dict[str, tuple[str, str]]:
    review = report.waiting.review_days
    target_h = report.legal.target_hours
    return {
        "admitted": ("Đoàn viên mới kết nạp trong quý", NUMBER),
        "admitted_year_to_date": (f"Đoàn viên mới từ đầu năm {report.year}", NUMBER),
        "year_target": (f"Chỉ tiêu kết nạp năm {report.year}", NUMBER),
        "target_share": ("Tỉ lệ hoàn thành chỉ tiêu năm", PERCENT),
        "new_contacts": ("Người lao động nhắn bot lần đầu trong quý", NUMBER),
        "invited": ("Đơn gia nhập qua lời mời của cộng tác viên", NUMBER),
        "founded": ("CĐCS thành lập trong quý (từ đầu mối doanh nghiệp)", NUMBER),
        "employer_requests": ("Doanh nghiệp đề nghị hỗ trợ thành lập CĐCS trong quý", NUMBER),
        "big_without_union": ("Doanh nghiệp từ 25 lao động chưa có CĐCS", NUMBER),
        "mid_without_union": ("Doanh nghiệp 20–24 lao động chưa có CĐCS", NUMBER),
        "waiting": ("Đơn đang chờ duyệt (lúc lập báo cáo)", NUMBER),
        "waiting_over": (f"… trong đó chờ quá {review} ngày", NUMBER),
        "legal_opened": ("Yêu cầu tư vấn pháp luật trong quý", NUMBER),
        "legal_answered": ("… đã được trả lời", NUMBER),
        "legal_median_hours": ("Thời gian trả lời đầu tiên, trung vị (giờ làm việc)", DECIMAL),
        "legal_p90_hours": ("Thời gian trả lời đầu tiên, 90% trong vòng (giờ làm việc)", DECIMAL),
        "legal_past_target": (f"Yêu cầu trả lời chậm quá {target_h:g} giờ làm việc", NUMBER),
    }


def _header(ws: Worksheet, row: int, titles: Sequence[str]) -> None:
    for col, title in enumerate(titles, start=1):
        cell = ws.cell(row=row, column=col, value=title)
        cell.fill, cell.font = HEADER_FILL, HEADER_FONT
        cell.alignment = Alignment(wrap_text=True, vertical="center")


def _table(
    ws: Worksheet,
    top: int,
    titles: Sequence[str],
    rows: Sequence[Sequence[Any]],
    formats: Sequence[str | None],
) -> tuple[int, int]:
    """A header row and data rows with formats and an autofilter; returns (first, last) row."""
    _header(ws, top, titles)
    for i, values in enumerate(rows, start=top + 1):
        for col, (value, fmt) in enumerate(zip(values, formats, strict=True), start=1):
            cell = ws.cell(row=i, column=col, value=value)
            if fmt:
                cell.number_format = fmt
    last = top + max(1, len(rows))
    ws.auto_filter.ref = f"A{top}:{get_column_letter(len(titles))}{last}"
    return top, last


def _bar_chart(
    ws: Worksheet, title: str, data_col: int, first: int, last: int, anchor: str, y_title: str
) -> None:
    chart = BarChart()
    chart.type = "col"
    chart.title = title
    chart.y_axis.title = y_title
    chart.legend = None
    chart.height, chart.width = 7.5, 16
    chart.add_data(
        Reference(ws, min_col=data_col, min_row=first, max_row=last), titles_from_data=True
    )
    chart.set_categories(Reference(ws, min_col=1, min_row=first + 1, max_row=last))
    ws.add_chart(chart, anchor)


def _widths(ws: Worksheet, widths: Sequence[int]) -> None:
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width


_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def sheet_name(name: str, taken: set[str]) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, unique in the workbook."""
    base = _SHEET_BAD.sub(" ", name).strip()[:31] or "Đơn vị"
    candidate, n = base, 2
    while candidate.casefold() in taken:
        suffix = f" ({n})"
        candidate, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(candidate.casefold())
    return candidate


def build_workbook(
    report: figures.QuarterReport,
    bodies: Sequence[figures.BodyQuarter],
    *,
    generated_at: datetime,
    area_names: Mapping[str, str] | None = None,
) -> Workbook:
    wb = Workbook()
    taken: set[str] = set()
    ws = wb.active
    ws.title = sheet_name("Tổng hợp", taken)
    scope = report.union_body or "Toàn thành phố"
    ws["A1"] = f"Báo cáo phát triển đoàn viên quý {report.quarter}/{report.year} — {scope}"
    ws["A1"].font = TITLE_FONT
    ws["A2"] = "Từ ngày"
    ws["B2"] = report.bounds.start.astimezone(LOCAL_TZ).date()
    ws["C2"] = "đến hết ngày"
    ws["D2"] = report.bounds.end.astimezone(LOCAL_TZ).date() - timedelta(days=1)
    ws["A3"] = "Lập lúc"
    ws["B3"] = generated_at.astimezone(LOCAL_TZ).replace(tzinfo=None)
    for cell, fmt in (("B2", DATE), ("D2", DATE), ("B3", "HH:MM DD/MM/YYYY")):
        ws[cell].number_format = fmt
    values, labels = summary_values(report), _labels(report)
    rows = [(labels[k][0], values[k]) for k in SUMMARY_KEYS]
    top, _ = _table(ws, 5, ("Chỉ tiêu", "Số liệu"), rows, (None, None))
    for i, key in enumerate(SUMMARY_KEYS, start=top + 1):
        ws.cell(row=i, column=2).number_format = labels[key][1]
    ws.freeze_panes = "A6"
    _widths(ws, (62, 16, 14, 14))

    row = top + len(SUMMARY_KEYS) + 2
    ws.cell(row=row, column=1, value="Đơn gia nhập trong quý theo kênh").font = Font(bold=True)
    channel_rows = [(CHANNEL_LABELS.get(c, c), n) for c, n in report.arrivals.by_channel.items()]
    for label, n in channel_rows or [("Chưa có đơn", 0)]:
        row += 1
        ws.cell(row=row, column=1, value=label)
        ws.cell(row=row, column=2, value=n).number_format = NUMBER
    row += 2
    ws.cell(row=row, column=1, value="Kết quả chiến dịch (chỉ tính đơn đã được duyệt)").font = Font(
        bold=True
    )
    row += 1
    _header(
        ws, row, ("Chiến dịch", "Người đến qua lời mời", "Đoàn viên mới", "Từ ngày", "Đến ngày")
    )
    for c in report.campaigns:
        row += 1
        for col, (value, fmt) in enumerate(
            ((c.campaign.name, None), (c.arrivals, NUMBER), (c.admitted, NUMBER),
             (c.campaign.starts_on, DATE), (c.campaign.ends_on, DATE)), start=1
        ):  # fmt: skip
            ws.cell(row=row, column=col, value=value).number_format = fmt or "General"

    _weeks_sheet(wb, taken, "Theo tuần", report.weeks)
    _bodies_sheet(wb, taken, report)
    _enterprise_sheet(wb, taken, report, area_names or {})
    _legal_sheet(wb, taken, report)
    for body in bodies:
        _body_sheet(wb, taken, body, report)
    return wb


def _weeks_sheet(
    wb: Workbook, taken: set[str], title: str, weeks: Sequence[tuple[Any, int]]
) -> Worksheet:
    ws = wb.create_sheet(sheet_name(title, taken))
    first, last = _table(ws, 1, ("Tuần bắt đầu ngày", "Đoàn viên mới"), weeks, (DATE, NUMBER))
    ws.freeze_panes = "A2"
    _widths(ws, (20, 16))
    _bar_chart(ws, "Đoàn viên mới mỗi tuần", 2, first, last, "D2", "Người")
    return ws


def _bodies_sheet(wb: Workbook, taken: set[str], report: figures.QuarterReport) -> None:
    ws = wb.create_sheet(sheet_name("Theo công đoàn", taken))
    rows = [(b.union_body, b.admitted_period, b.admitted_year, b.target_year, b.waiting)
            for b in report.bodies]  # fmt: skip
    titles = ("Công đoàn cấp trên", "Kết nạp trong quý", f"Kết nạp năm {report.year}",
              "Chỉ tiêu năm", "Đơn đang chờ")  # fmt: skip
    first, last = _table(ws, 1, titles, rows, (None, NUMBER, NUMBER, NUMBER, NUMBER))
    ws.freeze_panes = "B2"
    _widths(ws, (40, 16, 16, 14, 14))
    if rows:
        _bar_chart(ws, "Kết nạp trong quý theo công đoàn", 2, first, last, "G2", "Người")


def _enterprise_sheet(
    wb: Workbook, taken: set[str], report: figures.QuarterReport, area_names: Mapping[str, str]
) -> None:
    ws = wb.create_sheet(sheet_name("Doanh nghiệp", taken))
    funnel = [(figures.FUNNEL_LABELS[k], report.funnel[k]) for k in reports.FUNNEL]
    first, last = _table(ws, 1, ("Bước", "Số doanh nghiệp"), funnel, (None, NUMBER))
    _bar_chart(ws, "Phễu vận động thành lập CĐCS", 2, first, last, "E2", "Doanh nghiệp")
    top = last + 3
    gaps = [(area_names.get(g.area_code or "", g.area_code or "Chưa rõ địa bàn"), g.big, g.mid)
            for g in report.without_union]  # fmt: skip
    titles = ("Xã, phường", "Từ 25 lao động, chưa có CĐCS", "20–24 lao động, chưa có CĐCS")
    _table(ws, top, titles, gaps, (None, NUMBER, NUMBER))
    ws.freeze_panes = "A2"
    _widths(ws, (36, 18, 18))


def _legal_sheet(wb: Workbook, taken: set[str], report: figures.QuarterReport) -> None:
    """Legal advice in the quarter: cases by topic, then the workers' ratings."""
    ws = wb.create_sheet(sheet_name("Tư vấn pháp luật", taken))
    topics = report.legal_topics
    first, last = _table(ws, 1, ("Chủ đề", "Yêu cầu trong quý"), topics, (None, NUMBER))
    if topics:
        _bar_chart(ws, "Yêu cầu tư vấn theo chủ đề", 2, first, last, "E2", "Yêu cầu")
    top = last + 3
    legal = report.legal
    stars = [(f"{score} sao", n) for score, n in sorted(legal.ratings.items(), reverse=True)]
    stars += [("Điểm trung bình", legal.rating_mean)]
    _, end = _table(ws, top, ("Đánh giá của người lao động", "Số yêu cầu"), stars, (None, NUMBER))
    ws.cell(row=end, column=2).number_format = "0.0"
    ws.freeze_panes = "A2"
    _widths(ws, (40, 18))


def _body_sheet(
    wb: Workbook, taken: set[str], body: figures.BodyQuarter, report: figures.QuarterReport
) -> None:
    ws = wb.create_sheet(sheet_name(body.union_body, taken))
    ws["A1"] = f"{body.union_body} — quý {report.quarter}/{report.year}"
    ws["A1"].font = TITLE_FONT
    rows = (
        ("Đoàn viên mới kết nạp trong quý", body.admitted),
        (f"Đoàn viên mới từ đầu năm {report.year}", body.admitted_year_to_date),
        (f"Chỉ tiêu kết nạp năm {report.year}", body.year_target),
        ("Đơn đang chờ duyệt", body.waiting.count),
        (f"… trong đó chờ quá {body.waiting.review_days} ngày", body.waiting.over_days),
    )
    _, last = _table(ws, 3, ("Chỉ tiêu", "Số liệu"), rows, (None, NUMBER))
    top = last + 2
    first, end = _table(ws, top, ("Tuần bắt đầu ngày", "Đoàn viên mới"), body.weeks, (DATE, NUMBER))
    ws.freeze_panes = "A4"
    _widths(ws, (44, 16))
    _bar_chart(ws, "Đoàn viên mới mỗi tuần", 2, first, end, "D3", "Người")


async def quarterly_workbook(
    session: Any,
    services: Services,
    year: int,
    quarter: int,
    now: datetime,
    union_body: str | None = None,
) -> bytes:
    """The .xlsx file's bytes: the city (or one union body) and a sheet per union body."""
    report = await figures.quarter_report(session, services, year, quarter, now, union_body)
    names = [union_body] if union_body else await reports.union_bodies(session)
    bodies = [
        await figures.body_quarter(session, services, year, quarter, name, now) for name in names
    ]
    area_names = {a.code: a.name for a in services.areas}
    wb = build_workbook(report, bodies, generated_at=now, area_names=area_names)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
