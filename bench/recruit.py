"""Recruitment at the federation's scale: /leads and /bangxephang response times.

Fills a database with 50,000 enterprises (one lead each), 200,000 lead status changes and
500,000 members (member applications, 30% of them arriving through 1,000 collaborators'
invitations over four campaigns), bulk-inserted with SQLAlchemy core, then times the two commands
end to end through the engine (identity, transaction, handler, rendering), repeated, on SQLite
and on PostgreSQL (skipped with a note when unreachable). Prints ONE JSON object, including the
query plans of the two hot queries so a missing index shows up as a full scan.

    .venv/bin/python bench/recruit.py [--scale 0.1] [--runs 25] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import (  # noqa: E402
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    text,
)
from sqlalchemy.types import JSON  # noqa: E402

from bot.app import FEATURES, build_app  # noqa: E402
from bot.channels.base import Capabilities, Channel  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.core.areas import load_areas  # noqa: E402
from bot.core.events import Address, Inbound, Kind, Outgoing, Receipt  # noqa: E402
from handlers.referral import InviteConfig  # noqa: E402
from storage.crypto import DataCipher, new_key  # noqa: E402
from tests.pgdb import PG_ADMIN_URL, fresh_pg_database, pg_reachable_async  # noqa: E402

PG_ADMIN = PG_ADMIN_URL
NOW = datetime(2027, 5, 15, 3, 0, tzinfo=UTC)  # inside the bench's current campaign
CHUNK = 5000
BANDS = (("lt20", 30), ("20_24", 10), ("25_99", 30), ("100_499", 18), ("500plus", 5),
         ("unknown", 7))  # fmt: skip
TIER = {"25_99": 3, "100_499": 3, "500plus": 3, "20_24": 2, "unknown": 1, "lt20": 0}
ORDER = {"500plus": 5, "100_499": 4, "25_99": 3, "20_24": 2, "unknown": 1, "lt20": 0}
PROGRESS = ("claimed", "contacted", "core_group", "founded")
COMPANY_WORDS = ("May", "Dệt", "Giày", "Điện tử", "Cơ khí", "Nhựa", "Bao bì", "Thép", "Gỗ",
                 "Thực phẩm", "Logistics", "Linh kiện", "Kính", "Sơn", "Hoá chất")  # fmt: skip


class NullChannel(Channel):
    name = "telegram"
    capabilities = Capabilities(buttons=True, max_text=4096, can_message_first=True)

    async def send(self, out: Outgoing) -> Receipt:
        return Receipt(message_id="1")


def _bands(rng: random.Random, n: int) -> list[str]:
    names, weights = zip(*BANDS, strict=True)
    return rng.choices(names, weights=weights, k=n)


async def _insert(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        await conn.execute(insert(table), rows[start : start + CHUNK])


def _filler(table: Table, i: int, known: dict[str, Any]) -> dict[str, Any]:
    """A row for another feature's table: the known columns, and a plain value for every other
    NOT NULL column without a default (so the bench survives that table growing columns)."""
    row = dict(known)
    for col in table.columns:
        if col.name in row or col.primary_key or col.nullable or col.default is not None:
            continue
        if col.server_default is not None:
            continue
        kind = col.type.python_type if hasattr(col.type, "impl") else None
        if isinstance(col.type, String) or kind is str:
            row[col.name] = f"{col.name[:6]}{i}"[: col.type.length or 64]
        elif isinstance(col.type, Boolean):
            row[col.name] = False
        elif isinstance(col.type, DateTime) or kind is datetime:
            row[col.name] = NOW
        elif isinstance(col.type, JSON):
            row[col.name] = {}
        else:
            row[col.name] = 0
    return row


def applications_table() -> tuple[Table, bool]:
    """The join feature's member applications, or a stand-in of the same shape."""
    try:
        from storage.membership import MemberApplication
    except ImportError:
        meta = MetaData()
        table = Table(
            "member_applications", meta,
            Column("id", Integer, primary_key=True),
            Column("contact_id", Integer, index=True),
            Column("status", String(16)),
            Column("created_at", DateTime(timezone=True)),
        )  # fmt: skip
        return table, False
    return MemberApplication.__table__, True  # type: ignore[return-value]


