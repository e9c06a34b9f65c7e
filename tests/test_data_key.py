"""The data key (issue #10 point 7): a lost key stops the bot instead of being replaced.

A new key is made only for an empty database, written owner-only in one step; the SQLite file
and the data folder are owner-only too. With people in the database and no key, every command
that prepares the database stops with what to do (restore the file or set CONGDOAN_DATA_KEY).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.bootstrap import prepare, write_new_key
from bot.config import ROOT, Settings
from bot.core.feature import StartupError


def _settings(tmp_path: Path) -> Settings:
    data = tmp_path / "data"
    return Settings(
        database_url=f"sqlite+aiosqlite:///{data / 'congdoan.db'}",
        data_key=None,
        data_key_file=data / "data.key",
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _add_a_person(url: str) -> None:
    """A worker who wrote to the bot, as the app stores them (a contact and its identity)."""
    import asyncio

    from storage import contacts as contacts_repo
    from storage.db import Database

    async def run() -> None:
        db = Database(url)
        async with db.transaction() as session:
            await contacts_repo.resolve_identity(session, "telegram", "1001", "1001")
        await db.dispose()

    asyncio.run(run())


def test_first_run_makes_an_owner_only_key_folder_and_database(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a usual umask: files would be 0644 unless made owner-only
    try:
        settings = prepare(_settings(tmp_path))
    finally:
        os.umask(old)
    data = tmp_path / "data"
    assert _mode(data) == 0o700
    assert _mode(data / "data.key") == 0o600
    assert _mode(data / "congdoan.db") == 0o600
    assert settings.data_key == (data / "data.key").read_text("ascii").strip()
    assert prepare(_settings(tmp_path)).data_key == settings.data_key  # the same key again


def test_an_older_world_readable_database_is_tightened(tmp_path: Path) -> None:
    settings = prepare(_settings(tmp_path))
    db_file = tmp_path / "data" / "congdoan.db"
    db_file.chmod(0o644)
    prepare(settings)
    assert _mode(db_file) == 0o600


def test_the_key_file_is_never_overwritten(tmp_path: Path) -> None:
    key_file = tmp_path / "k.key"
    key_file.write_text("old\n", "ascii")
    with pytest.raises(FileExistsError):
        write_new_key(key_file, "new")
    assert key_file.read_text("ascii") == "old\n"


def test_a_lost_key_with_people_in_the_database_stops_the_bot(tmp_path: Path) -> None:
    settings = prepare(_settings(tmp_path))
    _add_a_person(settings.database_url)
    key_file = tmp_path / "data" / "data.key"
    key_file.unlink()
    with pytest.raises(StartupError) as stopped:
        prepare(_settings(tmp_path))
    assert "CONGDOAN_DATA_KEY" in str(stopped.value) and "sao lưu" in str(stopped.value)
    assert not key_file.exists()  # no new key was made
    # Restoring the key (here: the environment variable) starts it again.
    assert prepare(_settings(tmp_path).with_(data_key=settings.data_key)).data_key


def test_the_command_line_says_it_in_vietnamese_and_exits(tmp_path: Path) -> None:
    settings = prepare(_settings(tmp_path))
    _add_a_person(settings.database_url)
    (tmp_path / "data" / "data.key").unlink()
    env = {k: v for k, v in os.environ.items() if k != "CONGDOAN_DATA_KEY"}
    env |= {"DATABASE_URL": settings.database_url,
            "CONGDOAN_DATA_KEY_FILE": str(tmp_path / "data" / "data.key")}  # fmt: skip
    run = subprocess.run([sys.executable, "-m", "bot.cli", "db", "upgrade"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 2
    assert "không khởi động được" in run.stderr and "CONGDOAN_DATA_KEY" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "data" / "data.key").exists()
