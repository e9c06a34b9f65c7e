"""Engine throughput: 10,000 events from 1,000 workers through Engine.handle on a SQLite file.

Prints one JSON object: events/second and p50/p99 latency per event under a burst (queueing
included), then the service time of a button and of free text, handled one at a time in the
same database once the 1,000 workers are in it; medians over repeated runs.
Run: .venv/bin/python bench/engine.py [--events 10000 --workers 1000 --runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from bench._machine import machine, median, peak_rss_mb, percentile
from bot.app import build_app
from bot.config import Settings
from bot.core.events import Address, Inbound, Kind
from storage.crypto import new_key
from storage.migrate import upgrade_async
from storage.models import ChannelIdentity, Contact

TOPICS = ("role", "who", "dues", "fund", "protect", "no_union", "legal", "support")


def events(n_events: int, n_workers: int, first: int = 0) -> list[Inbound]:
    out = []
    for i in range(first, first + n_events):
        worker = str(100_000 + i % n_workers)
        address = Address("bench", worker)
        key = f"bench:{i}"
        if i < n_workers:
            out.append(Inbound(address, worker, Kind.COMMAND, key, command="start", text="/start"))
        elif i % 3 == 0:
            out.append(Inbound(address, worker, Kind.TEXT, key, text="xin chao cong doan"))
        else:
            payload = f"rights:{TOPICS[i % len(TOPICS)]}"
            out.append(Inbound(address, worker, Kind.BUTTON, key, payload=payload))
    return out


async def one_run(
    n_events: int, n_workers: int, concurrency: int, solo_events: int
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await upgrade_async(url)
        app = await build_app(Settings(database_url=url, data_key=new_key()), channels=[])
        latencies: list[float] = []
        queue = events(n_events, n_workers)
        position = 0

        async def worker() -> None:
            nonlocal position
            while position < len(queue):
                event = queue[position]
                position += 1
                start = time.perf_counter()
                await app.engine.handle(event)
                latencies.append(time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        # Service time: the same workers go on, one event at a time (no queueing).
        service: dict[Kind, list[float]] = {Kind.BUTTON: [], Kind.TEXT: []}
        for event in events(solo_events, n_workers, first=n_events):
            start = time.perf_counter()
            await app.engine.handle(event)
            service[event.kind].append(time.perf_counter() - start)
        await app.stop()
    return {
        "events_per_second": n_events / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "button_p50_ms": percentile(service[Kind.BUTTON], 50) * 1000,
        "button_p99_ms": percentile(service[Kind.BUTTON], 99) * 1000,
        "text_p50_ms": percentile(service[Kind.TEXT], 50) * 1000,
        "text_p99_ms": percentile(service[Kind.TEXT], 99) * 1000,
    }


def current_rss_mb() -> float:
    """Resident memory now (not the peak): /proc/self/statm, in pages."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


async def identity_cache_rss(n_identities: int) -> dict[str, float]:
    """The process's RSS before and after the engine has cached ``n_identities`` people: the
    identities are stored in bulk, then each is looked up through the engine's own path."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/identities.db"
        await upgrade_async(url)
        app = await build_app(Settings(database_url=url, data_key=new_key()), channels=[])
        now = datetime.now(UTC)
        people = range(1, n_identities + 1)
        async with app.db.transaction() as session:
            await session.execute(
                insert(Contact.__table__),
                [{"id": i, "created_at": now, "last_seen_at": now} for i in people],
            )
            await session.execute(
                insert(ChannelIdentity.__table__),
                [{"contact_id": i, "channel": "bench", "external_id": str(10**8 + i),
                  "chat_id": str(10**8 + i), "unreachable": False, "created_at": now}
                 for i in people],
            )  # fmt: skip
        gc.collect()
        before = current_rss_mb()
        for i in range(1, n_identities + 1):
            user = str(10**8 + i)
            await app.engine._identity_id(Inbound(Address("bench", user), user, Kind.TEXT, ""))
        gc.collect()
        after = current_rss_mb()
        cached = len(app.engine._identities)
        await app.stop()
    return {"cached_identities": cached, "rss_before_mb": before, "rss_after_mb": after}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--solo-events", type=int, default=3_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cached-identities", type=int, default=100_000)
    args = parser.parse_args()
    runs = [
        asyncio.run(one_run(args.events, args.workers, args.concurrency, args.solo_events))
        for _ in range(args.runs)
    ]

    def med(key: str) -> float:
        return round(median([r[key] for r in runs]), 2)

    result = {
        "benchmark": "engine.handle",
        "database": "sqlite (file, WAL)",
        "events": args.events,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "runs": args.runs,
        "events_per_second_median": med("events_per_second"),
        "p50_ms_median": med("p50_ms"),
        "p99_ms_median": med("p99_ms"),
        "latency_note": "p50/p99 above include queueing behind the other concurrent events",
        "service_note": f"one event at a time after the burst, {args.workers} workers stored",
        "service_button_p50_ms_median": med("button_p50_ms"),
        "service_button_p99_ms_median": med("button_p99_ms"),
        "service_button_goal_p99_ms": 5,
        "service_text_p50_ms_median": med("text_p50_ms"),
        "service_text_p99_ms_median": med("text_p99_ms"),
        "service_text_goal_p99_ms": 8,
        "peak_rss_mb": peak_rss_mb(),
        "identity_cache": asyncio.run(identity_cache_rss(args.cached_identities)),
        "machine": machine(),
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
