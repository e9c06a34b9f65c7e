"""Scale-out: events/s and bot CPU per event for 1, 2 and 3 `congdoan-bot run` processes.

The production layout of deploy/ on one machine: N real `congdoan-bot run` processes in webhook
mode on one PostgreSQL and one Redis, a round-robin balancer in front (tests/cluster.py, what
nginx does), the fake Bot API on 127.0.0.1 playing Telegram (40 webhook connections at most,
one user's next update after the previous was acknowledged). The outbound pace is lifted so the
bot's own work is measured. Each user first sends /start (not counted), then /menu and /trogiup.

Reported per process count, medians over the runs: events/s (from the first webhook to the last
reply), bot CPU per event (user + system CPU of the bot processes over the run, divided by the
events; the goal is three processes within 1.2x of one, so throughput grows with cores), and
RSS per process. The fake, the balancer and the driver share this script's process and its
CPU, which caps what the numbers can show on a small machine.

Prints one JSON object. Run: .venv/bin/python bench/scale.py [--users 100 --messages 5 --runs 3]
Needs PostgreSQL (CONGDOAN_TEST_PG) and Redis (REDIS_URL, default 127.0.0.1:6379).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._machine import machine, median
from storage.crypto import new_key
from storage.migrate import upgrade_async
from tests.cluster import (
    Balancer,
    BotProcess,
    deliver_in_order,
    forget_pace,
    redis_reachable,
)
from tests.fakes.telegram import SPEC_PATH, FakeTelegram
from tests.pgdb import PG_ADMIN_URL, fresh_pg_database, pg_reachable_async

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "bench-scale-secret"
FIRST_USER = 600_000


async def one_run(n_processes: int, n_users: int, n_messages: int) -> dict[str, float]:
    token = f"{random.randint(10**8, 10**9)}:bench-{uuid.uuid4().hex[:10]}"
    async with (
        fresh_pg_database(prefix="congdoan_bench") as url,
        FakeTelegram(token) as fake,
    ):
        await upgrade_async(url)
        processes: list[BotProcess] = []
        balancer = Balancer(processes)
        env = {
            "DATABASE_URL": url,
            "REDIS_URL": REDIS_URL,
            "TELEGRAM_BOT_TOKEN": token,
            "TELEGRAM_API_BASE": fake.base_url,
            "TELEGRAM_WEBHOOK_URL": balancer.url,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "CONGDOAN_DATA_KEY": new_key(),
            "TELEGRAM_MESSAGES_PER_SECOND": "1000000",
            "TELEGRAM_PER_CHAT_PER_SECOND": "1000000",
        }
        with tempfile.TemporaryDirectory() as logs:
            processes.extend(BotProcess(env, Path(logs), f"bot{n}") for n in range(n_processes))
            try:
                for process in processes:
                    process.start()
                await asyncio.gather(*(p.ready() for p in processes))
                await balancer.start()
                users = [FIRST_USER + n for n in range(n_users)]
                for user in users:
                    fake.add_user(user)
                starts = {u: [fake.send_text(u, "/start", queue=False)] for u in users}
                await deliver_in_order(fake, starts, balancer.url, SECRET)
                await fake.wait_until(lambda: len(fake.sent) >= n_users, timeout=300)
                load = {
                    u: [
                        fake.send_text(u, ("/menu", "/trogiup")[i % 2], queue=False)
                        for i in range(n_messages)
                    ]
                    for u in users
                }
                events = n_users * n_messages
                before = len(fake.sent)
                cpu_before = sum(p.cpu_seconds() for p in processes)
                started = time.perf_counter()
                await deliver_in_order(fake, load, balancer.url, SECRET)
                await fake.wait_until(lambda: len(fake.sent) - before >= events, timeout=600)
                elapsed = time.perf_counter() - started
                cpu = sum(p.cpu_seconds() for p in processes) - cpu_before
                rss = [p.rss_bytes() / 2**20 for p in processes]
            finally:
                for process in processes:
                    process.stop()
                await balancer.stop()
                await forget_pace(REDIS_URL, token)
    return {
        "events_per_second": events / elapsed,
        "cpu_ms_per_event": cpu * 1000 / events,
        "rss_mb_per_process": max(rss),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--messages", type=int, default=5, help="per user, after /start")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", default="1,2,3")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    problems = []
    if not SPEC_PATH.exists():
        problems.append(f"missing {SPEC_PATH}")
    if not asyncio.run(pg_reachable_async()):
        problems.append(f"PostgreSQL not reachable at {PG_ADMIN_URL}")
    if not asyncio.run(redis_reachable(REDIS_URL)):
        problems.append(f"Redis not reachable at {REDIS_URL}")
    if problems:
        print(json.dumps({"benchmark": "scale", "error": "; ".join(problems)}))
        sys.exit(1)
    counts = [int(n) for n in args.processes.split(",")]
    runs: dict[int, list[dict[str, float]]] = {n: [] for n in counts}
    for _ in range(args.runs):
        for n in counts:  # alternate, so a noisy neighbour hits every count alike
            runs[n].append(asyncio.run(one_run(n, args.users, args.messages)))
    result: dict[str, object] = {
        "benchmark": "scale",
        "layout": "N x `congdoan-bot run` (webhook) -> PostgreSQL + Redis, round-robin balancer",
        "users": args.users,
        "events_per_run": args.users * args.messages,
        "runs": args.runs,
    }
    for n in counts:
        result[f"processes_{n}"] = {
            key: round(median([r[key] for r in runs[n]]), 2) for key in runs[n][0]
        } | {"events_per_second_runs": [round(r["events_per_second"], 1) for r in runs[n]]}
    if 1 in runs and len(counts) > 1:
        base = median([r["cpu_ms_per_event"] for r in runs[1]])
        eps = median([r["events_per_second"] for r in runs[1]])
        for n in counts[1:]:
            result[f"ratio_cpu_per_event_{n}_to_1"] = round(
                median([r["cpu_ms_per_event"] for r in runs[n]]) / base, 3
            )
            result[f"ratio_events_per_second_{n}_to_1"] = round(
                median([r["events_per_second"] for r in runs[n]]) / eps, 3
            )
    result["machine"] = machine()
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