async def seed(app: Any, scale: float, rng: random.Random) -> dict[str, Any]:
    from storage.enterprises import Enterprise, Lead, LeadReport, LeadStatusChange
    from storage.models import Contact
    from storage.people import Person, PersonArea
    from storage.recruitment import Attribution, Campaign, ReferralCode

    n_ent = int(50_000 * scale)
    n_changes = int(200_000 * scale)
    n_members = int(500_000 * scale)
    n_collab, n_vol = max(10, int(1000 * scale)), max(5, int(200 * scale))
    areas = [a.code for a in load_areas(ROOT / "content" / "areas.csv")]
    cipher: DataCipher = app.engine.services.crypto
    apps, real_apps = applications_table()
    t0 = NOW - timedelta(days=400)
    async with app.db.engine.begin() as conn:
        if not real_apps:
            await conn.run_sync(apps.metadata.create_all)
        await _insert(conn, Campaign.__table__, [
            {"id": i + 1, "code": f"C{i + 1}", "name": f"Chiến dịch {i + 1}",
             "starts_on": date(2026, 5 + 2 * i, 1), "ends_on": date(2026, 5 + 2 * i, 28),
             "source": "staff", "created_at": t0}
            for i in range(3)
        ] + [{"id": 4, "code": "T5-2027", "name": "Tháng Công nhân 2027",
              "starts_on": date(2027, 5, 1), "ends_on": date(2027, 5, 31), "source": "staff",
              "created_at": t0}])  # fmt: skip
        people = []
        for i in range(n_collab):
            people.append({"id": i + 1, "role": "collaborator", "channel": "telegram",
                           "external_id": f"c{i}", "name_enc": cipher.encrypt(f"Cộng tác viên {i}"),
                           "active": True, "created_at": t0})  # fmt: skip
        for j in range(n_vol + 1):
            people.append({"id": n_collab + j + 1, "role": "volunteer", "channel": "telegram",
                           "external_id": f"v{j}", "name_enc": cipher.encrypt(f"TNV {j}"),
                           "active": True, "created_at": t0})  # fmt: skip
        await _insert(conn, Person.__table__, people)
        person_areas = []
        for j in range(n_vol + 1):
            for code in rng.sample(areas, 3):
                person_areas.append({"person_id": n_collab + j + 1, "area_code": code})
        await _insert(conn, PersonArea.__table__, person_areas)
        await _insert(conn, ReferralCode.__table__, [
            {"id": i + 1, "code": f"B{i:05d}", "person_id": i + 1, "purpose": "join",
             "active": True, "created_at": t0}
            for i in range(n_collab)
        ])  # fmt: skip
        await _insert(conn, Contact.__table__, [
            {"id": i + 1, "created_at": t0, "last_seen_at": t0} for i in range(n_members)
        ])  # fmt: skip
        attributions, applications = [], []
        statuses = rng.choices(("admitted", "pending", "returned"), (80, 15, 5), k=n_members)
        for i in range(n_members):
            arrived = t0 + timedelta(minutes=rng.randrange(400 * 24 * 60))
            if rng.random() < 0.3:
                referrer = rng.randrange(n_collab) + 1
                attributions.append({
                    "contact_id": i + 1, "code_id": referrer, "referrer_id": referrer,
                    "campaign_id": rng.choice((1, 2, 3, 4, 4, None)), "channel": "zalo",
                    "created_at": arrived,
                })  # fmt: skip
            applications.append(_filler(apps, i, {
                "contact_id": i + 1, "status": statuses[i],
                "created_at": arrived + timedelta(hours=1), "updated_at": arrived,
                "reference": f"KN-B-{i:07d}", "channel": "zalo", "union_body": "LĐLĐ",
                "union_status": "no", "size_band": "25_99",
            } if real_apps else {
                "contact_id": i + 1, "status": statuses[i],
                "created_at": arrived + timedelta(hours=1),
            }))  # fmt: skip
        await _insert(conn, Attribution.__table__, attributions)
        await _insert(conn, apps, applications)
        del applications
        bands = _bands(rng, n_ent)
        enterprises, leads, reports = [], [], []
        for i in range(n_ent):
            area = rng.choice(areas)
            name = f"Công ty TNHH {rng.choice(COMPANY_WORDS)} Hải Phòng {i}"
            count = 1 + (rng.random() < 0.3) + (rng.random() < 0.1)
            made = t0 + timedelta(minutes=rng.randrange(390 * 24 * 60))
            enterprises.append({
                "id": i + 1, "name": name, "name_key": f"haiphong{i}", "area_code": area,
                "size_band": bands[i], "union_status": "no", "report_count": count,
                "created_at": made, "last_reported_at": made,
            })  # fmt: skip
            leads.append({
                "id": i + 1, "enterprise_id": i + 1, "area_code": area, "status": "new",
                "size_tier": TIER[bands[i]], "size_order": ORDER[bands[i]],
                "report_count": count, "contact_ok": False, "source": "report",
                "opened_at": made, "announced_at": made, "created_at": made,
                "updated_at": made,
            })  # fmt: skip
            for _ in range(count):
                credited = rng.random() < 0.1
                reports.append({
                    "lead_id": i + 1, "contact_ok": False, "source": "report",
                    "size_band": bands[i], "created_at": made,
                    "referrer_id": rng.randrange(n_collab) + 1 if credited else None,
                    "campaign_id": rng.choice((1, 2, 3, 4)) if credited else None,
                })  # fmt: skip
        changes = [{"lead_id": i + 1, "to_status": "new", "created_at": leads[i]["created_at"]}
                   for i in range(n_ent)]  # fmt: skip
        while len(changes) < n_changes:
            lead = leads[rng.randrange(n_ent)]
            step = PROGRESS.index(lead["status"]) + 1 if lead["status"] in PROGRESS else 0
            if step >= len(PROGRESS):
                continue
            volunteer = n_collab + rng.randrange(n_vol) + 1
            at = lead["updated_at"] + timedelta(days=rng.randrange(1, 20))
            changes.append({"lead_id": lead["id"], "from_status": lead["status"],
                            "to_status": PROGRESS[step], "person_id": volunteer,
                            "created_at": at})  # fmt: skip
            lead.update(status=PROGRESS[step], updated_at=at, last_progress_at=at)
            if step == 0:
                lead.update(claimed_by=volunteer, claimed_at=at)
        for lead in leads:
            lead["is_open"] = lead["status"] != "founded"
            lead.setdefault("claimed_by", None)
            lead.setdefault("claimed_at", None)
            lead.setdefault("last_progress_at", None)
        await _insert(conn, Enterprise.__table__, enterprises)
        await _insert(conn, Lead.__table__, leads)
        await _insert(conn, LeadReport.__table__, reports)
        await _insert(conn, LeadStatusChange.__table__, changes)
        if conn.dialect.name == "postgresql":
            for table in ("people", "referral_codes", "contacts", "enterprises", "leads",
                          "campaigns"):  # fmt: skip
                await conn.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"))  # fmt: skip
        await conn.execute(text("ANALYZE"))
    return {
        "enterprises": n_ent,
        "leads": n_ent,
        "lead_status_changes": len(changes),
        "lead_reports": len(reports),
        "members": n_members,
        "attributions": len(attributions),
        "attributions_current_campaign": sum(a["campaign_id"] == 4 for a in attributions),
        "collaborators": n_collab,
        "volunteers": n_vol + 1,
        "member_applications_table": "storage.membership" if real_apps else "stand-in",
    }


