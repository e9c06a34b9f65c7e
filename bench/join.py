"""Benchmark: many workers joining the union at the same moment (a campaign day at a factory).

Each worker is an asyncio task that walks the whole join conversation through ``App.process``
(the real engine, form runner, encryption and SQLite file in WAL mode): menu button, consent,
name, phone, company, area search and pick, union status, size, lead question, job, "Gửi".
All workers start at once and answer each step the moment it arrives (lockstep: each step
waits for the same step of the 999 others — the stress figure the goal is set on). Printed as
ONE JSON object: completed joins per second and the per-step latency (p50, p99), each the
median over repeated runs; once more at a human pace (``human_pace``: 2–6 s to answer a
step); and the machine it ran on.

    .venv/bin/python bench/join.py [--workers 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select

from bot.app import FEATURES, App, build_app
from bot.channels.base import Capabilities, Channel
from bot.config import Settings
from bot.core.events import Address, Inbound, Kind, Outgoing, Receipt
from storage.crypto import new_key
from storage.membership import MemberApplication

JOIN_FEATURES = FEATURES
# A person reading a step and typing the answer on a cheap phone: seconds, not milliseconds.
HUMAN_PAUSE_S = (2.0, 6.0)


class NullChannel(Channel):
    """Accepts every message at once: we measure the bot, not a network. Like a platform call
    it gives the loop a turn (``sleep(0)``): the event path itself no longer suspends on the
    loop's SQLite thread, and without a turn here each worker would finish its whole
    conversation before the next one began, hiding the queue this benchmark measures."""

    name = "bench"
    capabilities = Capabilities(buttons=True, max_text=4096, can_message_first=True)

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, out: Outgoing) -> Receipt:
        self.sent += 1
        await asyncio.sleep(0)
        return Receipt(message_id=str(self.sent))


def _steps(n: int) -> list[tuple[Kind, str]]:
    """One worker's conversation: (kind, text or payload)."""
    return [
        (Kind.COMMAND, "start"),
        (Kind.BUTTON, "join:start"),
        (Kind.BUTTON, "consent_join:yes"),
        (Kind.TEXT, "nguyễn thị hoa"),
        (Kind.TEXT, f"09{n:08d}"[:10]),
        (Kind.TEXT, f"Công ty May Sông Hồng {n % 50}"),
        (Kind.TEXT, "le chan"),
        (Kind.BUTTON, "form:pick:11383"),
        (Kind.BUTTON, "form:pick:no"),
        (Kind.BUTTON, "form:pick:100_499"),
        (Kind.BUTTON, "form:pick:no"),
        (Kind.TEXT, "công nhân may"),
        (Kind.BUTTON, "form:submit"),
    ]


def _inbound(user: str, seq: int, kind: Kind, value: str) -> Inbound:
    base: dict[str, Any] = {"dedupe_key": f"bench:{user}:{seq}", "message_id": str(seq)}
    if kind is Kind.COMMAND:
        base.update(text=f"/{value}", command=value)
    elif kind is Kind.BUTTON:
        base.update(payload=value)
    else:
        base.update(text=value)
    return Inbound(Address("bench", user), user, kind, **base)


async def _join_app(directory: Path, label: str) -> App:
    db = directory / f"{label}-{time.monotonic_ns()}.db"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{db}", data_key=new_key())
    return await build_app(
        settings, channels=[NullChannel()], create_schema=True, features=JOIN_FEATURES
    )


async def _walk(
    app: App, user: str, n: int, latencies: list[float], pauses: list[float] | None = None
) -> None:
    """One worker's whole conversation, each step's latency appended; ``pauses`` between."""
    for seq, (kind, value) in enumerate(_steps(n)):
        started = time.perf_counter()
        await app.process(_inbound(user, seq, kind, value))
        latencies.append(time.perf_counter() - started)
        if pauses is not None:
            await asyncio.sleep(pauses[seq])


def _p99_ms(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _step_ms(latencies: list[float]) -> dict[str, float]:
    return {"step_p50_ms": 1000 * statistics.median(latencies), "step_p99_ms": _p99_ms(latencies)}


async def solo_latency(directory: Path, workers: int = 20) -> float:
    """p99 step latency with one worker at a time: the floor under the queueing of a burst."""
    app = await _join_app(directory, "solo")
    latencies: list[float] = []
    for n in range(workers):
        await _walk(app, str(n), n, latencies)
    await app.stop()
    return _p99_ms(latencies)


async def paced_run(workers: int, directory: Path, pause: tuple[float, float]) -> dict[str, float]:
    """The same 1,000 starting within one second, each taking ``pause`` seconds (uniform,
    seeded) to read and answer a step as a person on a phone does: what a lunch-break crowd
    at a QR poster feels, beside the lockstep stress of ``one_run``."""
    app = await _join_app(directory, "paced")
    latencies: list[float] = []
    rng = random.Random(16)
    pauses = [[rng.uniform(*pause) for _ in _steps(0)] for _ in range(workers)]

    async def worker(n: int) -> None:
        await asyncio.sleep(rng.random())
        await _walk(app, str(200000 + n), n, latencies, pauses[n])

    await asyncio.gather(*(worker(n) for n in range(workers)))
    await app.stop()
    return _step_ms(latencies)


async def one_run(workers: int, directory: Path) -> dict[str, float]:
    app = await _join_app(directory, "join")
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(_walk(app, str(100000 + n), n, latencies) for n in range(workers)))
    elapsed = time.perf_counter() - started
    async with app.db.session() as session:
        completed = int(await session.scalar(select(func.count(MemberApplication.id))) or 0)
    await app.stop()
    if completed != workers:  # the scripted steps no longer match the join form
        raise RuntimeError(f"{completed} of {workers} joins completed: fix _steps()")
    return {
        "completed": completed,
        "seconds": elapsed,
        "joins_per_second": completed / elapsed,
        **_step_ms(latencies),
    }


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "system": f"{platform.system()} {platform.release()}",
    }


async def main(workers: int, runs: int) -> dict[str, Any]:
    results = []
    with tempfile.TemporaryDirectory(prefix="congdoan-bench-") as tmp:
        solo = await solo_latency(Path(tmp))
        for _ in range(runs):
            results.append(await one_run(workers, Path(tmp)))
        paced = await paced_run(workers, Path(tmp), HUMAN_PAUSE_S)
    steps = len(_steps(0))

    def median(key: str, digits: int) -> float:
        return round(statistics.median(r[key] for r in results), digits)

    return {
        "benchmark": "join",
        "workers_at_once": workers,
        "steps_per_join": steps,
        "runs": runs,
        "database": "sqlite file (WAL)",
        "joins_per_second_median": median("joins_per_second", 1),
        "step_p50_ms_median": median("step_p50_ms", 2),
        "step_p99_ms_median": median("step_p99_ms", 2),
        "step_p99_ms_one_worker_at_a_time": round(solo, 2),
        "human_pace": {
            "pause_between_steps_s": list(HUMAN_PAUSE_S),
            "step_p50_ms": round(paced["step_p50_ms"], 2),
            "step_p99_ms": round(paced["step_p99_ms"], 2),
        },
        "completed_joins_min": min(r["completed"] for r in results),
        "per_run": [{k: round(v, 2) for k, v in r.items()} for r in results],
        "machine": machine(),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.workers, args.runs)), ensure_ascii=False))
