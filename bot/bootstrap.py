"""First-run preparation shared by every command: data folder, local key, migrations.

Its own module so the feature commands (bot/commands/*) can prepare the database without
importing the command line that lists them (which would be an import circle).

Personal data is sealed with one key (``CONGDOAN_DATA_KEY`` or the key file). A key is made
only for an empty database: when the key file is missing but the database already holds
people, the bot stops with what to do (#10) instead of making a new key that cannot open what
is there. The key file, the data folder and the SQLite file are created owner-only, the key
file in one step (no moment where another account could read it).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.config import Settings
from bot.core.feature import StartupError

# Tables whose rows mean the database holds sealed personal data: everyone who ever wrote to
# the bot has a contact (their state and events are sealed), staff have people rows; plus every
# table with a sealed ``*_enc`` column.
_PEOPLE_TABLES = ("contacts", "people")


def _sqlite_file(url: str) -> Path | None:
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        return Path(url[len(prefix) :])
    return None


def _private_dir(path: Path) -> None:
    """Create a missing folder (and its parents) readable by this account only."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.chmod(0o700)  # mkdir's mode is masked by the umask; the parents keep theirs


def _private_file(path: Path) -> None:
    """The SQLite file owner-only from its first byte (its -wal and -shm copy its mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    path.chmod(0o600)  # an existing file made before this rule (0644) is tightened


def write_new_key(key_file: Path, key: str) -> None:
    """Write a new key file owner-only in one step: O_EXCL refuses a file that appeared."""
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key + "\n")


async def _holds_personal_data(url: str) -> bool:
    from sqlalchemy import inspect, select, table
    from sqlalchemy.ext.asyncio import create_async_engine

    from bot.tables import load_models

    metadata = load_models()
    sealed = {t.name for t in metadata.tables.values() if any(c.name.endswith("_enc") for c in t.c)}
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            present = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            for name in sorted(present & (sealed | set(_PEOPLE_TABLES))):
                if (await conn.execute(select(1).select_from(table(name)).limit(1))).first():
                    return True
    finally:
        await engine.dispose()
    return False


def holds_personal_data(url: str) -> bool:
    """True when the database already has people (and so data sealed with some key)."""
    db_file = _sqlite_file(url)
    if db_file is not None and (not db_file.exists() or db_file.stat().st_size == 0):
        return False
    return asyncio.run(_holds_personal_data(url))


def missing_key_message(key_file: Path) -> str:
    return (
        f"không tìm thấy khóa mã hóa dữ liệu cá nhân ({key_file.resolve()}), nhưng cơ sở dữ liệu "
        "đã có dữ liệu được mã hóa bằng khóa đó. Bot dừng lại và không tạo khóa mới, vì khóa mới "
        "không mở được dữ liệu cũ. Hãy chép lại tệp khóa từ bản sao lưu vào đúng chỗ trên, hoặc "
        "đặt biến môi trường CONGDOAN_DATA_KEY bằng khóa cũ, rồi khởi động lại."
    )


def prepare(settings: Settings) -> Settings:
    """Create the data folder and the local encryption key on first run; migrate."""
    from storage.crypto import new_key
    from storage.migrate import upgrade

    db_file = _sqlite_file(settings.database_url)
    if db_file is not None:
        _private_dir(db_file.parent)
        _private_file(db_file)  # an empty file is an empty SQLite database
    if not settings.data_key:
        key_file = settings.data_key_file
        if not key_file.exists():
            if holds_personal_data(settings.database_url):
                raise StartupError(missing_key_message(key_file))
            _private_dir(key_file.parent)
            write_new_key(key_file, new_key())
            print(
                f"Đã tạo khóa mã hóa dữ liệu cá nhân tại {key_file.resolve()} — hãy sao lưu và "
                "giữ bí mật (hoặc đặt biến môi trường CONGDOAN_DATA_KEY).",
                file=sys.stderr,
            )
        settings = settings.with_(data_key=key_file.read_text("ascii").strip())
    upgrade(settings.database_url)
    return settings
