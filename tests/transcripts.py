"""Readable conversation transcripts (tests/conversations/*.txt) run against the real engine.

Format, one line per step (blank lines and lines starting with # are comments):
    > text            the worker types text (or a /command)
    > [label]         the worker presses the button whose label contains "label"
    > (phone 0912…)   the worker shares a phone number with the contact button
    < key.name        the bot's reply used this text key (checked in order)
    < "words"         the bot's reply contains these words
    ! restart         the bot restarts (same database); the conversation must resume
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

STEP = re.compile(r"^(?P<who>[<>!])\s*(?P<body>.*)$")


@dataclass(frozen=True)
class Step:
    who: str
    body: str
    line: int


def parse(path: Path) -> list[Step]:
    steps = []
    for number, raw in enumerate(path.read_text("utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = STEP.match(line)
        if not match:
            raise ValueError(f"{path.name}:{number}: cannot read {line!r}")
        steps.append(Step(match["who"], match["body"].strip(), number))
    return steps
