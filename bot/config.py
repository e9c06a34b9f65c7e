"""Settings from config.toml and the environment.

The file holds what the federation may edit in the open; secrets (tokens, keys) come only from
the environment so they never land in git. Environment variables win over the file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config.toml"


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///data/congdoan.db"
    content_dir: Path = ROOT / "content"
    hotline: str = "1800.888864"
    federation: str = "Liên đoàn Lao động thành phố Hải Phòng"
    timezone: str = "Asia/Ho_Chi_Minh"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    telegram_token: str | None = None
    telegram_api_base: str | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    data_key: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def channels_configured(self) -> bool:
        return bool(self.telegram_token) or any(
            self.extra.get(k) for k in ("zalo_oa_app_id", "zalo_bot_token")
        )

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


_ENV = {
    "DATABASE_URL": "database_url",
    "HTTP_HOST": "http_host",
    "HTTP_PORT": "http_port",
    "TELEGRAM_BOT_TOKEN": "telegram_token",
    "TELEGRAM_API_BASE": "telegram_api_base",
    "TELEGRAM_WEBHOOK_URL": "telegram_webhook_url",
    "TELEGRAM_WEBHOOK_SECRET": "telegram_webhook_secret",
    "CONGDOAN_DATA_KEY": "data_key",
    "CONGDOAN_HOTLINE": "hotline",
}


def load_settings(
    env: Mapping[str, str] | None = None, config_path: Path | None = None
) -> Settings:
    env = os.environ if env is None else env
    path = config_path or Path(env.get("CONGDOAN_CONFIG", DEFAULT_CONFIG))
    raw: dict[str, Any] = tomllib.loads(path.read_text("utf-8")) if path.exists() else {}
    values: dict[str, Any] = {}
    bot = raw.get("bot", {})
    for key in ("hotline", "federation", "timezone"):
        if key in bot:
            values[key] = bot[key]
    if "url" in raw.get("database", {}):
        values["database_url"] = raw["database"]["url"]
    http = raw.get("http", {})
    if "host" in http:
        values["http_host"] = http["host"]
    if "port" in http:
        values["http_port"] = int(http["port"])
    if "api_base" in raw.get("telegram", {}):
        values["telegram_api_base"] = raw["telegram"]["api_base"]
    for env_name, attr in _ENV.items():
        if env.get(env_name):
            values[attr] = env[env_name]
    if "http_port" in values:
        values["http_port"] = int(values["http_port"])
    known = {f.name for f in fields(Settings)}
    extra = {k: v for k, v in raw.items() if k not in known}
    extra.update({k.lower(): v for k, v in env.items() if k.startswith(("ZALO_", "CONGDOAN_"))})
    values["extra"] = extra
    return Settings(**values)


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, so the CLI can create its folder; None for memory/other."""
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        path = Path(url[len(prefix) :])
        return path if path.is_absolute() else ROOT / path if not path.exists() else path
    return None
