"""`congdoan-bot export`: the lead list and a campaign leaderboard as CSV or XLSX for staff.

    congdoan-bot export leads --format xlsx --out leads.xlsx
    congdoan-bot export leaderboard --format csv --out bxh.csv [--campaign T5-2027]

The leaderboard is the running campaign's, or --campaign's; with neither, every invitation so far.

Only the command line exports: the chat has no way to send a document (the content types are
text, buttons, photos), and a file of leads should not sit in a chat history anyway. The lead
list never holds who reported: only how many reporters allow a volunteer to contact them.
Volunteers' notes are left out too (they may name people); they stay in the bot, encrypted.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

HELP = "export the lead list or a campaign leaderboard as CSV or XLSX"
FORMATS = ("csv", "xlsx")

LEAD_HEADER = (
    "Mã", "Công ty", "Mã số thuế", "Mã xã/phường", "Xã/phường", "Cơ quan công đoàn phụ trách",
    "Khu công nghiệp", "Số người lao động", "Mục tiêu", "Số lượt báo",
    "Người báo cho phép liên hệ", "Trạng thái", "Người phụ trách", "Ngày nhận",
    "Tiến độ gần nhất", "Báo lần đầu", "Báo gần nhất", "Nguồn",
)  # fmt: skip
BOARD_HEADER = (
    "Hạng", "Người mời", "Vai trò", "Đoàn viên mới", "Đơn gia nhập", "Công ty được báo",
    "Chiến dịch", "Từ ngày", "Đến ngày",
)  # fmt: skip
GOAL = {3: "25+ lao động (mục tiêu 2028)", 2: "20–24 lao động (mục tiêu 2033)"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("leads", "leaderboard"))
    parser.add_argument("--format", choices=FORMATS, default=None, help="default: from --out")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--campaign", default=None, help="campaign code (leaderboard)")


def run(args: argparse.Namespace) -> int:
    from bot.bootstrap import prepare
    from bot.config import load_settings

    settings = prepare(load_settings())
    return asyncio.run(export(settings, args))


def _local(value: datetime | None) -> str:
    from bot.core.texts import LOCAL_TZ

    return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M") if value else ""


async def lead_rows(session: Any, t: Any, areas: Any, cipher: Any) -> list[list[Any]]:
    """One row per enterprise lead, best-ranked first (the volunteers' order)."""
    from storage import enterprises as repo
    from storage.recruitment import people_by_id

    views = await repo.all_leads(session)
    consenting = await repo.consenting_reports(session, [v.lead.id for v in views])
    people = await people_by_id(
        session, sorted({v.lead.claimed_by for v in views if v.lead.claimed_by})
    )
    rows = []
    for view in views:
        lead, ent = view.lead, view.enterprise
        area = areas.by_code(lead.area_code) if lead.area_code else None
        person = people.get(lead.claimed_by) if lead.claimed_by else None
        rows.append(
            [
                lead.id,
                ent.name,
                ent.tax_code or "",
                lead.area_code or "",
                area.name if area else "",
                area.union_body_or_default if area else "",
                ent.industrial_park or "",
                t(f"leads.size.{ent.size_band}"),
                GOAL.get(lead.size_tier, ""),
                lead.report_count,
                consenting.get(lead.id, 0),
                t(f"leads.status.{lead.status}"),
                _person_name(cipher, person),
                _local(lead.claimed_at),
                _local(lead.last_progress_at) if lead.status != "new" else "",
                _local(lead.created_at),
                _local(ent.last_reported_at),
                lead.source,
            ]
        )
    return rows


def _person_name(cipher: Any, person: Any) -> str:
    if person is None:
        return ""
    if person.name_enc:
        try:
            return str(cipher.decrypt(person.name_enc))
        except ValueError:
            pass
    return f"#{person.id}"


async def leaderboard_rows(session: Any, campaign: Any, cipher: Any) -> list[list[Any]]:
    """The board of one campaign, or (``campaign`` None) of every invitation so far."""
    from storage.recruitment import leaderboard, people_by_id

    standings = await leaderboard(session, campaign.id if campaign is not None else None)
    people = await people_by_id(session, [s.person_id for s in standings])
    code, start, end = (
        (campaign.code, campaign.starts_on.isoformat(), campaign.ends_on.isoformat())
        if campaign is not None
        else ("tất cả", "", "")
    )
    return [
        [
            s.rank,
            _person_name(cipher, people.get(s.person_id)),
            people[s.person_id].role if s.person_id in people else "",
            s.admitted,
            s.applications,
            s.leads,
            code,
            start,
            end,
        ]
        for s in standings
    ]


def write_csv(path: Path, header: Sequence[str], rows: list[list[Any]]) -> None:
    """UTF-8 with a BOM, so Excel on a federation PC shows the Vietnamese correctly."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write_xlsx(path: Path, header: Sequence[str], rows: list[list[Any]], title: str) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append(list(header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(row)
    sheet.freeze_panes = "A2"
    for column, name in zip(sheet.columns, header, strict=False):
        width = max([len(str(name)), *(len(str(c.value or "")) for c in column[1:200])])
        sheet.column_dimensions[column[0].column_letter].width = min(60, width + 2)
    book.save(path)


async def export(settings: Any, args: argparse.Namespace, today: date | None = None) -> int:
    from bot.core.areas import load_areas
    from bot.core.texts import LOCAL_TZ, Texts
    from storage import recruitment as repo
    from storage.crypto import DataCipher
    from storage.db import Database

    fmt = args.format or args.out.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        print("Chọn --format csv hoặc xlsx (hoặc đặt đuôi tệp .csv / .xlsx).", file=sys.stderr)
        return 2
    t = Texts.load(settings.content_dir / "vi", {"hotline": settings.hotline,
                                                 "federation": settings.federation})  # fmt: skip
    cipher = DataCipher(settings.data_key)
    db = Database(settings.database_url)
    try:
        async with db.transaction() as session:
            if args.what == "leads":
                areas = load_areas(settings.content_dir / "areas.csv")
                header, rows, title = (
                    LEAD_HEADER,
                    await lead_rows(session, t, areas, cipher),
                    "Leads",
                )
            else:
                await repo.sync_campaigns(session, settings.extra.get("campaigns", []) or [])
                if args.campaign:
                    campaign = await repo.campaign_by_code(session, args.campaign)
                else:
                    day = today or datetime.now(LOCAL_TZ).date()
                    campaign = await repo.campaign_on(session, day)
                if campaign is None and args.campaign:
                    codes = ", ".join(c.code for c in await repo.list_campaigns(session))
                    print(
                        f"Không có chiến dịch mã {args.campaign} (--campaign). "
                        f"Các mã hiện có: {codes or 'chưa có chiến dịch nào'}.",
                        file=sys.stderr,
                    )
                    return 1
                if campaign is None:
                    # Nothing running today: every invitation so far, said so, not an error.
                    codes = ", ".join(c.code for c in await repo.list_campaigns(session))
                    more = f" Chọn một chiến dịch bằng --campaign <mã> ({codes})." if codes else ""
                    print(
                        "Hôm nay không có chiến dịch nào đang diễn ra: bảng xếp hạng tính mọi "
                        f"lời mời từ trước đến nay.{more}",
                        file=sys.stderr,
                    )
                header, rows = BOARD_HEADER, await leaderboard_rows(session, campaign, cipher)
                title = campaign.code if campaign is not None else "Tat ca"
    finally:
        await db.dispose()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        write_csv(args.out, header, rows)
    else:
        write_xlsx(args.out, header, rows, title)
    print(f"Đã xuất {len(rows)} dòng vào {args.out}")
    return 0
