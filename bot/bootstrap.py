"""First-run preparation shared by every command: data folder, local key, migrations.

Its own module so the feature commands (bot/commands/*) can prepare the database without
importing the command line that lists them (which would be an import circle).
"""

from __future__ import annotations

import sys
from pathlib import Path

from bot.config import Settings


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
        key_file = settings.data_key_file
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(new_key() + "\n", "ascii")
            key_file.chmod(0o600)
            print(
                f"Đã tạo khóa mã hóa dữ liệu cá nhân tại {key_file.resolve()} — hãy sao lưu và "
                "giữ bí mật (hoặc đặt biến môi trường CONGDOAN_DATA_KEY).",
                file=sys.stderr,
            )
        settings = settings.with_(data_key=key_file.read_text("ascii").strip())
    upgrade(settings.database_url)
    return settings
