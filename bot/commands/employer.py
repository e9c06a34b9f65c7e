"""`congdoan-bot employer qr`: the QR code for the federation's meetings with businesses.

It opens the employer track directly (`/start employer`, handlers/employer.py). The Telegram link
needs the bot's username (TELEGRAM_BOT_USERNAME, or bot_username in [telegram] of config.toml, or
else read from Telegram's getMe with the token);
``--link`` prints any other address instead (a Zalo OA page, a poster's short link).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import segno

HELP = "employer track tools: the QR code that opens it, for meetings with businesses"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="employer_command", required=True)
    qr = sub.add_parser("qr", help="write a PNG QR code that opens the employer track")
    qr.add_argument("--out", type=Path, default=Path("qr-doanh-nghiep.png"), help="PNG file")
    qr.add_argument("--link", help="encode this address instead of the Telegram deep link")


def _bot_username() -> str | None:
    """The configured username, else the bot's own from getMe when only the token is set."""
    import asyncio

    from bot.config import ConfigReader, load_settings

    settings = load_settings()
    reader = ConfigReader("telegram", settings)
    name = reader.override("TELEGRAM_BOT_USERNAME") or reader.get("bot_username")
    if name:
        return str(name).lstrip("@")
    if settings.telegram_token:
        from bot.channels.telegram import fetch_username

        return asyncio.run(fetch_username(settings.telegram_token, settings.telegram_api_base))
    return None


def run(args: argparse.Namespace) -> int:
    username = None if args.link else _bot_username()
    link = args.link or (f"https://t.me/{username}?start=employer" if username else None)
    if not link:
        print(
            "Chưa biết tên bot Telegram: đặt TELEGRAM_BOT_USERNAME (hoặc bot_username trong "
            "[telegram] của config.toml), hoặc dùng --link.",
            file=sys.stderr,
        )
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    segno.make(link, error="m").save(str(args.out), kind="png", scale=10, border=4)
    print(f"{args.out}: {link}")
    return 0
