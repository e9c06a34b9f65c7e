"""The `congdoan-bot` command: run, chat, db upgrade, content check, and feature tools."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from bot.config import ROOT, Settings, load_settings

log = logging.getLogger("congdoan-bot")

KEY_FILE_ENV = "CONGDOAN_DATA_KEY_FILE"


def _sqlite_file(url: str) -> Path | None:
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        return Path(url[len(prefix) :])
    return None


def prepare(settings: Settings) -> Settings:
    """Create the data folder and the local encryption key on first run; migrate."""
    from storage.crypto import new_key
    from storage.migrate import upgrade

    db_file = _sqlite_file(settings.database_url)
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    if not settings.data_key:
        key_file = Path(os.environ.get(KEY_FILE_ENV, "data/data.key"))
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(new_key() + "\n", "ascii")
            key_file.chmod(0o600)
            print(
                f"Đã tạo khoá mã hoá dữ liệu cá nhân tại {key_file.resolve()} — hãy sao lưu và "
                "giữ bí mật (hoặc đặt biến môi trường CONGDOAN_DATA_KEY).",
                file=sys.stderr,
            )
        settings = settings.with_(data_key=key_file.read_text("ascii").strip())
    upgrade(settings.database_url)
    return settings


async def _chat(settings: Settings) -> None:
    from bot.app import build_app
    from bot.channels.console import ConsoleChannel

    console = ConsoleChannel(media_dir=Path("data/console-media"))
    app = await build_app(settings, channels=[console])
    app.serve_dashboard = True
    await _start_with_dashboard(app, background=False)
    try:
        await console.run(app.process)
        await app.flush_outbox()
    finally:
        await app.stop()


async def _start_with_dashboard(app: Any, *, background: bool) -> None:
    """Start the bot with the staff dashboard; if the port is taken, say so and go on without
    it (the chat still works) rather than fail."""
    try:
        await app.start(background=background)
    except OSError as exc:
        print(
            f"Không mở được bảng điều khiển ở {app.settings.http_host}:{app.settings.http_port} "
            f"({exc.strerror}); đặt HTTP_PORT khác để dùng nó.",
            file=sys.stderr,
        )
        app.serve_dashboard = False
        await app.start(background=background)
        return
    if app.http_url:
        print(f"Bảng điều khiển cán bộ: {app.http_url}", file=sys.stderr)


async def _serve(settings: Settings) -> None:
    from bot.app import build_app

    app = await build_app(settings)
    app.serve_dashboard = True
    await _start_with_dashboard(app, background=True)
    names = ", ".join(app.channels) or "none"
    print(f"congdoan-bot đang chạy: kênh {names}. Ctrl+C để dừng.", file=sys.stderr)
    try:
        await asyncio.Event().wait()
    finally:
        await app.stop()


def cmd_run(args: argparse.Namespace) -> int:
    settings = prepare(load_settings())
    if not settings.channels_configured:
        print(
            "Chưa cấu hình kênh nào (TELEGRAM_BOT_TOKEN, ZALO_...): mở trò chuyện trên console.",
            file=sys.stderr,
        )
        asyncio.run(_chat(settings))
        return 0
    try:
        asyncio.run(_serve(settings))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    asyncio.run(_chat(prepare(load_settings())))
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = prepare(load_settings())
    print(f"Database migrated: {settings.database_url.split('@')[-1]}")
    return 0


def cmd_content_check(args: argparse.Namespace) -> int:
    from bot.core.content_check import check_content

    settings = load_settings()
    problems = check_content(settings.content_dir, code_dirs=[ROOT / "bot", ROOT / "handlers"])
    for problem in problems:
        print(problem)
    print(f"content check: {len(problems)} problem(s)")
    return 1 if problems else 0


# Feature sub-commands: name -> module exposing HELP, add_arguments(parser) and run(args) -> int.
COMMAND_MODULES: dict[str, str] = {
    "ask": "bot.commands.ask",
    "faq": "bot.commands.faq",
    "people": "bot.commands.people",
    "export": "bot.commands.export",
    "staff": "bot.commands.staff",
    "dashboard": "bot.commands.dashboard",
}


def _command_module(name: str) -> Any:
    return importlib.import_module(COMMAND_MODULES[name])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="congdoan-bot", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start the bot (console chat when no channel is configured)")
    sub.add_parser("chat", help="talk to the bot in this terminal")
    db = sub.add_parser("db", help="database commands").add_subparsers(dest="db_command")
    db.required = True
    db.add_parser("upgrade", help="apply migrations")
    content = sub.add_parser("content", help="content commands").add_subparsers(
        dest="content_command"
    )
    content.required = True
    content.add_parser("check", help="validate texts, flows, FAQ and areas")
    for name in COMMAND_MODULES:
        module = _command_module(name)
        module.add_arguments(sub.add_parser(name, help=module.HELP))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # aiogram logs every update at INFO; keep the log for what needs attention.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    if args.command == "run":
        return cmd_run(args)
    if args.command == "chat":
        return cmd_chat(args)
    if args.command == "db":
        return cmd_db_upgrade(args)
    if args.command == "content":
        return cmd_content_check(args)
    if args.command in COMMAND_MODULES:
        return int(_command_module(args.command).run(args))
    return 2


if __name__ == "__main__":
    sys.exit(main())
