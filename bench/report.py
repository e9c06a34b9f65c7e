"""The federation's figures at scale: the overview page, the quarterly workbook, peak memory.

Seeds 500,000 members (applications, 80% admitted, spread over 20 union bodies and 400 days),
50,000 enterprises with their leads and status history (bench/recruit.py's seed) and 20,000
legal cases, then times GET /tongquan through the real dashboard (signed in as city staff:
session, queries, template) and the quarterly workbook (all union bodies, one sheet each), on
SQLite and on PostgreSQL (skipped with a note when unreachable). Prints ONE JSON object.
Goals: overview under 1 s on SQLite and 0.5 s on PostgreSQL, the workbook under 10 s.

    .venv/bin/python bench/report.py [--scale 0.1] [--runs 10] [--no-pg]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from bench import recruit  # noqa: E402
from bench._machine import machine, peak_rss_mb  # noqa: E402
from bot.app import FEATURES, build_app, build_web_app  # noqa: E402
from bot.config import Settings  # noqa: E402
from storage.crypto import new_key  # noqa: E402
from tests.pgdb import PG_ADMIN_URL, fresh_pg_database, pg_reachable_async  # noqa: E402

BODIES = 20
NOW = recruit.NOW  # 2027-05-15: the second quarter of 2027 is the one reported


async def seed(app: Any, scale: float) -> dict[str, Any]:
    rows = await recruit.seed(app, scale, random.Random(20270515))
    from storage.cases import LegalCase

    n_cases = int(20_000 * scale)
    rng = random.Random(7)
    async with app.db.engine.begin() as conn:
        # recruit's seed gives every application one body and no decision date; spread them
        # over the bodies and decide the admitted ones a few days after they applied.
        if conn.dialect.name == "postgresql":
            await conn.execute(text(
                "UPDATE member_applications SET union_body = 'Công đoàn số ' || (id % :n), "
                "decided_at = CASE WHEN status = 'admitted' "
                "THEN created_at + interval '3 days' END"), {"n": BODIES})  # fmt: skip
        else:
            await conn.execute(text(  # the text form the app stores (microseconds included)
                "UPDATE member_applications SET union_body = 'Công đoàn số ' || (id % :n), "
                "decided_at = CASE WHEN status = 'admitted' "
                "THEN datetime(created_at, '+3 days') || '.000000' END"),
                {"n": BODIES})  # fmt: skip
        cases = []
        for i in range(n_cases):
            created = NOW - timedelta(minutes=rng.randrange(400 * 24 * 60))
            answered = (
                created + timedelta(hours=rng.uniform(0.2, 30)) if rng.random() < 0.9 else None
            )
            cases.append({
                "contact_id": (i % rows["members"]) + 1, "channel": "telegram",
                "chat_id": str(i), "status": "answered" if answered else "open",
                "question_enc": "x", "named": False, "card_posted": True,
                "awaiting_worker": False, "created_at": created, "first_response_at": answered,
            })  # fmt: skip
        for start in range(0, len(cases), recruit.CHUNK):
            await conn.execute(insert(LegalCase.__table__), cases[start : start + recruit.CHUNK])
        if conn.dialect.name != "postgresql":
            await conn.execute(text("ANALYZE"))
    if app.db.engine.dialect.name == "postgresql":
        # What autovacuum does on a live database: statistics, and the visibility map that lets
        # a count read the index alone (a bulk load leaves every page "not all-visible", so each
        # index entry would cost a heap visit that no running system pays).
        autocommit = app.db.engine.execution_options(isolation_level="AUTOCOMMIT")
        async with autocommit.connect() as conn:
            await conn.execute(text("VACUUM (ANALYZE)"))
    rows["legal_cases"] = n_cases
    rows["union_bodies"] = BODIES
    return rows


async def _sign_in(app: Any, client: TestClient) -> None:
    from storage import web_sessions

    async with app.db.transaction() as session:
        token = await web_sessions.create_login_link(session, "telegram", "staff0", NOW)
    response = await client.post(f"/dangnhap/{token}", allow_redirects=False)
    assert response.status == 303, response.status


def _summary(times: list[float], cpu: list[float]) -> dict[str, Any]:
    """Wall-clock times, and this process's CPU time per run (client, app and, on SQLite, the
    database itself): on a machine shared with other work the wall clock includes waiting for
    a CPU, the CPU time does not."""
    times.sort()
    return {"median_ms": round(statistics.median(times), 1), "min_ms": round(times[0], 1),
            "max_ms": round(times[-1], 1), "cpu_median_ms": round(statistics.median(cpu), 1),
            "runs": len(times)}  # fmt: skip


async def run_one(url: str, scale: float, runs: int) -> dict[str, Any]:
    from bot.reports.workbook import quarterly_workbook

    settings = Settings(database_url=url, data_key=new_key(),
                        extra={"staff": {"staff": ["staff0"]}})  # fmt: skip
    app = await build_app(settings, channels=[recruit.NullChannel()], clock=lambda: NOW,
                          create_schema=True, features=FEATURES)  # fmt: skip
    client = TestClient(TestServer(build_web_app(app)))
    await client.start_server()
    try:
        started = time.perf_counter()
        rows = await seed(app, scale)
        seeded = time.perf_counter() - started
        await _sign_in(app, client)
        overview, overview_cpu = [], []
        for _ in range(runs + 1):
            start, cpu = time.perf_counter(), time.process_time()
            response = await client.get("/tongquan")
            body = await response.text()
            overview.append((time.perf_counter() - start) * 1000)
            overview_cpu.append((time.process_time() - cpu) * 1000)
            assert response.status == 200 and "Tổng quan" in body
        overview, overview_cpu = overview[1:], overview_cpu[1:]  # the first warms the templates
        workbook, workbook_cpu, size = [], [], 0
        tracemalloc.start()
        for _ in range(max(1, runs // 5)):
            start, cpu = time.perf_counter(), time.process_time()
            async with app.db.session() as session:
                data = await quarterly_workbook(session, app.engine.services, 2027, 2, NOW)
            workbook.append((time.perf_counter() - start) * 1000)
            workbook_cpu.append((time.process_time() - cpu) * 1000)
            size = len(data)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return {
            "rows": rows,
            "seed_seconds": round(seeded, 1),
            "overview_page": _summary(overview, overview_cpu),
            "quarterly_workbook": {
                **_summary(workbook, workbook_cpu),
                "bytes": size,
                "sheets": 5 + BODIES,
            },
            "load_average_1m": round(os.getloadavg()[0], 1),
            "workbook_peak_python_mb": round(peak / 2**20, 1),
            "process_peak_rss_mb": peak_rss_mb(),
        }
    finally:
        await client.close()
        await app.stop()


async def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = the full sizes")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--pg", default=PG_ADMIN_URL)
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {
        "benchmark": "report",
        "scale": args.scale,
        "machine": machine(),
        "what": "GET /tongquan signed in as city staff (median of repeated runs after one "
        "warm-up) and the 2027Q2 workbook with a sheet per union body; goals: overview < 1 s "
        "SQLite, < 0.5 s PostgreSQL, workbook < 10 s",
    }
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        result["sqlite"] = await run_one(url, args.scale, args.runs)
    if args.no_pg:
        result["postgresql"] = {"skipped": "--no-pg"}
    else:
        if not await pg_reachable_async(args.pg):
            result["postgresql"] = {"skipped": f"PostgreSQL not reachable at {args.pg}"}
        else:
            async with fresh_pg_database(args.pg, prefix="congdoan_bench") as url:
                result["postgresql"] = await run_one(url, args.scale, args.runs)
    return result


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(asyncio.run(main()), ensure_ascii=False))