async def _timed(app: Any, user: str, command: str, args: str, runs: int) -> dict[str, Any]:
    times, text_out = [], ""
    for _ in range(runs):
        inbound = Inbound(
            Address("telegram", user), user, Kind.COMMAND, dedupe_key=uuid.uuid4().hex,
            text=f"/{command} {args}".strip(), command=command, args=args,
        )  # fmt: skip
        start = time.perf_counter()
        outs = await app.engine.handle(inbound)
        times.append((time.perf_counter() - start) * 1000)
        text_out = outs[0].text if outs else ""
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(len(times) * 0.95) - 1 if len(times) > 1 else 0], 2),
        "min_ms": round(times[0], 2),
        "runs": runs,
        "reply_starts": text_out[:70],
    }


async def _plans(app: Any) -> dict[str, list[str]]:
    """EXPLAIN of the statements the repositories really run for each command."""
    from sqlalchemy.dialects import postgresql, sqlite

    from storage import enterprises as leads_repo
    from storage import recruitment as recruit_repo

    captured: dict[str, list[Any]] = {"leads": [], "bangxephang": [], "standings_refresh": []}
    async with app.db.transaction() as session:
        real_execute = session.execute
        current = "leads"

        async def spy(statement: Any, *a: Any, **kw: Any) -> Any:
            if not isinstance(statement, type(text(""))):
                captured[current].append(statement)
            return await real_execute(statement, *a, **kw)

        session.execute = spy  # type: ignore[method-assign]
        await leads_repo.open_leads(session, ["11383", "11407", "11914"], limit=8)
        campaign = await recruit_repo.campaign_by_code(session, "T5-2027")
        current = "bangxephang"
        await recruit_repo.standings(session, campaign, NOW, timedelta(days=1))
        current = "standings_refresh"
        await recruit_repo.leaderboard(session, campaign.id)
        session.execute = real_execute  # type: ignore[method-assign]
        dialect = postgresql.dialect() if not app.db.is_sqlite else sqlite.dialect()
        prefix = "EXPLAIN QUERY PLAN " if app.db.is_sqlite else "EXPLAIN "
        plans: dict[str, list[str]] = {}
        for name, statements in captured.items():
            lines: list[str] = []
            for statement in statements:
                if getattr(statement, "is_dml", False):
                    continue
                compiled = statement.compile(
                    dialect=dialect, compile_kwargs={"literal_binds": True}
                )
                rows = await real_execute(text(prefix + str(compiled)))
                lines += [str(r[-1]) for r in rows]
            plans[name] = lines
        await session.rollback()
    return plans


