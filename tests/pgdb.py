"""Throw-away PostgreSQL databases for tests and benchmarks: one helper, one naming scheme.

``CONGDOAN_TEST_PG`` is the admin URL (default: the local trust database ``test``). Each user gets
a database of its own (random name) and drops it afterwards, so several suites share a server.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

PG_ADMIN_URL = os.environ.get("CONGDOAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


async def pg_reachable_async(admin_url: str = PG_ADMIN_URL, connect_timeout: float = 2) -> bool:
    import asyncpg

    try:
        conn = await asyncpg.connect(admin_url, timeout=connect_timeout)
    except Exception:
        return False
    await conn.close()
    return True


def pg_reachable(admin_url: str = PG_ADMIN_URL) -> bool:
    return asyncio.run(pg_reachable_async(admin_url))


@asynccontextmanager
async def fresh_pg_database(
    admin_url: str = PG_ADMIN_URL, prefix: str = "congdoan_test"
) -> AsyncIterator[str]:
    """Create an empty PostgreSQL database, yield its SQLAlchemy URL, drop it afterwards."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(admin_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
