"""`congdoan-bot dashboard`: serve the staff dashboard alone (no chat channels).

For a second process behind the same proxy, or a server that only reports. `make run` serves the
dashboard too, beside the bot. HTTP_HOST / HTTP_PORT (or [http] in config.toml) set the address.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

HELP = "serve the staff web dashboard only"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="listen address (default: HTTP_HOST or [http] host)")
    parser.add_argument("--port", type=int, help="port (default: HTTP_PORT or [http] port)")


def run(args: argparse.Namespace) -> int:
    from bot.bootstrap import prepare
    from bot.config import load_settings

    settings = prepare(load_settings())
    if args.host:
        settings = settings.with_(http_host=args.host)
    if args.port is not None:
        settings = settings.with_(http_port=args.port)
    try:
        asyncio.run(_serve(settings))
    except KeyboardInterrupt:
        pass
    return 0


async def _serve(settings: object) -> None:
    from bot.app import build_app

    app = await build_app(settings, channels=[])  # type: ignore[arg-type]
    app.serve_dashboard = True
    await app.start(background=False)
    print(f"Bảng điều khiển cán bộ: {app.http_url} — Ctrl+C để dừng.", file=sys.stderr)
    try:
        await asyncio.Event().wait()
    finally:
        await app.stop()