def _full_scans(plans: dict[str, list[str]]) -> list[str]:
    """Full scans of a big table on the request path (the background recount may hash-join)."""
    big = ("leads", "enterprises", "attributions", "member_applications", "lead_reports")
    bad = []
    for name in ("leads", "bangxephang"):
        for line in plans.get(name, []):
            words = line.replace('"', "").split()
            if "SCAN" in words and "INDEX" not in words and any(w in big for w in words):
                bad.append(f"{name}: {line}")  # SQLite: a table scanned without an index
            if "Seq Scan on" in line and any(f" {t} " in f"{line} " for t in big):
                bad.append(f"{name}: {line.strip()}")  # PostgreSQL
    return bad


async def _refresh_times(app: Any, runs: int) -> dict[str, Any]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await app.run_job("recruit.standings", NOW)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"median_ms": round(statistics.median(times), 2), "max_ms": round(times[-1], 2),
            "runs": runs}  # fmt: skip


async def run_one(url: str, scale: float, runs: int) -> dict[str, Any]:
    settings = Settings(
        database_url=url,
        data_key=new_key(),
        extra={"telegram": {"bot_username": "congdoan_bench_bot"}, "staff": {"staff": ["staff0"]}},
    )
    features = FEATURES
    app = await build_app(settings, channels=[NullChannel()], clock=lambda: NOW,
                          create_schema=True, features=features)  # fmt: skip
    try:
        started = time.perf_counter()
        rows = await seed(app, scale, random.Random(20270515))
        seeded = time.perf_counter() - started
        volunteer = "v0"  # three areas, ~700 open leads at full scale
        collaborator = "c0"
        await _timed(app, volunteer, "leads", "", 3)  # warm-up (identity, caches)
        await _timed(app, "staff0", "leads", "", 2)
        leads = await _timed(app, volunteer, "leads", "", runs)
        leads_page = await _timed(app, volunteer, "leads", "5", runs)
        leads_staff = await _timed(app, "staff0", "leads", "", runs)
        refresh = await _refresh_times(app, max(3, runs // 5))
        await _timed(app, collaborator, "bangxephang", "", 2)
        board = await _timed(app, collaborator, "bangxephang", "", runs)
        services = app.engine.services
        invites = services.config(InviteConfig)
        services.set_config(replace(invites, leaderboard_minutes=0))
        board_recount = await _timed(app, collaborator, "bangxephang", "", max(3, runs // 5))
        services.set_config(invites)
        plans = await _plans(app)
        return {
            "rows": rows,
            "seed_seconds": round(seeded, 1),
            "leads": leads,
            "leads_page_5": leads_page,
            "leads_staff_all_areas": leads_staff,
            "bangxephang": board,
            "bangxephang_recounting_inline": board_recount,
            "standings_refresh_job": refresh,
            "query_plans": plans,
            "full_scans_on_request_path": _full_scans(plans),
        }
    finally:
        await app.stop()


async def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = the full sizes")
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--pg", default=PG_ADMIN, help="admin URL of a PostgreSQL server")
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {
        "benchmark": "recruit",
        "scale": args.scale,
        "what": "engine.handle() of /leads (a volunteer with 3 areas; staff: all areas) and "
        "/bangxephang (current campaign: reads the snapshot the scheduler refreshes every 5 "
        "minutes; also timed recounting inline, and the refresh job alone), median over "
        "repeated runs after ANALYZE",
    }
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        result["sqlite"] = await run_one(url, args.scale, args.runs)
    if args.no_pg:
        result["postgresql"] = {"skipped": "--no-pg"}
    else:
        if not await pg_reachable_async(args.pg, connect_timeout=3):
            result["postgresql"] = {"skipped": f"PostgreSQL not reachable at {args.pg}"}
        else:
            async with fresh_pg_database(args.pg, prefix="congdoan_bench") as url:
                result["postgresql"] = await run_one(url, args.scale, args.runs)
    return result


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(asyncio.run(main()), ensure_ascii=False))
