"""Personal data at rest: what a worker typed is never in the database in plain text.

The test reads the raw bytes of the SQLite file and its write-ahead log (WAL) — what someone who
copied the disk would have — and, on PostgreSQL, every text column of every table and the WAL
written meanwhile (which also holds every row version that later became a dead tuple), after the
worker did what puts the most personal data into the bot (issues #10 and #12): joining the union,
a question to the legal centre with name and phone, a lead report with a phone number, an FAQ
miss containing a phone number, and a form left half-filled. Besides, every statement's bound
parameters are watched: a value written in plain text and replaced within the same second is
caught even when no byte of it is left on disk.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from bot.app import FEATURES
from bot.core.textnorm import fold
from tests.driver import CaptureChannel, Chat
from tests.test_join import join
from tests.worker_steps import ask_a_lawyer_named, report_a_lead_by_phone

EVERY_FEATURE = tuple(dict.fromkeys((*FEATURES, "handlers.relay", "handlers.ask")))
EXTRA = {"legal": {"group_chat_id": "-1001"}, "staff": {"legal": ["555"]}}

LEAD = "Công ty TNHH Dệt Kim Thủy Nguyên"  # not personal: stored plainly, which shows the test sees
MISS_PHONE = "0966 555 321"


@dataclass(frozen=True)
class Worker:
    """What one worker tells the bot. SQLite runs the fixed worker; PostgreSQL, whose WAL is
    shared with every database on the server (other suites running the same test), a random one
    whose name and phones nobody else writes."""

    name: str = "Vũ Thị Thanh Xuân"
    phone: str = "0983 456 712"
    supervisor: str = "Lê Hữu Phước"
    lead_phone: str = "0977 123 654"

    @property
    def question(self) -> str:
        return f"Quản đốc {self.supervisor} giữ bằng lái của em và bắt làm thêm 60 giờ mỗi tháng"

    @property
    def miss(self) -> str:
        return f"vượt đèn đỏ bị phạt bao nhiêu, gọi em số {MISS_PHONE} nhé"

    @classmethod
    def random(cls) -> Worker:
        pick = random.SystemRandom().choice
        families = ["Nguyễn", "Trần", "Phạm", "Hoàng", "Huỳnh", "Phan", "Đặng", "Bùi", "Đỗ"]
        middles = ["Thị", "Văn", "Hữu", "Minh", "Ngọc", "Đức", "Quang", "Xuân"]
        givens = ["Hạnh", "Tuyết", "Khánh", "Nhung", "Thắm", "Quyết", "Lượng", "Đạt", "Huệ"]

        def person() -> str:
            return f"{pick(families)} {pick(middles)} {pick(middles)} {pick(givens)}"

        def phone() -> str:
            digits = "".join(pick("0123456789") for _ in range(7))
            return f"09{pick('13678')} {digits[:3]} {digits[3:]}"

        return cls(name=person(), phone=phone(), supervisor=person(), lead_phone=phone())

    def unique_secrets(self) -> list[str]:
        """Only what this worker typed: the words to look for in a log other databases share."""
        return _forms([self.name, fold(self.name), self.supervisor], [self.phone, self.lead_phone])

    def secrets(self) -> list[str]:
        return self.unique_secrets() + _forms(["bằng lái của em"], [MISS_PHONE])


def _forms(words: list[str], phones: list[str]) -> list[str]:
    found = list(words)
    for phone in phones:
        digits = phone.replace(" ", "")
        found += [phone, digits, digits[1:], "84" + digits[1:]]
    # as a JSON document would hold them ("V\u0169 Th\u1ecb…")
    return found + [json.dumps(s)[1:-1] for s in found if not s.isascii()]


async def _worker_shares_everything(app: Any, channel: CaptureChannel, worker: Worker) -> None:
    chat = Chat(app, channel)
    await chat.send("/start")
    await join(chat, name=worker.name, phone=worker.phone, union="Có", contact=None)
    await ask_a_lawyer_named(chat, worker.question, worker.name, worker.phone)
    await report_a_lead_by_phone(chat, LEAD, worker.lead_phone)
    # an FAQ miss with a phone number in it
    await chat.send(worker.miss)
    await app.flush_outbox()
    # half-way through a new form: the state row holds a name again
    await chat.send(worker.question)
    await chat.press("Hỏi tư vấn viên")
    await chat.press("Bỏ qua")
    await chat.press("Cho biết tên")
    await chat.send(worker.name)
    assert "relay.form.phone.prompt" in chat.keys


def _assert_absent(raw: str, where: str, secrets: list[str]) -> None:
    folded = raw.casefold()
    for secret in secrets:
        assert secret.casefold() not in folded, f"{secret!r} in plain text in {where}"


@contextmanager
def _bound_parameters(app: Any) -> Iterator[list[str]]:
    """Every value bound to a statement while the block runs (what the database is told)."""
    seen: list[str] = []

    def values(params: Any) -> Iterator[Any]:
        if isinstance(params, dict):
            yield from params.values()
        elif isinstance(params, list | tuple):
            for item in params:
                yield from values(item)
        else:
            yield params

    def spy(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append(statement)
        seen.extend(str(value) for value in values(params) if isinstance(value, str | bytes))

    target = app.db.engine.sync_engine
    event.listen(target, "before_cursor_execute", spy)
    try:
        yield seen
    finally:
        event.remove(target, "before_cursor_execute", spy)


async def test_nothing_personal_in_the_sqlite_file_or_its_wal(
    make_app: Any, tmp_path: Path
) -> None:
    db = tmp_path / "at-rest.db"
    channel = CaptureChannel("telegram")
    app = await make_app(
        channel, features=EVERY_FEATURE, extra=EXTRA, url=f"sqlite+aiosqlite:///{db}"
    )
    worker = Worker()
    with _bound_parameters(app) as bound:
        await _worker_shares_everything(app, channel, worker)
    _assert_absent("\n".join(bound), "a statement's parameters", worker.secrets())
    files = [p for p in (db, Path(f"{db}-wal")) if p.exists()]
    assert Path(f"{db}-wal") in files  # WAL mode: the log is where recent writes sit
    raw = "".join(path.read_bytes().decode("utf-8", "ignore") for path in files)
    for path in files:
        _assert_absent(path.read_bytes().decode("utf-8", "ignore"), path.name, worker.secrets())
    # the test can fail: the company name of the lead is not personal and is stored plainly
    assert LEAD.casefold() in raw.casefold()


def _lsn(value: str) -> int:
    high, low = value.split("/")
    return int(high, 16) << 32 | int(low, 16)


async def _current_lsn(session: Any) -> int:
    return _lsn(str(await session.scalar(text("SELECT pg_current_wal_flush_lsn()::text"))))


async def _wal_between(session: Any, start: int, end: int) -> bytes | None:
    """The WAL bytes from ``start`` to ``end``, read through the server (superuser or
    pg_read_server_files); None when this role may not read them."""
    size_text = str(await session.scalar(text("SHOW wal_segment_size")))
    size = int(re.sub(r"\D", "", size_text)) * (1024 * 1024 if "MB" in size_text else 1)
    current = str(await session.scalar(text("SELECT pg_walfile_name(pg_current_wal_lsn())")))
    timeline, per_xlogid = current[:8], 2**32 // size
    chunks = []
    position = start
    try:
        while position < end:
            segment, offset = divmod(position, size)
            name = f"{timeline}{segment // per_xlogid:08X}{segment % per_xlogid:08X}"
            length = min(size - offset, end - position)
            chunks.append(
                await session.scalar(
                    text("SELECT pg_read_binary_file(:path, :offset, :length)"),
                    {"path": f"pg_wal/{name}", "offset": offset, "length": length},
                )
            )
            position += length
    except DBAPIError:
        return None
    return b"".join(chunks)


async def test_nothing_personal_in_any_postgresql_table_or_its_wal(
    make_app: Any, pg_url: str
) -> None:
    channel = CaptureChannel("telegram")
    app = await make_app(channel, features=EVERY_FEATURE, extra=EXTRA, url=pg_url)
    worker = Worker.random()
    async with app.db.session() as session:
        start = await _current_lsn(session)
    with _bound_parameters(app) as bound:
        await _worker_shares_everything(app, channel, worker)
    _assert_absent("\n".join(bound), "a statement's parameters", worker.secrets())
    dumped = []
    async with app.db.session() as session:
        tables = await session.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
        for table in list(tables):
            rows = await session.execute(text(f'SELECT row_to_json(t)::text FROM "{table}" t'))
            dumped += [f"{table}: {row[0]}" for row in rows]
        wal = await _wal_between(session, start, await _current_lsn(session))
    everything = "\n".join(dumped)
    assert LEAD.casefold() in json.loads(json.dumps(everything)).casefold()
    _assert_absent(everything, "PostgreSQL", worker.secrets())
    if wal is not None:  # readable by this role: old row versions and dead tuples are in it
        logged = wal.decode("utf-8", "ignore")
        assert LEAD.casefold() in logged.casefold()  # the WAL was read where the bot wrote
        _assert_absent(logged, "PostgreSQL's WAL", worker.unique_secrets())
