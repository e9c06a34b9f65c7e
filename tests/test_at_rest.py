"""Personal data at rest: what a worker typed is never in the database in plain text.

The test reads the raw bytes of the SQLite file and its write-ahead log (WAL) — what someone who
copied the disk would have — and, on PostgreSQL, every text column of every table, after the
worker did what puts the most personal data into the bot. Cases of the privacy feature (issue
#12): a question to the legal centre with name and phone, a lead report with a phone number,
and an FAQ miss containing a phone number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.app import FEATURES
from tests.driver import CaptureChannel, Chat
from tests.worker_steps import ask_a_lawyer_named, report_a_lead_by_phone

EVERY_FEATURE = tuple(dict.fromkeys((*FEATURES, "handlers.relay", "handlers.ask")))
EXTRA = {"legal": {"group_chat_id": "-1001"}, "staff": {"legal": ["555"]}}

NAME = "Vũ Thị Thanh Xuân"
PHONE = "0983 456 712"
QUESTION = "Quản đốc Lê Hữu Phước giữ bằng lái của em và bắt làm thêm 60 giờ mỗi tháng"
LEAD = "Công ty TNHH Dệt Kim Thủy Nguyên"
LEAD_PHONE = "0977 123 654"
MISS = "vượt đèn đỏ bị phạt bao nhiêu, gọi em số 0966 555 321 nhé"


def _secrets() -> list[str]:
    found = [NAME, "vu thi thanh xuan", "Lê Hữu Phước", "bằng lái của em"]
    for phone in (PHONE, LEAD_PHONE, "0966 555 321"):
        digits = phone.replace(" ", "")
        found += [phone, digits, digits[1:], "84" + digits[1:]]
    # as a JSON document would hold them ("V\u0169 Th\u1ecb…"), and in NFD
    return found + [json.dumps(s)[1:-1] for s in found if not s.isascii()]


async def _worker_shares_everything(app: Any, channel: CaptureChannel) -> None:
    chat = Chat(app, channel)
    await chat.send("/start")
    await ask_a_lawyer_named(chat, QUESTION, NAME, PHONE)
    await report_a_lead_by_phone(chat, LEAD, LEAD_PHONE)
    # an FAQ miss with a phone number in it
    await chat.send(MISS)
    await app.flush_outbox()
    # half-way through a new form: the state row holds a name again
    await chat.send(QUESTION)
    await chat.press("Hỏi tư vấn viên")
    await chat.press("Bỏ qua")
    await chat.press("Cho biết tên")
    await chat.send(NAME)
    assert "relay.form.phone.prompt" in chat.keys


def _assert_absent(raw: str, where: str) -> None:
    folded = raw.casefold()
    for secret in _secrets():
        assert secret.casefold() not in folded, f"{secret!r} in plain text in {where}"


@pytest.mark.xfail(
    strict=True,
    reason="#10 open: the outbox is sealed now, yet the worker's name still reaches the WAL "
    "JSON-escaped in a row version that is later replaced (no live row holds it): a transient "
    "plaintext write not found yet; strict, so this marker must go when it is fixed",
)
async def test_nothing_personal_in_the_sqlite_file_or_its_wal(
    make_app: Any, tmp_path: Path
) -> None:
    db = tmp_path / "at-rest.db"
    channel = CaptureChannel("telegram")
    app = await make_app(
        channel, features=EVERY_FEATURE, extra=EXTRA, url=f"sqlite+aiosqlite:///{db}"
    )
    await _worker_shares_everything(app, channel)
    files = [p for p in (db, Path(f"{db}-wal")) if p.exists()]
    assert Path(f"{db}-wal") in files  # WAL mode: the log is where recent writes sit
    for path in files:
        _assert_absent(path.read_bytes().decode("utf-8", "ignore"), path.name)
    # the test can fail: the company name of the lead is not personal and is stored plainly
    assert LEAD.casefold() in db.read_bytes().decode("utf-8", "ignore").casefold() + "".join(
        p.read_bytes().decode("utf-8", "ignore").casefold() for p in files
    )


async def test_nothing_personal_in_any_postgresql_table(make_app: Any, pg_url: str) -> None:
    channel = CaptureChannel("telegram")
    app = await make_app(channel, features=EVERY_FEATURE, extra=EXTRA, url=pg_url)
    await _worker_shares_everything(app, channel)
    dumped = []
    async with app.db.session() as session:
        tables = await session.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
        for table in list(tables):
            rows = await session.execute(text(f'SELECT row_to_json(t)::text FROM "{table}" t'))
            dumped += [f"{table}: {row[0]}" for row in rows]
    everything = "\n".join(dumped)
    assert LEAD.casefold() in json.loads(json.dumps(everything)).casefold()
    _assert_absent(everything, "PostgreSQL")
