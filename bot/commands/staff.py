"""`congdoan-bot staff login-link`: a one-time dashboard sign-in link for an administrator.

    congdoan-bot staff login-link --telegram-id 123456
    congdoan-bot staff login-link --zalo-id 8412345678901234

The first administrator has no way to type /dangnhap to a bot that is not yet on a platform, or
wants a link on the server itself; the account must hold a staff role (config.toml [staff] or
`congdoan-bot people add`). The link is printed, never logged, and works once, for 10 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bot.core.numbers import is_ascii_digits

HELP = "staff tools: a one-time sign-in link for the dashboard"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="staff_command", required=True)
    link = sub.add_parser("login-link", help="print a one-time sign-in link (10 minutes)")
    who = link.add_mutually_exclusive_group(required=True)
    who.add_argument("--telegram-id", help="numeric Telegram user id")
    who.add_argument("--zalo-id", help="Zalo OA user id")


def run(args: argparse.Namespace) -> int:
    from bot.bootstrap import prepare
    from bot.config import load_settings

    settings = prepare(load_settings())
    return asyncio.run(_login_link(args, settings))


async def _login_link(args: argparse.Namespace, settings: Any) -> int:
    from datetime import UTC, datetime

    from bot.config import staff_ids
    from bot.core.links import login_link
    from bot.core.roles import DASHBOARD_ROLES, Roles, Who
    from storage import web_sessions
    from storage.db import Database

    channel, user = (
        ("telegram", args.telegram_id) if args.telegram_id else ("zalo_oa", args.zalo_id)
    )
    user = str(user).strip()
    if not is_ascii_digits(user):
        print("Mã tài khoản phải là số.", file=sys.stderr)
        return 2
    db = Database(settings.database_url)
    try:
        async with db.transaction() as session:
            roles = await Roles(staff_ids(settings)).roles_of(session, Who(channel, user))
            if roles.isdisjoint(DASHBOARD_ROLES):
                print(
                    "Tài khoản này chưa có vai trò cán bộ. Thêm vào [staff] trong config.toml "
                    "hoặc dùng `congdoan-bot people add --role staff ...` trước.",
                    file=sys.stderr,
                )
                return 1
            try:
                token = await web_sessions.create_login_link(
                    session, channel, user, datetime.now(UTC)
                )
            except web_sessions.TooManyLinks:
                print(
                    "Đã tạo quá nhiều liên kết trong 10 phút; hãy đợi rồi thử lại.", file=sys.stderr
                )
                return 1
    finally:
        await db.dispose()
    print(login_link(settings, token))
    print("Liên kết dùng được một lần, trong 10 phút.", file=sys.stderr)
    return 0
