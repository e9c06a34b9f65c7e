"""deploy/ stays true to the code: the names, ports, paths and commands it uses exist."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from bot.channels import telegram, zalo_bot, zalo_oa
from bot.cli import build_parser
from bot.config import _ENV

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
CODE = [p for d in ("bot", "handlers", "storage") for p in (DEPLOY.parent / d).rglob("*.py")]


def _unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / "systemd" / name).read_text("utf-8"))
    return unit


def test_every_variable_in_the_env_example_is_read_by_the_bot() -> None:
    names = re.findall(
        r"^([A-Z][A-Z0-9_]+)=", (DEPLOY / "congdoan-bot.env.example").read_text(), re.M
    )
    assert {"DATABASE_URL", "REDIS_URL", "TELEGRAM_WEBHOOK_SECRET", "CONGDOAN_DATA_KEY"} <= set(
        names
    )
    source = "\n".join(p.read_text("utf-8") for p in CODE)
    unknown = [
        n for n in names if n not in _ENV and f'"{n}"' not in source and n.lower() not in source
    ]
    assert unknown == []


def test_nginx_sends_every_webhook_path_and_every_process_to_the_upstream() -> None:
    conf = (DEPLOY / "nginx" / "congdoan-bot.conf").read_text("utf-8")
    prefix = re.search(r"location (/webhooks/) \{\s*proxy_pass http://congdoan_bot;", conf)
    assert prefix is not None
    for path in (telegram.WEBHOOK_PATH, zalo_bot.WEBHOOK_PATH, zalo_oa.WEBHOOK_PATH):
        assert path.startswith(prefix.group(1))
    ports = re.findall(r"server 127\.0\.0\.1:(\d+)", conf)
    wanted = _unit("congdoan-bot.target")["Unit"]["Wants"].split()
    assert [f"congdoan-bot@{p}.service" for p in ports] == wanted
    assert "client_max_body_size 1m;" in conf  # what the bot's own aiohttp app accepts


def test_units_run_the_real_commands() -> None:
    service = _unit("congdoan-bot@.service")["Service"]
    migrate = _unit("congdoan-bot-migrate.service")["Service"]
    assert service["ExecStart"].endswith("congdoan-bot run")
    assert "HTTP_PORT=%i" in service["Environment"]
    assert service["KillSignal"] == "SIGTERM" and service["Restart"] == "always"
    assert migrate["ExecStart"].endswith("congdoan-bot db upgrade")
    args = build_parser().parse_args(["db", "upgrade"])
    assert (args.command, args.db_command) == ("db", "upgrade")
