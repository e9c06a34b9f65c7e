"""A seeded fuzz of the whole bot (issue #10): random events from workers, staff and groups.

Texts (long, emoji, control characters, look-alike digits), every command with random
arguments, forged button payloads of every registered feature (and real buttons with one field
tampered), group messages in the staff group, edits and redeliveries — on SQLite and on
PostgreSQL. Whatever comes in, no handler may fail (the engine logs "engine failed" and answers
``common.error``; both are caught here), and after /huy nobody is left inside a flow.

``CONGDOAN_FUZZ_EVENTS`` and ``CONGDOAN_FUZZ_SEED`` change the run (default 10,000 events, seed
20261124); a failure prints the seed and the event that broke, so it can be replayed.
"""

from __future__ import annotations

import logging
import os
import random
import traceback
from dataclasses import dataclass, field, replace
from typing import Any

from bot.core.events import Address, Choices, Inbound, Kind, Outgoing, RequestContact
from storage import contacts as contacts_repo
from storage import people as people_repo
from storage.models import ChannelIdentity
from tests.driver import CaptureChannel

EVENTS = int(os.environ.get("CONGDOAN_FUZZ_EVENTS", "10000"))
SEED = int(os.environ.get("CONGDOAN_FUZZ_SEED", "20261124"))
GROUP = "-100900800"
WORKERS = [str(7_000 + i) for i in range(40)]
STAFF = {"staff": "9001", "membership": "9002", "legal": "9003", "volunteer": "9004",
         "collaborator": "9005"}  # fmt: skip

# Numbers as an attacker types them: superscripts and other digits str.isdigit() accepts,
# ids beyond 64 bits, signs, spaces, fractions.
NUMBERS = [
    "1", "2", "0", "-1", "7", "12", "²", "³", "¹²", "①", "٣", "१", "𝟗", "9223372036854775807",
    "9223372036854775808", "-9223372036854775809", "99999999999999999999", "1e5", "1.5", " 3",
    "0x10", "", "00000000000000000000001", "1_000",
]  # fmt: skip
WORDS = [
    "xin chào", "lương", "tôi muốn vào công đoàn", "bảo hiểm xã hội", "nghỉ phép", "Công ty TNHH",
    "Nguyễn Văn An", "0912345678", "+84912345678", "có", "không", "tiếp tục", "quay lại", "hủy",
    "MA ZZZ999", "ma: abc-123", "mã K7M2QX", "MA", "ma:", "mã ²²²²²²", "Phường Lê Chân",
    "Hải Phòng", "ok", "👍", "😀" * 50, "ß" * 40, "ﬀ" * 40, "İ" * 40, "\x00", "a\x00b",
    "\x1b[31mđỏ\x1b[0m", "\u202eabc", "\ufeff", "\u200b" * 10, "\r\n\t", "tên\x07công ty",
    "<b>x</b>", "{{code}}", "{code}", "%s %d", "'; DROP TABLE people; --", "\\", "\"",
    "Ế" * 129, "a" * 129, "Trần Thị Ngọc Ánh " * 8, "x" * 5000, "ế" * 5000, "1" * 300,
]  # fmt: skip


