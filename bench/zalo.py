"""Zalo webhook throughput and acknowledgement latency against the real aiohttp app.

The real app (web server, inbox, engine, default features; a SQLite file in WAL mode, or
PostgreSQL with --pg) runs on
127.0.0.1 with the Zalo OA and Zalo Bot channels pointed at the fake servers of
tests/fakes/zalo.py. Each run posts a burst of signed OA events and secret-carrying Bot
Platform updates from many simulated workers (``--concurrency`` in flight, 500 by default:
Zalo's budget is 2 s to acknowledge, and a peak-month lunch break brings that many at once;
``--platform oa`` posts only signed OA events), and measures:

- acknowledged per second: events / time until the last HTTP 200;
- processed per second: events / time until every reply reached the fake platform;
- p99 time to acknowledge (ms): the 99th percentile of the per-request answer times.

By default the bot is the production command (`congdoan-bot run`) in a process of its own, as
it is deployed, and only the fakes and the posting client share this one; ``--in-process`` runs
the app inside the benchmark's event loop instead (the client then competes with it for the
same loop). Figures are medians over --runs runs, each on a fresh database. Prints one JSON
object.

    .venv/bin/python bench/zalo.py [--runs 5] [--events 1000] [--concurrency 500]
                                   [--platform both|oa|bot] [--in-process] [--pg]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._machine import machine, percentile  # noqa: E402
from bot.app import build_app  # noqa: E402
from bot.config import Settings  # noqa: E402
from storage.crypto import new_key  # noqa: E402
from tests.cluster import BotProcess  # noqa: E402
from tests.fakes.zalo import FakeZaloBot, FakeZaloOA, free_port  # noqa: E402
from tests.pgdb import fresh_pg_database  # noqa: E402

CONCURRENCY = 500
SECRET = "bench-zalo-bot-secret"


@contextlib.asynccontextmanager
async def database(pg: bool) -> AsyncIterator[str]:
    """A fresh database URL: a SQLite file, or a throw-away PostgreSQL database."""
    if not pg:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite+aiosqlite:///{tmp}/bench.db"
        return
    async with fresh_pg_database(prefix="congdoan_bench_zalo") as url:
        yield url


def zalo_env(oa_fake: FakeZaloOA, bot_fake: FakeZaloBot, bot_url: str) -> dict[str, str]:
    """The bot's Zalo settings for the fakes, as the environment gives them."""
    return {
        "ZALO_OA_APP_ID": oa_fake.app_id,
        "ZALO_OA_SECRET_KEY": oa_fake.secret_key,
        "ZALO_OA_ID": oa_fake.oa_id,
        "ZALO_APP_SECRET": oa_fake.app_secret,
        "ZALO_OA_ACCESS_TOKEN": oa_fake.access_token,
        "ZALO_OA_REFRESH_TOKEN": oa_fake.refresh_token,
        "ZALO_OA_API_BASE": oa_fake.url,
        "ZALO_OAUTH_BASE": oa_fake.url,
        "ZALO_BOT_TOKEN": bot_fake.token,
        "ZALO_BOT_API_BASE": bot_fake.api_base,
        "ZALO_BOT_SECRET": SECRET,
        "ZALO_BOT_WEBHOOK_URL": f"{bot_url}/webhooks/zalo-bot",
    }


@contextlib.asynccontextmanager
async def fakes() -> AsyncIterator[tuple[FakeZaloOA, FakeZaloBot]]:
    """The fake Zalo OA and Zalo Bot servers, started and closed."""
    oa_fake, bot_fake = FakeZaloOA(), FakeZaloBot()
    await oa_fake.start()
    await bot_fake.start()
    try:
        yield oa_fake, bot_fake
    finally:
        await oa_fake.close()
        await bot_fake.close()


async def one_run(
    events: int, concurrency: int, platform: str, pg: bool = False
) -> dict[str, float]:
    """The app in this event loop, its channels built from the same settings as the process."""
    async with fakes() as (oa_fake, bot_fake), database(pg) as url:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        extra = {k.lower(): v for k, v in zalo_env(oa_fake, bot_fake, base).items()}
        settings = Settings(database_url=url, data_key=new_key(), http_port=port, extra=extra)
        app = await build_app(settings, create_schema=True)
        await app.start(background=False)
        try:
            return await _burst(oa_fake, bot_fake, base, events, concurrency, platform)
        finally:
            await app.stop()


