"""Logging for the bot: what needs attention, never what a worker typed.

Our own log lines carry ids, counts and references only (names, phones and questions never reach
a log call). Some libraries log whole payloads at DEBUG or INFO — aiosqlite every statement with
its parameters, SQLAlchemy's engine the same when echoing, aiogram every update — so they are
held at WARNING whatever level the operator asks for. In the console chat the log goes to a file
instead of the terminal, so log lines never land in the middle of the conversation.
"""

from __future__ import annotations

import logging
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers that would write message contents or SQL parameters below WARNING.
PAYLOAD_LOGGERS = ("aiosqlite", "sqlalchemy.engine", "sqlalchemy.pool", "asyncpg", "aiogram.event")
CONSOLE_LOG = Path("data/console.log")


def quiet_payload_loggers() -> None:
    for name in PAYLOAD_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure(verbose: bool = False, *, log_file: Path | None = None) -> None:
    """Set up the root logger once: stderr, or ``log_file`` when the terminal is a chat."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    quiet_payload_loggers()
