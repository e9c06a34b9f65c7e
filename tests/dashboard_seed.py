"""Known records for the dashboard and report tests: applications, leads, cases, targets.

Written through the features' own repository functions, so the figures the tests expect are
the ones the bot itself would have stored.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_web_app
from storage import contacts as contacts_repo
from storage import membership as repo
from storage.people import add_person
from tests.driver import Chat


async def worker(session: Any, telegram_id: int | str, channel: str = "telegram") -> int:
    """A worker's contact with one chat account; returns the contact id."""
    identity = await contacts_repo.resolve_identity(
        session, channel, str(telegram_id), str(telegram_id)
    )
    return identity.contact_id


async def application(
    session: Any,
    crypto: Any,
    *,
    contact_id: int,
    union_body: str,
    at: datetime,
    channel: str = "telegram",
    name: str = "Nguyễn Thị Lan",
    phone: str = "+84912345678",  # stored as the join form stores it (E.164)
    status: str = repo.PENDING,
    decided_at: datetime | None = None,
) -> repo.MemberApplication:
    app = await repo.create_application(
        session,
        repo.NewApplication(
            contact_id=contact_id,
            channel=channel,
            name_enc=crypto.encrypt(name),
            phone_enc=crypto.encrypt(phone),
            phone_hash=crypto.lookup_hash(phone),
            company_enc=crypto.encrypt("Công ty TNHH May Hải Phòng"),
            job_enc=crypto.encrypt("Công nhân may"),
            area_code=None,
            union_body=union_body,
            union_status="no",
            size_band="100_499",
        ),
        now=at,
    )
    if status != repo.PENDING:
        repo.set_status(session, app, status, actor="seed", now=decided_at or at)
    return app


async def officer(
    session: Any, crypto: Any, telegram_id: int | str, union_body: str | None, role: str
) -> None:
    await add_person(
        session,
        role=role,
        external_id=str(telegram_id),
        name_enc=crypto.encrypt("Cán bộ thử"),
        union_body=union_body,
    )


@asynccontextmanager
async def signed_in_clients(app: Any, channel: Any) -> AsyncIterator[Any]:
    """``client_for(user)``: a dashboard client signed in by that chat account's /dangnhap
    link, as staff sign in; every client is closed at the end."""
    clients: list[TestClient] = []

    async def client_for(user: str) -> TestClient:
        client = TestClient(TestServer(build_web_app(app)))
        await client.start_server()
        clients.append(client)
        chat = Chat(app, channel, user_id=user)
        await chat.send("/dangnhap")
        token = re.search(r"/dangnhap/(\S+)", chat.text).group(1)
        await client.post(f"/dangnhap/{token}")
        return client

    try:
        yield client_for
    finally:
        for client in clients:
            await client.close()
