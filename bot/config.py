"""Settings from config.toml and the environment.

The file holds what the federation may edit in the open; secrets (tokens, keys) come only from
the environment so they never land in git. Environment variables win over the file.
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from collections.abc import Iterable, Iterator, Mapping
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
    # The outbound pace ([telegram] in config.toml); Telegram's published limits by default.
    telegram_messages_per_second: float = 30.0
    telegram_per_chat_per_second: float = 1.0
    telegram_paid_per_second: float = 1000.0
    # Set when several processes run: the pace (and what else they share) lives in Redis.
    redis_url: str | None = None
    data_key: str | None = None
    data_key_file: Path = Path("data/data.key")  # made on first run when no CONGDOAN_DATA_KEY
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
    "TELEGRAM_MESSAGES_PER_SECOND": "telegram_messages_per_second",
    "TELEGRAM_PER_CHAT_PER_SECOND": "telegram_per_chat_per_second",
    "TELEGRAM_PAID_MESSAGES_PER_SECOND": "telegram_paid_per_second",
    "REDIS_URL": "redis_url",
    "CONGDOAN_DATA_KEY": "data_key",
    "CONGDOAN_HOTLINE": "hotline",
    "CONGDOAN_DATA_KEY_FILE": "data_key_file",
}


_TELEGRAM_FILE = {
    "api_base": "telegram_api_base",
    "messages_per_second": "telegram_messages_per_second",
    "per_chat_per_second": "telegram_per_chat_per_second",
    "paid_messages_per_second": "telegram_paid_per_second",
}
_RATES = (
    "telegram_messages_per_second",
    "telegram_per_chat_per_second",
    "telegram_paid_per_second",
)


def _positive_rate(attr: str, value: Any) -> float:
    """A pace from the file or the environment; a clear error rather than a silent default."""
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = float("nan")
    if not rate > 0 or math.isinf(rate):
        raise ValueError(f"{attr.upper()} must be a positive number of messages per second")
    return rate


# The config.toml tables the core reads itself, with their keys (None: any key, e.g. role names
# under [staff]); every other table belongs to a feature's config class (``SECTION``), whose
# reader records the keys it reads, so a misspelt table or key is found at start-up.
CORE_TABLES: dict[str, frozenset[str] | None] = {
    "bot": frozenset({"hotline", "federation", "timezone"}),
    "database": frozenset({"url"}),
    "http": frozenset({"host", "port", "public_url"}),
    "telegram": frozenset(_TELEGRAM_FILE) | {"bot_username"},
    "redis": frozenset({"url"}),
    "targets": frozenset({"plan_year", "plan_members", "baseline_members", "baseline_on"}),
    "staff": None,
    "campaigns": None,
}


def unknown_keys(
    settings: Settings, read: Mapping[str, set[str]], elsewhere: Iterable[str] = ()
) -> list[str]:
    """config.toml tables and keys nothing reads, each with the nearest known name as a hint.

    ``read``: table -> keys the composed features' config readers read; ``elsewhere``: tables of
    features left out of this app (a test's subset), whose keys cannot be told apart. The
    environment's copies in ``settings.extra`` (``zalo_*``, ``congdoan_*``) are skipped."""
    known: dict[str, set[str] | None] = {
        name: (set(keys) if keys is not None else None) for name, keys in CORE_TABLES.items()
    }
    for section, keys in read.items():
        if known.get(section, set()) is not None:
            known[section] = (known.get(section) or set()) | set(keys)
    for section in elsewhere:
        known.setdefault(section, None)
    problems = []
    for table, value in settings.extra.items():
        if table.startswith(("zalo_", "congdoan_")):
            continue
        if table not in known:
            problems.append(f"[{table}]: bot không dùng bảng này{_hint(table, known)}")
            continue
        keys = known[table]
        if keys is None or not isinstance(value, Mapping):
            continue
        problems += [
            f"[{table}] {key}: bot không dùng khóa này{_hint(key, keys)}"
            for key in value
            if key not in keys
        ]
    return problems


def _hint(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return f" (có phải ý bạn là {close[0]}?)" if close else ""


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
    telegram = raw.get("telegram", {})
    for key, attr in _TELEGRAM_FILE.items():
        if key in telegram:
            values[attr] = telegram[key]
    if "url" in raw.get("redis", {}):
        values["redis_url"] = raw["redis"]["url"] or None
    for env_name, attr in _ENV.items():
        if env.get(env_name):
            values[attr] = env[env_name]
    if "http_port" in values:
        values["http_port"] = int(values["http_port"])
    if "data_key_file" in values:
        values["data_key_file"] = Path(values["data_key_file"])
    for attr in _RATES:
        if attr in values:
            values[attr] = _positive_rate(attr, values[attr])
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


# -- typed feature configuration --------------------------------------------------------------


class ConfigError(Exception):
    """A config.toml (or environment) value the bot cannot use: key, value, what is expected."""

    def __init__(self, key: str, value: Any, expected: str) -> None:
        self.key, self.value, self.expected = key, value, expected
        table, _, name = key.rpartition(".")
        where = f"[{table}] {name}" if table else f"[{name}]"
        super().__init__(
            f"config.toml: {where} = {value!r} không dùng được: cần {expected}. "
            "Sửa giá trị này rồi chạy lại."
        )


_MISSING: Any = object()


class _Recording(Mapping[str, Any]):
    """A config table that remembers which keys were asked for (the rest are misspellings)."""

    def __init__(self, raw: Mapping[str, Any], read: set[str]) -> None:
        self._raw = raw
        self._read = read

    def __getitem__(self, key: str) -> Any:
        self._read.add(key)
        return self._raw[key]

    def get(self, key: str, default: Any = None) -> Any:
        self._read.add(key)
        return self._raw.get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self._read.add(key)
        return key in self._raw

    def __iter__(self) -> Iterator[str]:
        self._read.update(self._raw)  # a reader that walks the table takes every key
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


class ConfigReader:
    """Typed reads of one config.toml table, each failing with ``ConfigError`` in plain words.

    ``override(NAME)`` reads an environment variable (or the settings' copy of it): the only
    place, with ``load_settings``, where the environment is read."""

    def __init__(self, section: str, settings: Settings, env: Mapping[str, str] | None = None):
        self.section = section
        self.read: set[str] = set()  # the keys this table's config class asked for
        self.settings = settings
        raw = settings.extra.get(section, {})
        if not isinstance(raw, Mapping):
            raise ConfigError(section, raw, f"một bảng [{section}]")
        self.raw: Mapping[str, Any] = _Recording(raw, self.read)
        self.env = os.environ if env is None else env

    def key(self, name: str) -> str:
        return f"{self.section}.{name}"

    def override(self, name: str) -> str | None:
        value = self.env.get(name) or self.settings.extra.get(name.lower())
        return str(value) if value not in (None, "") else None

    def get(self, name: str, default: Any = None) -> Any:
        return self.raw.get(name, default)

    def integer(self, name: str, default: int, *, minimum: int | None = 0) -> int:
        value = self.raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(self.key(name), value, "một số nguyên")
        if minimum is not None and value < minimum:
            raise ConfigError(self.key(name), value, f"một số nguyên từ {minimum} trở lên")
        return value

    def number(self, name: str, default: float, *, minimum: float | None = 0) -> float:
        value = self.raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(self.key(name), value, "một số (ví dụ 4 hoặc 9.5)")
        if minimum is not None and value < minimum:
            raise ConfigError(self.key(name), value, f"một số từ {minimum} trở lên")
        return float(value)

    def text(self, name: str, default: str = "") -> str:
        value = self.raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ConfigError(self.key(name), value, "một đoạn chữ trong ngoặc kép")
        return str(value)

    def flag(self, name: str, default: bool = False, value: Any = _MISSING) -> bool:
        value = self.raw.get(name, default) if value is _MISSING else value
        if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if isinstance(value, str) and value.strip().lower() in {"", "0", "false", "no", "off"}:
            return False
        if not isinstance(value, bool):
            raise ConfigError(self.key(name), value, "true hoặc false")
        return value

    def items(self, name: str, default: list[Any] | None = None) -> list[Any]:
        value = self.raw.get(name, default if default is not None else [])
        if not isinstance(value, list):
            raise ConfigError(
                self.key(name), value, "một danh sách trong ngoặc vuông, ví dụ [1, 2]"
            )
        return value


STAFF_CHANNELS = ("telegram", "zalo_bot", "zalo_oa", "console")


def _staff_list(key: str, ids: Any, what: str) -> list[str]:
    if not isinstance(ids, list) or any(isinstance(i, bool | float | dict | list) for i in ids):
        raise ConfigError(key, ids, f"danh sách mã người dùng {what}, ví dụ [12345]")
    return [str(i) for i in ids]


def staff_ids(settings: Settings) -> dict[str, Any]:
    """``[staff]``: who holds a role in the file (the first administrators), per channel.

    ``role = [ids]`` directly under ``[staff]`` are Telegram ids (the original shape); a table
    ``[staff.zalo_bot]`` (or ``zalo_oa``, ``telegram``) gives ``role = [ids]`` on that channel.
    Returns ``{role: [Telegram ids]}`` plus ``{channel: {role: [ids]}}``, as Roles takes it."""
    raw = settings.extra.get("staff") or {}
    if not isinstance(raw, Mapping):
        raise ConfigError("staff", raw, "một bảng [staff] dạng vai_trò = [mã tài khoản]")
    found: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, Mapping):
            if key not in STAFF_CHANNELS:
                raise ConfigError(f"staff.{key}", "bảng", "tên kênh: " + ", ".join(STAFF_CHANNELS))
            found[str(key)] = {
                str(role): _staff_list(f"staff.{key}.{role}", ids, f"trên kênh {key}")
                for role, ids in value.items()
            }
        else:
            found[str(key)] = _staff_list(f"staff.{key}", value, "Telegram")
    return found
