"""Engine throughput: 10,000 events from 1,000 workers through Engine.handle on a SQLite file.

Prints one JSON object: events/second and p50/p99 latency per event, medians over repeated runs.
Run: .venv/bin/python bench/engine.py [--events 10000 --workers 1000 --runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._machine import machine, median, peak_rss_mb, percentile
from bot.app import build_app
from bot.config import Settings
from bot.core.events import Address, Inbound, Kind
from storage.crypto import new_key
from storage.migrate import upgrade_async

TOPICS = ("role", "who", "dues", "fund", "protect", "no_union", "legal", "support")


def events(n_events: int, n_workers: int) -> list[Inbound]:
    out = []
    for i in range(n_events):
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


async def one_run(n_events: int, n_workers: int, concurrency: int) -> dict[str, float]:
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
        await app.stop()
    return {
        "events_per_second": n_events / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [
        asyncio.run(one_run(args.events, args.workers, args.concurrency)) for _ in range(args.runs)
    ]
    # Service time without queueing: the same mix handled one event at a time.
    solo = [asyncio.run(one_run(2_000, 200, 1)) for _ in range(args.runs)]
    result = {
        "benchmark": "engine.handle",
        "database": "sqlite (file, WAL)",
        "events": args.events,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "runs": args.runs,
        "events_per_second_median": round(median([r["events_per_second"] for r in runs]), 1),
        "p50_ms_median": round(median([r["p50_ms"] for r in runs]), 2),
        "p99_ms_median": round(median([r["p99_ms"] for r in runs]), 2),
        "latency_note": "p50/p99 above include queueing behind the other concurrent events",
        "one_at_a_time_events_per_second_median": round(
            median([r["events_per_second"] for r in solo]), 1
        ),
        "one_at_a_time_p50_ms_median": round(median([r["p50_ms"] for r in solo]), 2),
        "one_at_a_time_p99_ms_median": round(median([r["p99_ms"] for r in solo]), 2),
        "peak_rss_mb": peak_rss_mb(),
        "machine": machine(),
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
