"""The staff dashboard in a real headless Chromium, with the bot on the fake Telegram server.

One story, as a membership officer and a city staff member would live it: ask the bot for a
link with /dangnhap, sign in, find a used link refused, read the overview, admit an application
and see the worker's message arrive on Telegram, get 404 for another union body's application,
have a form without its CSRF token refused, sign out. Screenshots of every page are saved in the
test's temporary folder (their paths are printed) for a person to look at.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from storage import membership as repo
from tests import dashboard_seed as seed

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("CI"):
        raise RuntimeError("chromium and chromedriver are missing: `make test` installs them")
    pytest.skip(
        "chromium/chromedriver missing (`make test` installs them)", allow_module_level=True
    )

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CITY_STAFF = 5001
OFFICER_A = 5002
WORKER_A = 1001
WORKER_B = 1002
BODY_A = "Công đoàn phường Lê Chân"
BODY_B = "Công đoàn các khu công nghiệp"


CITY_PAGES = (
    ("doanhnghiep", "Doanh nghiệp"),
    ("tuvan", "Tư vấn pháp luật"),
    ("cauhoi", "Câu hỏi chưa trả lời được"),
    ("chiendich", "Chiến dịch"),
    ("muctieu", "Mục tiêu và đơn vị"),
    ("baocao", "Báo cáo quý"),
)


class Browser:
    """Selenium is synchronous; every call runs in a thread so the bot's event loop (which
    serves the pages) keeps running while the browser waits for it."""

    def __init__(self, shots: Path) -> None:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM or ""
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--disable-gpu", "--window-size=412,915", "--lang=vi"):  # fmt: skip
            options.add_argument(arg)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER or ""), options=options)
        self.driver.set_page_load_timeout(30)
        self.shots = shots
        shots.mkdir(parents=True, exist_ok=True)

    async def get(self, url: str) -> None:
        await asyncio.to_thread(self.driver.get, url)

    async def click(self, css: str) -> None:
        """Click a button that submits a form, and wait for the next page to load."""
        await asyncio.to_thread(self._click_and_wait, css)

    def _click_and_wait(self, css: str) -> None:
        old = self.driver.find_element(By.TAG_NAME, "html")
        self.driver.find_element(By.CSS_SELECTOR, css).click()
        wait = WebDriverWait(self.driver, 20)
        wait.until(_left(old))
        wait.until(lambda d: d.execute_script("return document.readyState") == "complete")

    async def submit_without_csrf(self, form_css: str) -> None:
        """Submit a form after removing its CSRF field, as a forged request would arrive."""

        def run() -> None:
            old = self.driver.find_element(By.TAG_NAME, "html")
            self.driver.execute_script(
                "const f = document.querySelector(arguments[0]);"
                "f.querySelector('input[name=csrf]').remove(); f.submit();",
                form_css,
            )
            WebDriverWait(self.driver, 20).until(_left(old))

        await asyncio.to_thread(run)

    async def text(self, css: str = "body") -> str:
        element = await asyncio.to_thread(self.driver.find_element, By.CSS_SELECTOR, css)
        return await asyncio.to_thread(lambda: element.text)

    async def script(self, code: str) -> Any:
        return await asyncio.to_thread(self.driver.execute_script, code)

    async def shot(self, name: str) -> Path:
        """A full-page screenshot at phone width."""
        height = await self.script("return document.documentElement.scrollHeight")
        await asyncio.to_thread(self.driver.set_window_size, 412, max(915, int(height) + 40))
        path = self.shots / f"{name}.png"
        await asyncio.to_thread(self.driver.save_screenshot, str(path))
        await asyncio.to_thread(self.driver.set_window_size, 412, 915)
        print(f"screenshot: {path}")
        return path

    @property
    def url(self) -> str:
        return self.driver.current_url

    def quit(self) -> None:
        self.driver.quit()


def _left(old: Any) -> Any:
    """The page was replaced: like staleness_of, but Chromium sometimes reports a node of the
    old document as "does not belong to the document" instead of stale, which means the same."""

    def check(_driver: Any) -> bool:
        try:
            old.is_enabled()
        except WebDriverException:
            return True
        return False

    return check


async def login_link_from_bot(fake: Any, user_id: int) -> str:
    """Type /dangnhap on Telegram and read the link out of the bot's reply."""
    before = len(fake.sent_to(user_id))
    fake.send_text(user_id, "/dangnhap")
    sent = await fake.wait_for(user_id, before + 1, timeout=10)
    match = re.search(r"http://\S+/dangnhap/\S+", sent[-1].text)
    assert match, sent[-1].text
    return match.group(0)