async def one_run_process(
    events: int, concurrency: int, platform: str, pg: bool = False
) -> dict[str, float]:
    """The bot as deployed: `congdoan-bot run` in its own process, configured by environment."""
    async with fakes() as (oa_fake, bot_fake), database(pg) as url:
        with tempfile.TemporaryDirectory() as logs:
            bot = BotProcess({}, Path(logs), "bench-zalo")
            env = {"DATABASE_URL": url, "CONGDOAN_DATA_KEY": new_key()}
            bot.env = {**env, **zalo_env(oa_fake, bot_fake, bot.url)}
            bot.start()
            try:
                await bot.ready()
                return await _burst(oa_fake, bot_fake, bot.url, events, concurrency, platform)
            finally:
                bot.stop()


async def _burst(
    oa_fake: FakeZaloOA,
    bot_fake: FakeZaloBot,
    base: str,
    events: int,
    concurrency: int,
    platform: str,
) -> dict[str, float]:
    # Every worker sends one message (one reply each): half the events on each platform, or
    # all on the one asked for.
    jobs = []
    for i in range(events):
        if platform == "oa" or (platform == "both" and i % 2 == 0):
            event = oa_fake.text(f"oa-{i}", "xin chao")
            jobs.append(("oa", event))
        else:
            jobs.append(("bot", bot_fake.text(f"bot-{i}", "xin chao")))
    gate = asyncio.Semaphore(concurrency)
    acks: list[float] = []
    statuses: list[int] = []

    async def post(kind: str, payload: dict[str, Any]) -> None:
        async with gate:
            if kind == "oa":
                status, seconds = await oa_fake.post_event(f"{base}/webhooks/zalo-oa", payload)
            else:
                status, seconds = await bot_fake.post_webhook(
                    f"{base}/webhooks/zalo-bot", payload, secret=SECRET
                )
            acks.append(seconds)
            statuses.append(status)

    started = time.perf_counter()
    await asyncio.gather(*(post(kind, payload) for kind, payload in jobs))
    acked = time.perf_counter() - started
    while len(oa_fake.sent) + len(bot_fake.sent) < events:
        if time.perf_counter() - started > 300:
            raise TimeoutError("replies did not all arrive")
        await asyncio.sleep(0.005)
    processed = time.perf_counter() - started
    if set(statuses) != {200} or oa_fake.violations or bot_fake.violations:
        raise RuntimeError(f"bad run: {set(statuses)} {oa_fake.violations} {bot_fake.violations}")
    return {
        "acknowledged_per_s": events / acked,
        "processed_per_s": events / processed,
        "p99_ack_ms": percentile(acks, 99) * 1000,
        "median_ack_ms": statistics.median(acks) * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="posts in flight")
    parser.add_argument("--platform", choices=("both", "oa", "bot"), default="both")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL (CONGDOAN_TEST_PG)")
    parser.add_argument("--in-process", action="store_true", help="the app in this event loop")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    run = one_run if args.in_process else one_run_process
    runs = [
        asyncio.run(run(args.events, args.concurrency, args.platform, args.pg))
        for _ in range(args.runs)
    ]

    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in runs), 1)

    print(
        json.dumps(
            {
                "benchmark": "zalo_webhooks",
                "events_per_run": args.events,
                "runs": args.runs,
                "concurrency": args.concurrency,
                "platform": args.platform,
                "bot": "in this process" if args.in_process else "congdoan-bot run (own process)",
                "database": "postgresql" if args.pg else "sqlite (file, WAL)",
                "webhook_events_acknowledged_per_s": median("acknowledged_per_s"),
                "webhook_events_processed_per_s": median("processed_per_s"),
                "p99_ack_ms": median("p99_ack_ms"),
                "median_ack_ms": median("median_ack_ms"),
                "per_run": [{k: round(v, 1) for k, v in r.items()} for r in runs],
                "machine": machine(),
                "load_average_1min": round(os.getloadavg()[0], 2),
            },
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
