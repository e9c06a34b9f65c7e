"""Passwordless sign-in to the staff dashboard: one-time links and browser sessions.

A staff member asks the bot for a link (/dangnhap) or an administrator prints one with the CLI.
The link carries 256 random bits; only their SHA-256 is stored, so a copy of the database does not
let anyone sign in. Redeeming is one conditional UPDATE, so two tabs opening the same link sign in
once. Sessions are stored hashed too and end after a spell of inactivity. Accounts are kept as
(channel, platform id): no names, no phone numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Index, Integer, String, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base

TOKEN_BYTES = 32  # 256 random bits, above the 128 the issue asks for
LINK_TTL = timedelta(minutes=10)
SESSION_IDLE = timedelta(hours=8)
LINKS_PER_WINDOW = 5  # at most this many links per account in LINK_TTL
TOUCH_EVERY = timedelta(minutes=1)  # how stale "last seen" may get before it is written again


class LoginLink(Base):
    __tablename__ = "web_login_links"
    __table_args__ = (Index("ix_web_login_links_account", "channel", "external_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class WebSession(Base):
    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_seen", "last_seen_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TooManyLinks(Exception):
    """The account asked for more links than LINKS_PER_WINDOW within LINK_TTL."""


async def create_login_link(
    session: AsyncSession, channel: str, external_id: str, now: datetime
) -> str:
    """A new one-time token for this account; raises TooManyLinks when asked too often."""
    recent = await session.scalar(
        select(func.count(LoginLink.id)).where(
            LoginLink.channel == channel,
            LoginLink.external_id == str(external_id),
            LoginLink.created_at > now - LINK_TTL,
        )
    )
    if int(recent or 0) >= LINKS_PER_WINDOW:
        raise TooManyLinks
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        LoginLink(
            token_hash=_digest(token),
            channel=channel,
            external_id=str(external_id),
            created_at=now,
            expires_at=now + LINK_TTL,
        )
    )
    await session.flush()
    return token


@dataclass(frozen=True)
class Redeemed:
    """What happened to a link: "ok" with the account, or why not: "used", "expired", "unknown"."""

    outcome: str
    channel: str = ""
    external_id: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


async def redeem_login_link(session: AsyncSession, token: str, now: datetime) -> Redeemed:
    """Spend a link once. The UPDATE's condition makes a second use fail even when two
    requests race; the follow-up SELECT only explains the refusal."""
    digest = _digest(token)
    result = await session.execute(
        update(LoginLink)
        .where(
            LoginLink.token_hash == digest,
            LoginLink.used_at.is_(None),
            LoginLink.expires_at > now,
        )
        .values(used_at=now)
        .returning(LoginLink.channel, LoginLink.external_id)
    )
    row = result.first()
    if row is not None:
        return Redeemed("ok", row.channel, row.external_id)
    link = await session.scalar(select(LoginLink).where(LoginLink.token_hash == digest))
    if link is None:
        return Redeemed("unknown")
    return Redeemed("used" if link.used_at is not None else "expired")


async def link_state(session: AsyncSession, token: str, now: datetime) -> str:
    """ "ok", "used", "expired" or "unknown", without spending the link (the confirm page)."""
    link = await session.scalar(select(LoginLink).where(LoginLink.token_hash == _digest(token)))
    if link is None:
        return "unknown"
    if link.used_at is not None:
        return "used"
    return "ok" if link.expires_at > now else "expired"


async def start_session(
    session: AsyncSession, channel: str, external_id: str, now: datetime
) -> str:
    """A new browser session; the returned token goes into the cookie and nowhere else."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        WebSession(
            token_hash=_digest(token),
            channel=channel,
            external_id=str(external_id),
            created_at=now,
            last_seen_at=now,
        )
    )
    await session.flush()
    return token


async def load_session(
    session: AsyncSession, token: str, now: datetime, idle: timedelta = SESSION_IDLE
) -> WebSession | None:
    """The live session behind a cookie, its idle clock restarted; None if unknown or idle."""
    row = await session.scalar(select(WebSession).where(WebSession.token_hash == _digest(token)))
    if row is None:
        return None
    if row.last_seen_at <= now - idle:
        await session.delete(row)
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return row


async def end_session(session: AsyncSession, token: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.token_hash == _digest(token)))


async def prune(session: AsyncSession, now: datetime, idle: timedelta = SESSION_IDLE) -> None:
    """Drop idle sessions and links past their time (links a day after, for the refusal page)."""
    await session.execute(delete(WebSession).where(WebSession.last_seen_at <= now - idle))
    await session.execute(delete(LoginLink).where(LoginLink.expires_at <= now - timedelta(days=1)))


def csrf_token(session_token: str) -> str:
    """The form token of a session: derived from the session secret, so nothing more is stored,
    and useless without the HttpOnly cookie it comes from."""
    return hmac.new(session_token.encode("utf-8"), b"csrf", hashlib.sha256).hexdigest()[:40]


def csrf_matches(session_token: str, submitted: str) -> bool:
    return hmac.compare_digest(csrf_token(session_token), submitted or "")
