"""The console chat keeps log lines out of the conversation (issue #12 point 15): with -v, what
the bot logs while chatting goes to data/console.log, not between the messages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from storage.crypto import new_key

ROOT = Path(__file__).resolve().parents[1]
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR) ", re.M)


def _command() -> list[str]:
    script = Path(sys.executable).with_name("congdoan-bot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


def test_log_lines_go_to_a_file_not_between_the_chat_messages(tmp_path: Path) -> None:
    env = {**os.environ, "CONGDOAN_CONFIG": str(tmp_path / "absent.toml"),
           "CONGDOAN_DATA_KEY": new_key(), "HTTP_PORT": "0",
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"}  # fmt: skip
    for name in ("TELEGRAM_BOT_TOKEN", "ZALO_BOT_TOKEN", "ZALO_OA_APP_ID"):
        env.pop(name, None)
    done = subprocess.run(
        [*_command(), "-v", "chat"],
        input="xin chao\n/trogiup\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Chào bạn" in done.stdout and "/trogiup" in done.stdout
    assert not LOG_LINE.search(done.stdout), done.stdout
    chat_part = done.stderr.split("Nhật ký (log) ghi vào", 1)
    assert len(chat_part) == 2, done.stderr[-2000:]  # the operator is told where the log went
    assert not LOG_LINE.search(chat_part[1]), chat_part[1]  # nothing logged once the chat began
    log = (tmp_path / "data" / "console.log").read_text("utf-8")
    assert "INFO bot.app" in log  # what would have landed in the chat is in the file