@dataclass
class Fuzzer:
    app: Any
    channel: CaptureChannel
    zalo: CaptureChannel
    rng: random.Random
    seen_payloads: list[str] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    history: list[Inbound] = field(default_factory=list)
    n: int = 0

    @property
    def commands(self) -> list[str]:
        return sorted(self.app.engine.commands)

    @property
    def prefixes(self) -> list[str]:
        return sorted(self.app.engine.payloads)

    def text(self) -> str:
        r = self.rng
        pick = r.random()
        if pick < 0.5:
            return r.choice(WORDS)
        if pick < 0.7:
            return " ".join(r.choice(WORDS) for _ in range(r.randint(2, 5)))
        if pick < 0.8:
            return r.choice(NUMBERS) or "5"
        if pick < 0.9:  # random code points, control characters and surrogates' neighbours
            return "".join(chr(r.choice([r.randint(0, 0x1F), r.randint(0x20, 0x2FF),
                                         r.randint(0x1F300, 0x1FAFF), r.randint(0xE000, 0xFFFF)]))
                           for _ in range(r.randint(1, 60)))  # fmt: skip
        return r.choice(["x", "ế", "😀", "\x01"]) * r.choice([129, 256, 1000, 4096, 5000])

    def args(self) -> str:
        r = self.rng
        parts = [r.choice(NUMBERS + WORDS[:30] + ["@ai_do", "TVPL-2026-0001", "-"])
                 for _ in range(r.randint(0, 3))]  # fmt: skip
        return " ".join(parts)

    def payload(self) -> str:
        """A forged payload of some feature, or a real one seen earlier with a field tampered."""
        r = self.rng
        if self.seen_payloads and r.random() < 0.5:
            fields = r.choice(self.seen_payloads).split(":")
            if len(fields) > 1 and r.random() < 0.8:
                fields[r.randrange(1, len(fields))] = r.choice([*NUMBERS, "x", "", "ß" * 40])
            return ":".join(fields)
        fields = [r.choice(self.prefixes)]
        for _ in range(r.randint(0, 4)):
            fields.append(r.choice([*NUMBERS, "new", "admit", "back", "yes", "no", "x", "1", "0"]))
        return ":".join(fields)

    def _inbound(self, user: str, kind: Kind, chat: str | None = None, **values: Any) -> Inbound:
        self.n += 1
        channel = self.zalo if user.startswith("z") else self.channel
        group = chat is not None
        return Inbound(
            Address(channel.name, chat or user),
            user,
            kind,
            dedupe_key=f"{channel.name}:fuzz:{self.n}",
            display_name=self.rng.choice(["Công nhân", "", "A" * 200, "\x00x", "😀"]),
            message_id=str(10_000 + self.n),
            chat_type="supergroup" if group else "private",
            sequence=self.n,
            **values,
        )

    def command(self, user: str, chat: str | None = None) -> Inbound:
        name = self.rng.choice(self.commands)
        args = self.args()
        text = f"/{name} {args}".strip()
        return self._inbound(user, Kind.COMMAND, chat, text=text, command=name, args=args)

    def event(self) -> Inbound:
        r = self.rng
        pick = r.random()
        if pick < 0.04 and self.history:  # a redelivery of something already handled
            return r.choice(self.history)
        if pick < 0.14:  # the staff group: lawyers and strangers, replies to cards, commands
            user = r.choice([STAFF["legal"], STAFF["staff"], r.choice(WORKERS)])
            reply_to = r.choice(self.message_ids) if self.message_ids and r.random() < 0.7 else None
            if r.random() < 0.4:
                return replace(self.command(user, GROUP), reply_to=reply_to)
            return self._inbound(user, Kind.TEXT, GROUP, text=self.text(), reply_to=reply_to,
                                 edited=r.random() < 0.1)  # fmt: skip
        user = r.choice(WORKERS * 3 + list(STAFF.values()) + ["z1", "z2", "z3"])
        if pick < 0.35:
            return self.command(user)
        if pick < 0.6:
            return self._inbound(user, Kind.BUTTON, payload=self.payload())
        if pick < 0.65:
            return self._inbound(user, Kind.CONTACT, phone=r.choice(["0912345678", "+1", "²"]))
        if pick < 0.68:
            return self._inbound(user, Kind.MEDIA, text=self.text(), media=("file-1",))
        return self._inbound(user, Kind.TEXT, text=self.text(), edited=r.random() < 0.1)

    def learn(self, outs: list[Outgoing]) -> None:
        for out in outs:
            if isinstance(out.content, Choices | RequestContact):
                for option in out.content.options:
                    if option.payload not in self.seen_payloads:
                        self.seen_payloads.append(option.payload)
        sent = self.channel.sent  # the capture channel's message id is the send's number
        for index in range(max(0, len(sent) - 20), len(sent)):
            if sent[index].address.chat_id == GROUP:
                self.message_ids.append(str(index + 1))
        self.app.texts.rendered.clear()  # the recording texts would keep every key ever shown
        del self.seen_payloads[:-400]
        del self.message_ids[:-50]


