"""One-time codes that link accounts or grant roles, and the limit on guessing them.

A code is ``CODE_LENGTH`` characters from ``ALPHABET`` (capitals and digits without 0/O, 1/I/L,
so it can be read aloud or off a screen), with at least one digit and one letter; 31^10 codes,
so guessing one in the few tries allowed is hopeless. Only a keyed hash of a code is stored.

Wrong tries are kept in ``code_attempts``, one row per wrong try, keyed by a keyed hash of the
account (channel and platform id) and by the channel: never by contact, so erasing one's data
(/xoadulieu), linking accounts or starting over does not reset the count. A purpose ("link",
"invite") has its own limits per account and per channel in a sliding window.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Index, Integer, String, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
CODE_LENGTH = 10
KEEP_ATTEMPTS = timedelta(days=2)  # rows older than every window are deleted


def new_code(length: int = CODE_LENGTH) -> str:
    """A random code with at least one digit and one letter (so a typed word is never one)."""
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(length))
        if any(c.isdigit() for c in code) and any(c.isalpha() for c in code):
            return code


def clean(text: str) -> str:
    """What was typed, as a code: capitals, spaces and dashes dropped."""
    return "".join(ch for ch in (text or "").upper() if ch.isascii() and ch.isalnum())


def well_formed(code: str) -> bool:
    """True when ``clean(typed)`` could be a code at all (the right length and alphabet)."""
    return len(code) == CODE_LENGTH and all(ch in ALPHABET for ch in code)


def shown(code: str) -> str:
    """The code as people read it: two groups of five ("K7M2Q-XR4TB")."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


@dataclass(frozen=True)
class Limits:
    """Wrong tries allowed in ``window``: per account, and per channel for all accounts."""

    per_account: int = 5
    per_channel: int = 50
    window: timedelta = timedelta(hours=1)


class CodeAttempt(Base):
    """One wrong try at a code. No contact id: it outlives the contact's erasure on purpose."""

    __tablename__ = "code_attempts"
    __table_args__ = (
        Index("ix_code_attempts_account", "purpose", "account", "at"),
        Index("ix_code_attempts_channel", "purpose", "channel", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(64))  # keyed hash of "channel:platform id"
    channel: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]


async def _count(session: AsyncSession, purpose: str, since: datetime, **where: str) -> int:
    query = select(func.count(CodeAttempt.id)).where(
        CodeAttempt.purpose == purpose, CodeAttempt.at > since
    )
    for column, value in where.items():
        query = query.where(getattr(CodeAttempt, column) == value)
    return int(await session.scalar(query) or 0)


async def blocked(
    session: AsyncSession, purpose: str, account: str, channel: str, now: datetime, limits: Limits
) -> str | None:
    """ "account" or "channel" when that limit is used up in the window, else None."""
    since = now - limits.window
    if await _count(session, purpose, since, account=account) >= limits.per_account:
        return "account"
    if await _count(session, purpose, since, channel=channel) >= limits.per_channel:
        return "channel"
    return None


async def record_failure(
    session: AsyncSession, purpose: str, account: str, channel: str, now: datetime, limits: Limits
) -> list[str]:
    """Count one wrong try; returns the limits this try has just used up ("account",
    "channel"), so staff can be told once when a limit is reached."""
    await session.execute(delete(CodeAttempt).where(CodeAttempt.at < now - KEEP_ATTEMPTS))
    session.add(CodeAttempt(purpose=purpose, account=account, channel=channel, at=now))
    await session.flush()
    since = now - limits.window
    reached = []
    if await _count(session, purpose, since, account=account) == limits.per_account:
        reached.append("account")
    if await _count(session, purpose, since, channel=channel) == limits.per_channel:
        reached.append("channel")
    return reached
