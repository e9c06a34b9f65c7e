"""`congdoan-bot content check`: catch content mistakes before a worker sees them.

Checks the texts (every key used by the code exists, no key is unused, the placeholders a call
fills match the template, NFC, fits every channel's length limit), the flows (prompt and label
keys exist, validators known), and lets features add their own checks (FAQ, areas).
"""

from __future__ import annotations

import ast
import tomllib
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.texts import load_text_files, placeholders

CONSTANTS = {"hotline", "federation"}
# The strictest channel limit (Zalo: 2,000 characters); Telegram allows 4,096.
CHANNEL_LIMIT = 2000
# Texts a worker reads as one screen on a phone.
SCREEN_LIMIT = 600
SCREEN_PREFIXES = ("rights.body.",)
_CALL_NAMES = {"t", "say", "texts", "raw"}

Checker = Callable[[Path], list[str]]
# Features register extra checks (FAQ entries, areas.csv) here at import time.
EXTRA_CHECKS: list[tuple[str, Checker]] = []


@dataclass
class Usage:
    literal_keys: dict[str, set[str]] = field(default_factory=dict)  # key -> params passed
    prefixes: set[str] = field(default_factory=set)
    constants: set[str] = field(default_factory=set)
    where: dict[str, str] = field(default_factory=dict)
    spread: set[str] = field(default_factory=set)  # keys also filled from **params


def scan_code(paths: Iterable[Path]) -> Usage:
    """Find text keys in code: calls like ctx.t("key", a=1) and plain string constants."""
    usage = Usage()
    for path in paths:
        tree = ast.parse(path.read_text("utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                usage.constants.add(node.value)
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name not in _CALL_NAMES:
                continue
            first = node.args[0]
            params = {kw.arg for kw in node.keywords if kw.arg}
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                usage.literal_keys.setdefault(first.value, set()).update(params)
                if any(kw.arg is None for kw in node.keywords):
                    usage.spread.add(first.value)
                usage.where.setdefault(first.value, f"{path.name}:{node.lineno}")
            elif isinstance(first, ast.JoinedStr) and first.values:
                head = first.values[0]
                if isinstance(head, ast.Constant) and isinstance(head.value, str):
                    usage.prefixes.add(head.value)
    return usage


def _flow_keys(flows_dir: Path) -> tuple[set[str], list[str]]:
    keys: set[str] = set()
    problems: list[str] = []
    for path in sorted(flows_dir.glob("*.toml")):
        try:
            raw = tomllib.loads(path.read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"{path.name}: invalid TOML: {exc}")
            continue
        keys.add(raw.get("confirm", ""))
        if "cancelled" in raw:
            keys.add(raw["cancelled"])
        for slot in raw.get("slot", []):
            keys.update({slot.get("prompt", ""), slot.get("label", "")})
            keys.update(c.get("label", "") for c in slot.get("choices", []))
    keys.discard("")
    return keys, problems


def check_texts(content_dir: Path, code_dirs: Iterable[Path]) -> list[str]:
    problems: list[str] = []
    vi = content_dir / "vi"
    for path in sorted(vi.glob("*.toml")):
        raw = path.read_text("utf-8")
        if unicodedata.normalize("NFC", raw) != raw:
            problems.append(f"{path.name}: not NFC-normalised")
    try:
        texts = {k: v for k, (v, _) in load_text_files(vi).items()}
    except Exception as exc:
        return [*problems, f"content/vi: {exc}"]
    code_files = [p for d in code_dirs for p in d.rglob("*.py")]
    usage = scan_code(code_files)
    flow_keys, flow_problems = _flow_keys(content_dir / "flows")
    problems += flow_problems
    for key, params in sorted(usage.literal_keys.items()):
        if key not in texts:
            if "." in key and " " not in key:
                problems.append(f"missing text key {key} (used at {usage.where[key]})")
            continue
        needed = placeholders(texts[key]) - CONSTANTS
        if needed - params and key not in usage.spread:
            problems.append(f"{key}: placeholders {sorted(needed - params)} never filled")
        if params - placeholders(texts[key]):
            problems.append(f"{key}: fills {sorted(params - placeholders(texts[key]))} not in text")
    for key in sorted(flow_keys):
        if key not in texts:
            problems.append(f"missing text key {key} (used in content/flows)")
        elif placeholders(texts[key]) - CONSTANTS - {"summary"}:
            problems.append(f"{key}: flow texts may only use {{summary}} and constants")
    used = set(usage.literal_keys) | usage.constants | flow_keys
    for key, template in sorted(texts.items()):
        if key not in used and not any(key.startswith(p) for p in usage.prefixes if p):
            problems.append(f"unused text key {key}")
        sample = template.format(**{name: "X" * 12 for name in placeholders(template)})
        if len(sample) > CHANNEL_LIMIT:
            problems.append(f"{key}: {len(sample)} characters, over the {CHANNEL_LIMIT} limit")
        if key.startswith(SCREEN_PREFIXES) and len(sample) >= SCREEN_LIMIT:
            problems.append(f"{key}: {len(sample)} characters; keep it under {SCREEN_LIMIT}")
    return problems


def check_areas(content_dir: Path) -> list[str]:
    from bot.core.areas import reference_units_path, validate_areas_file

    reference = reference_units_path()
    return validate_areas_file(content_dir / "areas.csv", reference if reference.exists() else None)


def check_content(content_dir: Path, code_dirs: Iterable[Path]) -> list[str]:
    problems = check_texts(content_dir, list(code_dirs))
    problems += [f"areas.csv: {p}" for p in check_areas(content_dir)]
    for name, checker in EXTRA_CHECKS:
        problems += [f"{name}: {p}" for p in checker(content_dir)]
    return problems
