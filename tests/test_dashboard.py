"""The dashboard's sign-in, sessions, CSRF and scope, through HTTP (no browser needed)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import build_web_app
from storage import membership as repo
from storage import web_sessions
from tests import dashboard_seed as seed
from tests.driver import CaptureChannel, Chat

STAFF = "7001"
OFFICER = "7002"
VOLUNTEER = "7003"
WORKER = "7100"
BODY_A, BODY_B = "Công đoàn phường Lê Chân", "Công đoàn phường Ngô Quyền"


@pytest.fixture
async def site(make_app: Any, clock: Any) -> Any:
    channel = CaptureChannel("telegram")
    app = await make_app(channel, extra={"staff": {"staff": [STAFF]}})
    crypto = app.engine.services.crypto
    async with app.db.transaction() as session:
        await seed.officer(session, crypto, OFFICER, BODY_A, "membership")
        await seed.officer(session, crypto, VOLUNTEER, None, "volunteer")
        contact = await seed.worker(session, WORKER)
        a = await seed.application(session, crypto, contact_id=contact, union_body=BODY_A,
                                   at=clock(), name="Phạm Văn Nam")  # fmt: skip
        b = await seed.application(session, crypto, contact_id=contact, union_body=BODY_B,
                                   at=clock(), phone="0987654321")  # fmt: skip
        ids = {"a": a.id, "b": b.id, "ref_a": a.reference}
    client = TestClient(TestServer(build_web_app(app)))
    await client.start_server()
    yield app, client, channel, ids
    await client.close()


async def link_for(app: Any, channel: CaptureChannel, user: str) -> str:
    chat = Chat(app, channel, user_id=user)
    await chat.send("/dangnhap")
    match = re.search(r"/dangnhap/(\S+)", chat.text)
    assert match, chat.text
    return match.group(1)


async def sign_in(client: TestClient, token: str) -> Any:
    return await client.post(f"/dangnhap/{token}", allow_redirects=False)


async def test_link_signs_in_once_and_sets_a_strict_cookie(site: Any) -> None:
    app, client, channel, _ = site
    token = await link_for(app, channel, OFFICER)
    assert len(token) >= 43  # 256 bits, url-safe base64
    page = await client.get(f"/dangnhap/{token}")
    assert page.status == 200 and "Đăng nhập" in await page.text()
    response = await sign_in(client, token)
    assert response.status == 303 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    again = await sign_in(client, token)
    assert again.status == 410 and "đã được dùng" in await again.text()
    async with app.db.session() as session:
        stored = [row.token_hash for row in await session.scalars(select(web_sessions.LoginLink))]
    assert token not in stored  # only the hash is kept


async def test_secure_cookie_behind_https_proxy_and_sub_path(site: Any) -> None:
    app, client, channel, _ = site
    token = await link_for(app, channel, STAFF)
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Prefix": "/bang"}
    page = await client.get(f"/dangnhap/{token}", headers=headers)
    assert f'action="/bang/dangnhap/{token}"' in await page.text()
    response = await client.post(f"/dangnhap/{token}", headers=headers, allow_redirects=False)
    assert response.headers["Location"] == "/bang/"
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "Path=/bang/" in cookie


async def test_expired_and_unknown_links_are_refused(site: Any, clock: Any) -> None:
    app, client, channel, _ = site
    token = await link_for(app, channel, OFFICER)
    clock.advance(minutes=11)
    response = await sign_in(client, token)
    assert response.status == 410 and "hết hạn" in await response.text()
    response = await sign_in(client, token[:-4] + "AAAA")
    assert response.status == 404 and "không đúng" in await response.text()


async def test_links_are_rate_limited_and_refused_to_non_staff(site: Any) -> None:
    app, _, channel, _ = site
    chat = Chat(app, channel, user_id=OFFICER)
    for _ in range(web_sessions.LINKS_PER_WINDOW):
        await chat.send("/dangnhap")
        assert "dashboard.login.link" in chat.keys
    await chat.send("/dangnhap")
    assert "dashboard.login.too_many" in chat.keys and "/dangnhap/" not in chat.text
    worker = Chat(app, channel, user_id=WORKER)
    await worker.send("/dangnhap")
    assert "dashboard.login.not_staff" in worker.keys


async def test_scope_csrf_and_sign_out(site: Any) -> None:
    app, client, channel, ids = site
    await sign_in(client, await link_for(app, channel, OFFICER))
    own = await client.get(f"/don/{ids['a']}")
    assert own.status == 200 and "Phạm Văn Nam" in await own.text()
    other = await client.get(f"/don/{ids['b']}")
    assert other.status == 404
    posted = await client.post(f"/don/{ids['b']}/duyet", data={"csrf": "x"})
    assert posted.status in (403, 404)
    no_token = await client.post(f"/don/{ids['a']}/duyet", data={})
    assert no_token.status == 403
    async with app.db.session() as session:
        assert (await session.get(repo.MemberApplication, ids["a"])).status == repo.PENDING
    page = await (await client.get("/tongquan")).text()
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    done = await client.post(f"/don/{ids['a']}/duyet", data={"csrf": csrf}, allow_redirects=False)
    assert done.status == 303
    async with app.db.session() as session:
        assert (await session.get(repo.MemberApplication, ids["a"])).status == repo.ADMITTED
    await client.post("/dangxuat", data={"csrf": csrf})
    after = await client.get("/don", allow_redirects=False)
    assert after.status == 303 and after.headers["Location"] == "/dangnhap"


async def test_volunteer_cannot_open_applications(site: Any) -> None:
    app, client, channel, ids = site
    await sign_in(client, await link_for(app, channel, VOLUNTEER))
    response = await client.get(f"/don/{ids['a']}")
    assert response.status == 404
    assert "Phạm Văn Nam" not in await response.text()


async def test_idle_session_ends(site: Any, clock: Any) -> None:
    app, client, channel, _ = site
    await sign_in(client, await link_for(app, channel, STAFF))
    assert (await client.get("/tongquan", allow_redirects=False)).status == 200
    clock.advance(hours=8, minutes=1)
    assert (await client.get("/tongquan", allow_redirects=False)).status == 303


async def test_sign_in_token_is_not_in_the_access_log(site: Any, caplog: Any) -> None:
    from bot.dashboard.site import RedactingAccessLogger

    app, _, channel, _ = site
    token = await link_for(app, channel, STAFF)
    logger = logging.getLogger("test.access")
    access = RedactingAccessLogger(logger, "")

    class Req:
        path, method, remote = f"/dangnhap/{token}", "GET", "127.0.0.1"

    class Resp:
        status = 200

    with caplog.at_level(logging.INFO, logger="test.access"):
        access.log(Req(), Resp(), 0.01)  # type: ignore[arg-type]
    assert caplog.records and token not in caplog.text and "/dangnhap/" in caplog.text


def test_csrf_token_is_bound_to_the_session() -> None:
    one, two = "a" * 43, "b" * 43
    assert web_sessions.csrf_matches(one, web_sessions.csrf_token(one))
    assert not web_sessions.csrf_matches(two, web_sessions.csrf_token(one))
    assert not web_sessions.csrf_matches(one, "")
    assert timedelta(hours=8) == web_sessions.SESSION_IDLE
