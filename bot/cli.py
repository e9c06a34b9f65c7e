"""The `congdoan-bot` command: run, chat, db upgrade, content check, and feature tools."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from bot.bootstrap import prepare
from bot.config import ROOT, ConfigError, Settings, load_settings
from bot.core.feature import CliCommand, StartupError

log = logging.getLogger("congdoan-bot")


async def _chat(settings: Settings) -> None:
    from bot import logs
    from bot.app import build_app
    from bot.channels.console import ConsoleChannel

    # The terminal is the chat: log lines go to a file instead of between the messages.
    logs.configure(logging.getLogger().level <= logging.INFO, log_file=logs.CONSOLE_LOG)
    print(f"Nhật ký (log) ghi vào {logs.CONSOLE_LOG}.", file=sys.stderr)

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
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    # systemd stops a unit with SIGTERM: finish the events in hand (App.stop) before exiting.
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
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


def _cli_commands() -> dict[str, CliCommand]:
    """Sub-commands: the core's (people and staff: roles and sign-in links; the dashboard) and
    those the features declare (ask, faq, export, …), each with HELP, add_arguments(parser)
    and run(args) -> int."""
    from bot.app import FEATURES, load_feature
    from bot.commands import dashboard, people, report, staff

    found: dict[str, CliCommand] = {}
    owner: dict[str, str] = {}
    for module in (people, staff, dashboard, report):
        name = module.__name__.rsplit(".", 1)[1]
        found[name] = CliCommand(name, module.HELP, module.add_arguments, module.run)
        owner[name] = "bot.cli"
    for feature in map(load_feature, FEATURES):
        for command in feature.cli_commands:
            if command.name in found:
                raise StartupError(
                    f"Lệnh dòng lệnh {command.name!r} được hai tính năng khai báo: "
                    f"{owner[command.name]} và {feature.name}."
                )
            found[command.name], owner[command.name] = command, feature.name
    return found


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
    for command in _cli_commands().values():
        command.add_arguments(sub.add_parser(command.name, help=command.help))
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except (ConfigError, StartupError) as err:
        # a wrong config.toml value or two features claiming one command: say which, stop
        print(f"congdoan-bot không khởi động được: {err}", file=sys.stderr)
        return 2


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from bot import logs

    logs.configure(args.verbose)
    if args.command == "run":
        return cmd_run(args)
    if args.command == "chat":
        return cmd_chat(args)
    if args.command == "db":
        return cmd_db_upgrade(args)
    if args.command == "content":
        return cmd_content_check(args)
    commands = _cli_commands()
    if args.command in commands:
        return int(commands[args.command].run(args))
    return 2


if __name__ == "__main__":
    sys.exit(main())
