"""Shared fixtures: settings on in-memory SQLite, app factories, chat drivers, PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.app import FEATURES, App, build_app
from bot.config import ROOT, Settings
from bot.tables import load_models
from storage.crypto import new_key
from tests.driver import CaptureChannel, Chat, install_recording_texts
from tests.pgdb import PG_ADMIN_URL, fresh_pg_database, pg_reachable

load_models()  # tests that open a Database without build_app still see every table

__all__ = ["PG_ADMIN_URL", "fresh_pg_database"]

SHARED = ROOT.parent / "shared"


def shared_file(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: put the shared/ folder beside the repository")
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # A file, not :memory:: an in-memory database is one shared connection, and concurrent
    # sessions (ingest while another session closes) would roll back each other's savepoints.
    # http_port 0: an app a test starts serves on a free port, never on the default 8080 that
    # another suite running on the machine may hold.
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", data_key=new_key(), http_port=0
    )


class FakeClock:
    """A clock tests move by hand (reminders, response-time clocks)."""

    def __init__(self) -> None:
        from datetime import UTC, datetime

        self.now = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 09:00 in Hai Phong, a Tuesday

    def __call__(self) -> Any:
        return self.now

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


AppFactory = Callable[..., Awaitable[App]]


@pytest.fixture
async def make_app(settings: Settings, clock: FakeClock) -> AsyncIterator[AppFactory]:
    """Build apps on in-memory SQLite (or a given URL) with capture channels; stops them all."""
    apps: list[App] = []

    async def factory(
        *channels: Any,
        features: tuple[str, ...] = FEATURES,
        url: str | None = None,
        create_schema: bool = True,
        **overrides: Any,
    ) -> App:
        s = settings.with_(**overrides)
        if url:
            s = s.with_(database_url=url)
        chans = list(channels) or [CaptureChannel()]
        app = await build_app(
            s, channels=chans, clock=clock, create_schema=create_schema, features=features
        )
        install_recording_texts(app)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        await app.stop()


@pytest.fixture
async def chat(make_app: AppFactory) -> Chat:
    channel = CaptureChannel()
    app = await make_app(channel)
    return Chat(app, channel)


PG_AVAILABLE = pg_reachable()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test; skipped when none is reachable."""
    if not PG_AVAILABLE:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}")
    async with fresh_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database URL: a SQLite file, and PostgreSQL when reachable (else skipped)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    if not PG_AVAILABLE:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}")
    async with fresh_pg_database() as url:
        yield url


def _pg_state() -> str:
    state = (
        "reachable, storage tests ran on it"
        if PG_AVAILABLE
        else ("NOT reachable: the PostgreSQL variants of the storage tests were skipped")
    )
    return f"PostgreSQL at {PG_ADMIN_URL}: {state}"


def pytest_report_header(config: pytest.Config) -> str:
    return _pg_state()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say it at the end too: the header is hidden under -q."""
    terminalreporter.write_line(_pg_state())
