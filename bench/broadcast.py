"""Announcement throughput against the fake Bot API that enforces Telegram's flood cap.

N subscribers (SQLite file, the real schema) receive one announcement through the real sender
(``handlers.broadcast_send.Broadcaster``) and the real ``TelegramChannel`` (aiogram, HTTP on
127.0.0.1) against ``FakeTelegram(rate_cap=...)``, which answers 429 + retry_after to anything
above ``--cap`` messages in any sliding second (or above 1 a second per chat). The fake runs in
a process of its own, as Telegram is another machine: its clock is not slowed by the bot's own
work. The bot's pace is
``--pace`` x cap. Reported per run and as medians: the achieved rate (accepted messages from
the first to the last) over the cap (goal >= 0.97), the most messages the fake accepted in one
sliding second (must stay <= cap), the 429s seen and how many of the refused chats got their
message afterwards (all must), duplicates (must be 0), and the projected time for 500,000
recipients at the measured ratio of Telegram's real 30/s (and of the paid-broadcast 1,000/s).
The pace leaves 1 % of the cap free, so a request that reaches the fake more than about 10 ms
late behind the thirty before it is refused and retried: on a loaded machine (the 1-minute load
average is printed) the 429s, and so the lost time, grow.

``--cap`` defaults to 30 (Telegram's number: 10,000 recipients then take about 6 minutes);
a higher cap scales the test, not the rule. Prints one JSON object.
Run: .venv/bin/python bench/broadcast.py [--recipients 10000 --cap 30 --runs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._machine import machine, median
from bot.channels.telegram import TelegramChannel
from bot.channels.throttle import Pace, Rate, Throttle
from bot.config import ROOT
from bot.core.texts import Texts
from handlers.broadcast_send import BroadcastConfig, Broadcaster
from storage.db import Database
from storage.migrate import upgrade_async
from tests.broadcast_helpers import new_broadcast, seed_subscribers
from tests.fakes.telegram import FakeTelegram, RateCap

TEXT = "Tháng Công nhân 2027 bắt đầu!"


async def serve_fake(first: int, recipients: int, cap: float) -> None:
    """The capped fake Bot API on its own event loop (a separate process, as Telegram is):
    prints its address, and when a line arrives on stdin, what it saw, as JSON."""
    async with FakeTelegram(rate_cap=RateCap(per_second=cap, per_chat_per_second=1)) as fake:
        for user in range(first, first + recipients):
            fake.add_user(user)
        print(json.dumps({"token": fake.token, "base_url": fake.base_url}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        got = Counter(s.chat_id for s in fake.sent if s.text.startswith(TEXT))
        refused = [r.chat_id for r in fake.rate_limited]
        report = {
            "delivered": len(got),
            "duplicates": sum(n - 1 for n in got.values()),
            "achieved_per_s": fake.accepted_rate(),
            "max_in_one_second": fake.max_in_window(),
            "429_seen": len(refused),
            "429_retried": sum(1 for c in refused if got[c] == 1),
            "every_429_retried": all(got[c] == 1 for c in refused),
        }
        print(json.dumps(report), flush=True)


async def one_run(recipients: int, cap: float, pace: float) -> dict[str, object]:
    first = 1_000_001
    server = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve-fake", "--recipients", str(recipients),
        "--cap", str(cap), "--first", str(first),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert server.stdin is not None and server.stdout is not None
    fake = json.loads(await server.stdout.readline())
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        await upgrade_async(url)
        db = Database(url)
        users = list(range(first, first + recipients))
        now = datetime.now(UTC)
        await seed_subscribers(db, users, now=now)
        bid = await new_broadcast(db, now, text=TEXT)
        texts = Texts.load(ROOT / "content" / "vi", {"hotline": "1800", "federation": "LĐLĐ"})
        throttle = Throttle(Pace(messages_per_second=cap * pace, private=Rate(1, 1)))
        channel = TelegramChannel(fake["token"], api_base=fake["base_url"], throttle=throttle)
        config = BroadcastConfig(
            quiet_start=datetime.min.time(),
            quiet_end=datetime.min.time(),
            telegram_per_second=cap * pace,
        )
        sender = Broadcaster(db, texts, {"telegram": channel}, config=config)
        started = time.perf_counter()
        progress = await sender.run(bid)
        wall = time.perf_counter() - started
        await channel.stop()
        await db.dispose()
    server.stdin.write(b"report\n")
    await server.stdin.drain()
    seen = json.loads(await server.stdout.readline())
    await server.wait()
    rate = float(seen.pop("achieved_per_s"))
    return {
        "wall_s": round(wall, 2),
        **seen,
        "achieved_per_s": round(rate, 2),
        "ratio_to_cap": round(rate / cap, 4),
        "429_requeued_by_sender": progress.rate_limited,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--cap", type=float, default=30.0)
    parser.add_argument("--pace", type=float, default=0.99, help="the bot's pace, x cap")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=1_000_001, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.serve_fake:
        asyncio.run(serve_fake(args.first, args.recipients, args.cap))
        return
    runs = [asyncio.run(one_run(args.recipients, args.cap, args.pace)) for _ in range(args.runs)]
    ratio = median([float(r["ratio_to_cap"]) for r in runs])
    print(
        json.dumps(
            {
                "benchmark": "broadcast",
                "recipients": args.recipients,
                "cap_per_s": args.cap,
                "pace_x_cap": args.pace,
                "runs": runs,
                "median_ratio_to_cap": ratio,
                "goal_ratio": 0.97,
                "projected_500k_hours_at_30_per_s": round(500_000 / (30 * ratio) / 3600, 2),
                "projected_500k_minutes_paid_1000_per_s": round(500_000 / (1000 * ratio) / 60, 1),
                "load_average_1m": round(os.getloadavg()[0], 1),
                "machine": machine(),
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
