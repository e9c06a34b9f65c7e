"""`congdoan-bot report quarterly`: the quarterly review workbook (giao ban quý) as .xlsx.

    congdoan-bot report quarterly --quarter 2027Q2 --out bao-cao.xlsx
    congdoan-bot report quarterly --quarter 2027Q2 --union-body "Công đoàn phường Lê Chân"

The same workbook as the dashboard's "Tải báo cáo quý" button: a summary sheet, the weeks, the
union bodies, enterprises, and a sheet per union body. It holds counts only, no personal data.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

HELP = "reports: the quarterly workbook (.xlsx)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="report_command", required=True)
    quarterly = sub.add_parser("quarterly", help="the quarterly workbook")
    quarterly.add_argument("--quarter", required=True, help="e.g. 2027Q2")
    quarterly.add_argument("--union-body", default=None, help="one union body only")
    quarterly.add_argument(
        "--out", default=None, help="file to write (default bao-cao-2027Q2.xlsx)"
    )


def run(args: argparse.Namespace) -> int:
    from bot.bootstrap import prepare
    from bot.config import load_settings
    from bot.core.periods import parse_quarter

    try:
        year, quarter = parse_quarter(args.quarter)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    settings = prepare(load_settings())
    out = Path(args.out or f"bao-cao-{year}Q{quarter}.xlsx")
    data = asyncio.run(_build(settings, year, quarter, args.union_body))
    out.write_bytes(data)
    print(f"Đã ghi {out} ({len(data):,} byte).".replace(",", "."))
    return 0


async def _build(settings: Any, year: int, quarter: int, union_body: str | None) -> bytes:
    from bot.app import build_app
    from bot.reports.workbook import quarterly_workbook

    app = await build_app(settings, channels=[])
    try:
        async with app.db.session() as session:
            return await quarterly_workbook(
                session, app.engine.services, year, quarter, app.engine.clock(), union_body
            )
    finally:
        await app.stop()
