"""`congdoan-bot broadcast` create / preview / approve / status, in-process on a SQLite file."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from storage import broadcasts as repo
from storage.crypto import new_key
from storage.db import Database
from tests.broadcast_helpers import seed_subscribers


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    config = tmp_path / "config.toml"
    config.write_text(
        '[broadcast]\napproval_over = 1\nquiet_hours = "00:00-00:00"\n'
        '[staff]\nstaff = ["7501", "7502"]\n',
        "utf-8",
    )
    for name, value in {"DATABASE_URL": url, "CONGDOAN_DATA_KEY": new_key(),
                        "CONGDOAN_CONFIG": str(config)}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    main(["db", "upgrade"])

    async def seed() -> None:
        db = Database(url)
        await seed_subscribers(db, [1, 2], now=datetime.now(UTC))
        await db.dispose()

    asyncio.run(seed())
    return url


def _id(capsys: pytest.CaptureFixture[str], *args: str) -> int:
    assert main(["broadcast", "create", *args]) == 0
    return int(capsys.readouterr().out.strip())


def test_create_preview_status_and_refusals(cli_env, tmp_path, capsys) -> None:
    text = tmp_path / "tin.txt"
    text.write_text("Tháng Công nhân 2027 bắt đầu từ 1/5.", "utf-8")
    bid = _id(capsys, "--text-file", str(text), "--poll", "Bạn có tham gia không?",
              "--option", "Có", "--option", "Không", "--audience", "topic:campaign",
              "--at", "2027-05-01T08:00")  # fmt: skip
    assert main(["broadcast", "preview", str(bid)]) == 0
    shown = capsys.readouterr().out
    assert "telegram: 2 người nhận" in shown and "[Dừng nhận tin]" in shown
    assert "1. Có\n2. Không\n3. Dừng nhận tin" in shown  # Zalo Bot: numbered answers
    assert main(["broadcast", "status", str(bid), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["status"] == "scheduled" and status["total"] == 0
    assert status["poll"] == {"Có": 0, "Không": 0}
    long = tmp_path / "dai.txt"
    long.write_text("Chữ " * 800, "utf-8")
    too_long = _id(capsys, "--text-file", str(long), "--audience", "all")
    assert main(["broadcast", "preview", str(too_long)]) == 1
    assert "quá giới hạn 2000" in capsys.readouterr().err
    assert (
        main(["broadcast", "create", "--text-file", str(text), "--audience", "area:Sao Hỏa"]) == 2
    )
    assert main(["broadcast", "create", "--text-file", str(text), "--audience", "all",
                 "--poll", "Một?", "--option", "A"]) == 2  # fmt: skip
    assert "2 to 5" in capsys.readouterr().err


def test_big_audience_waits_for_a_second_staff_member(cli_env, tmp_path, capsys) -> None:
    text = tmp_path / "tin.txt"
    text.write_text("Luật mới về đoàn phí.", "utf-8")
    assert main(["broadcast", "create", "--text-file", str(text), "--audience", "all",
                 "--by", "9999"]) == 2  # fmt: skip
    assert "no staff role" in capsys.readouterr().err
    bid = _id(capsys, "--text-file", str(text), "--audience", "all", "--by", "7501")
    assert main(["broadcast", "approve", str(bid), "--by", "7501"]) == 2
    assert "not the author" in capsys.readouterr().err
    assert main(["broadcast", "approve", str(bid), "--by", "telegram:7501"]) == 2  # same account
    assert main(["broadcast", "approve", str(bid), "--by", "9999"]) == 2
    assert "9999 holds no staff role" in capsys.readouterr().err
    assert main(["broadcast", "approve", str(bid), "--by", "7502"]) == 0
    assert "telegram:7502" in capsys.readouterr().out
    assert main(["broadcast", "approve", str(bid), "--by", "7502"]) == 2
    assert "approved already" in capsys.readouterr().err
    assert asyncio.run(_approvals(cli_env, bid)) == ("telegram:7501", "telegram:7502", "draft")


async def _approvals(url: str, bid: int) -> tuple[str, str | None, str]:
    db = Database(url)
    async with db.session() as session:
        row = await repo.get(session, bid)
        assert row is not None
        found = (row.created_by, row.approved_by, row.status)
    await db.dispose()
    return found