async def test_staff_dashboard_in_chromium(make_app, tmp_path: Path) -> None:
    from bot.channels.telegram import TelegramChannel
    from bot.channels.throttle import unlimited
    from tests.fakes.telegram import FakeTelegram, skip_without_spec

    skip_without_spec()
    async with FakeTelegram() as fake:
        for user in (CITY_STAFF, OFFICER_A, WORKER_A, WORKER_B):
            fake.add_user(user)
        channel = TelegramChannel(
            fake.token, api_base=fake.base_url, poll_timeout=1, throttle=unlimited()
        )
        app = await make_app(
            channel,
            url=f"sqlite+aiosqlite:///{tmp_path / 'dash.db'}",
            http_port=0,
            extra={"staff": {"staff": [str(CITY_STAFF)]}, "join": {"review_days": 7}},
        )
        crypto = app.engine.services.crypto
        now = app.engine.clock()
        async with app.db.transaction() as session:
            await seed.officer(session, crypto, OFFICER_A, BODY_A, "membership")
            a = await seed.application(
                session, crypto, contact_id=await seed.worker(session, WORKER_A),
                union_body=BODY_A, at=now, name="Trần Văn Hùng",
            )  # fmt: skip
            b = await seed.application(
                session, crypto, contact_id=await seed.worker(session, WORKER_B),
                union_body=BODY_B, at=now, name="Lê Thị Mai",
            )  # fmt: skip
            app_a, app_b, ref_a = a.id, b.id, a.reference
        app.serve_dashboard = True
        await app.start()
        base = app.http_url
        assert base is not None
        browser = Browser(tmp_path / "screenshots")
        try:
            # -- an officer of body A signs in with the link the bot sent
            link = await login_link_from_bot(fake, OFFICER_A)
            link = base + _path(link)  # the configured address; served on port 0 here
            await browser.get(link)
            await browser.shot("01-dang-nhap")
            await browser.click("#dang-nhap")
            assert "/tongquan" in browser.url
            overview = await browser.text()
            assert "Tổng quan" in overview and "Đơn đang chờ duyệt" in overview
            assert await browser.text("#so-cho") == "1"  # body A only: B's application is out
            assert BODY_B not in overview
            await browser.shot("02-tong-quan")

            # -- the same link again is refused with a clear page
            await browser.get(link)
            assert "đã được dùng" in await browser.text()
            await browser.shot("03-lien-ket-da-dung")

            # -- the queue shows A's application, with the name the officer needs
            await browser.get(base + "don")
            queue = await browser.text()
            assert ref_a in queue and "Trần Văn Hùng" in queue and "Lê Thị Mai" not in queue
            await browser.shot("04-don-gia-nhap")

            # -- B's application by URL: not found
            await browser.get(base + f"don/{app_b}")
            assert "Không tìm thấy" in await browser.text()
            await browser.shot("05-ngoai-pham-vi")

            # -- a form whose CSRF token was removed is refused (403), nothing changes
            await browser.get(base + f"don/{app_a}")
            await browser.shot("06-chi-tiet-don")
            await browser.submit_without_csrf('form[action$="/duyet"]')
            assert "Yêu cầu bị từ chối" in await browser.text()
            async with app.db.session() as session:
                assert (await session.get(repo.MemberApplication, app_a)).status == repo.PENDING

            # -- admit: the worker hears it on Telegram
            await browser.get(base + f"don/{app_a}")
            before = len(fake.sent_to(WORKER_A))
            await browser.click("#duyet")
            assert "Đã xử lý đơn" in await browser.text("#thong-bao")
            await browser.shot("07-da-duyet")
            sent = await fake.wait_for(WORKER_A, before + 2, timeout=10)
            told = sent[before].text
            assert "/thedoanvien" in sent[before + 1].text  # then the membership card
            assert ref_a in told and f"đã được {BODY_A} duyệt" in told
            async with app.db.session() as session:
                row = await session.get(repo.MemberApplication, app_a)
                assert row.status == repo.ADMITTED
                actions = [e.action for e in await repo.audit_entries(session)]
            assert "application.admitted" in actions and "web.viewed_application" in actions

            # -- sign out: the pages ask to sign in again
            await browser.click(".signout button")
            assert "/dangnhap" in browser.url
            await browser.get(base + "don")
            assert "/dangnhap" in browser.url and "/dangnhap" in await browser.text()
            assert ref_a not in await browser.text()
            await browser.shot("08-da-dang-xuat")

            # -- city staff see every union body
            await browser.get(base + _path(await login_link_from_bot(fake, CITY_STAFF)))
            await browser.click("#dang-nhap")
            city = await browser.text()
            assert BODY_B in city and BODY_A in city
            await browser.shot("09-tong-quan-thanh-pho")
            for n, (path, heading) in enumerate(CITY_PAGES, start=10):
                await browser.get(base + path)
                assert heading in await browser.text("h1"), path
                await browser.shot(f"{n:02d}-{path.split('?')[0].replace('/', '-')}")
        finally:
            browser.quit()
        fake.assert_clean()


def _path(link: str) -> str:
    return link.split("/", 3)[3]