class Failures(logging.Handler):
    """Every ERROR the bot logs while fuzzed (the engine's "engine failed", jobs, the outbox)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _reason(record: logging.LogRecord) -> str:
    """A failure told apart by its error and where in the bot it was raised."""
    if not record.exc_info or record.exc_info[1] is None:
        return f"{record.name}: {record.getMessage()}"[:300]
    exc = record.exc_info[1]
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/tests/" not in f.filename]
    where = f"{frames[-1].filename.rsplit('/', 2)[-2:]}:{frames[-1].lineno}" if frames else "?"
    return f"{type(exc).__name__} at {where}: {exc}"[:300]


async def _fuzz(make_app: Any, clock: Any, url: str | None) -> dict[str, str]:
    """Runs the seeded events; returns the kinds of failure seen (reason -> first event), after
    checking that nobody is left stuck once they type /huy."""
    channel, zalo = CaptureChannel("telegram"), CaptureChannel("zalo", buttons=False)
    extra = {"legal": {"group_chat_id": GROUP, "topics": False}}
    app = await make_app(channel, zalo, extra=extra, url=url)
    async with app.db.transaction() as session:
        for role, user in STAFF.items():
            await people_repo.add_person(session, role=role, external_id=user, channel="telegram")
    fuzzer = Fuzzer(app, channel, zalo, random.Random(SEED))
    failures = Failures()
    logging.getLogger().addHandler(failures)
    error_text = app.texts("common.error")
    broken: dict[str, str] = {}  # what failed (first line of the error) -> the first event

    def check(what: str, outs: list[Outgoing]) -> None:
        for record in failures.records:
            broken.setdefault(_reason(record), what)
        if any(o.text == error_text for o in outs) and not failures.records:
            broken.setdefault("common.error without a log", what)
        failures.records.clear()

    try:
        for i in range(EVENTS):
            inbound = fuzzer.event()
            try:
                outs = await app.process(inbound)
            except Exception as exc:  # process itself must never raise for input
                broken.setdefault(f"process raised {exc!r}"[:300], repr(inbound)[:600])
                continue
            fuzzer.history.append(inbound)
            del fuzzer.history[:-200]
            fuzzer.learn(outs)
            check(f"event {i}: {inbound!r}"[:600], outs)
            if i % 250 == 249:
                clock.advance(hours=fuzzer.rng.choice([0, 1, 9, 30]))
                await app.flush_outbox()
                fuzzer.learn([])
                for job in app.engine.jobs:
                    await app.run_job(job.name)
                check(f"jobs and outbox after event {i}", [])
        if broken:
            return broken

        # Nobody is stuck: after /huy every person is outside any flow and gets a normal answer.
        async with app.db.session() as session:
            identities = (
                (await session.execute(ChannelIdentity.__table__.select())).mappings().all()
            )
        assert len(identities) > len(WORKERS)
        for identity in identities:
            user = identity["external_id"]
            cancel = fuzzer._inbound(user, Kind.COMMAND, text="/huy", command="huy")
            outs = await app.process(cancel)
            assert outs and all(o.text != error_text for o in outs), user
            async with app.db.session() as session:
                state = await contacts_repo.load_state(session, identity["contact_id"])
            assert state.flow is None, (user, state.flow, state.step)
            outs = await app.process(fuzzer._inbound(user, Kind.TEXT, text="xin chào"))
            assert outs and all(o.text != error_text for o in outs), user
        assert not failures.records, [_reason(r) for r in failures.records]
    finally:
        logging.getLogger().removeHandler(failures)
    return broken


def _report(broken: dict[str, str]) -> str:
    return f"seed {SEED}, {len(broken)} kinds of failure:\n" + "\n".join(
        f"- {reason}\n    first: {what}" for reason, what in broken.items()
    )


async def test_fuzz_sqlite(make_app, clock) -> None:
    broken = await _fuzz(make_app, clock, None)
    assert broken == {}, _report(broken)


async def test_fuzz_postgresql(make_app, clock, pg_url) -> None:
    broken = await _fuzz(make_app, clock, pg_url)
    assert broken == {}, _report(broken)
