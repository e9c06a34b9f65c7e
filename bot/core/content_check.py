"""`congdoan-bot content check`: catch content mistakes before a worker sees them.

Checks the texts (every key used by the code exists, no key is unused, the placeholders a call
fills match the template, NFC, fits every channel's length limit), the flows (prompt and label
keys exist, validators known), and lets features add their own checks (FAQ, areas).
"""

from __future__ import annotations

import ast
import json
import re
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
SCREEN_PREFIXES = ("rights.body.", "employer.info.")
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
        keys.update(raw[name] for name in ("cancelled", "title") if name in raw)
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


# -- style and figures (content/README.md, "Cách viết") ----------------------------------------

# One quotation style: “…” (typographic double quotes). Straight quotes and « » are refused in
# what workers read; TOML's own quoting is not text and is not looked at.
WRONG_QUOTES = {'"': "“…”", "«": "“", "»": "”"}
# One tone placement, the new one: the mark on the first vowel of an open "oa", "oe", "uy"
# syllable ("hòa", "khỏe", "thủy"), as in the State's list of Hải Phòng's units.
_OLD_TONE = re.compile(r"(?<![qQ])([oOuU])([àáảãạÀÁẢÃẠèéẻẽẹÈÉẺẼẸỳýỷỹỵỲÝỶỸỴ])(?!\w)")
_BOT_VOICE = re.compile(r"\b[Bb]ot (chưa|không|sẽ|đã|có thể|mới)\b")
_BARE_OPENERS = ("Có. ", "Không. ", "Đúng. ", "Không đúng. ", "Sai. ")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CITED = re.compile(r"\(([^()]*Điều \d+[^()]*)\)")


def style_problems(text: str, staff: bool = False) -> list[str]:
    """Quotation style, tone placement and (for workers' texts) the "mình" voice in one text."""
    problems = [f"use {good} instead of {bad}" for bad, good in WRONG_QUOTES.items() if bad in text]
    for match in _OLD_TONE.finditer(unicodedata.normalize("NFC", text)):
        word = match.group(0)
        problems.append(f"tone on the first vowel: {word!r} (write “hòa”, “thủy”, “hủy”)")
    if not staff and _BOT_VOICE.search(text):
        problems.append("the bot speaks as “mình”, not “bot”")
    return problems


def check_style(content_dir: Path) -> list[str]:
    """Every message in content/vi and every FAQ question and answer (samples are workers'
    own words and are left alone)."""
    problems: list[str] = []
    for path in sorted((content_dir / "vi").glob("*.toml")):
        for key, value in _strings(tomllib.loads(path.read_text("utf-8"))):
            staff = ".staff." in f".{key}."
            problems += [f"{path.name} {key}: {p}" for p in style_problems(value, staff)]
    for path in sorted((content_dir / "faq").glob("*.toml")):
        data = tomllib.loads(path.read_text("utf-8"))
        for entry in data.get("entry", []):
            for field_name in ("question", "answer"):
                text = str(entry.get(field_name, ""))
                where = f"{path.name} {entry.get('id')} {field_name}"
                problems += [f"{where}: {p}" for p in style_problems(text)]
            if str(entry.get("answer", "")).startswith(_BARE_OPENERS):
                problems.append(
                    f"{path.name} {entry.get('id')}: open with the fact, not a bare yes or no "
                    "(the same answer meets “how many” questions)"
                )
    return problems


def _strings(data: object, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(data, dict):
        return [kv for k, v in data.items() for kv in _strings(v, f"{prefix}{k}.")]
    if isinstance(data, list):
        return [kv for v in data for kv in _strings(v, prefix)]
    return [(prefix.rstrip("."), data)] if isinstance(data, str) else []


def labour_code_path() -> Path:
    from bot.core.areas import repo_root

    return repo_root() / ".." / "shared" / "data" / "labour-code-2019-articles.json"


# Labour Code articles the JSON export does not hold (it holds Điều 1-169): the clauses
# ../shared/FACTS.md §11.E quotes or lists from the full text of Bộ luật số 45/2019/QH14, tagged
# [checked]; clause 2 of Điều 190 and clause 4 are abridged as FACTS abridges them.
# The figure check reads these instead, so an answer citing them is checked like any other.
ARTICLES_OUTSIDE_EXPORT: dict[str, str] = {
    "188": (
        "Điều 188 (as FACTS.md §11.E.2 gives it)\nTranh chấp lao động cá nhân phải qua hòa "
        "giải của hòa giải viên lao động trước khi yêu cầu Hội đồng trọng tài lao động hoặc Tòa "
        "án, trừ tranh chấp về sa thải, đơn phương chấm dứt hợp đồng lao động; bồi thường, trợ "
        "cấp khi chấm dứt hợp đồng; người giúp việc gia đình; bảo hiểm xã hội, bảo hiểm y tế, bảo "
        "hiểm thất nghiệp, tai nạn lao động, bệnh nghề nghiệp; người lao động đi làm việc ở nước "
        "ngoài; lao động thuê lại. Hòa giải viên kết thúc hòa giải trong 05 ngày làm việc."
    ),
    "190": (
        "Điều 190 (as FACTS.md §11.E.1 quotes it)\n1. Thời hiệu yêu cầu hòa giải viên lao động "
        "thực hiện hòa giải tranh chấp lao động cá nhân là 06 tháng kể từ ngày phát hiện ra hành "
        "vi mà bên tranh chấp cho rằng quyền và lợi ích hợp pháp của mình bị vi phạm.\n2. … là "
        "09 tháng kể từ ngày phát hiện ra hành vi …\n3. Thời hiệu yêu cầu Tòa án giải quyết "
        "tranh chấp lao động cá nhân là 01 năm kể từ ngày phát hiện ra hành vi …\n4. Thời gian "
        "có sự kiện bất khả kháng, trở ngại khách quan không tính vào thời hiệu."
    ),
}


def labour_code_articles(path: Path) -> dict[str, str]:
    """The Labour Code articles by number: the JSON export, then ARTICLES_OUTSIDE_EXPORT."""
    return {**ARTICLES_OUTSIDE_EXPORT, **json.loads(path.read_text("utf-8"))}


def _article_body(raw: str) -> str:
    """The article's clauses: without its heading, the "(Điều N Bộ luật số 45/2019/QH14…)" line
    (whose numbers are not the article's figures) and the decree articles filed after it."""
    out = []
    for number, line in enumerate(raw.split("\n")):
        if number and (line.startswith("(Điều này") or re.match(r"^Điều \d+\.\d+\.[A-Z]", line)):
            break
        if number == 0 or re.match(r"^\(Điều \d+ Bộ luật số", line):
            continue
        out.append(line)
    return "\n".join(out)


def _numbers(text: str) -> set[str]:
    return {n.lstrip("0") or "0" for n in _NUMBER.findall(text)}


def check_figures(content_dir: Path, articles: dict[str, str]) -> list[str]:
    """Every figure in an FAQ sentence that cites only Labour Code articles is in one of them.

    A sentence cites the articles in its parentheses ("(Bộ luật Lao động 2019, Điều 97)",
    "(Điều 35, Điều 97)"); a bare "Điều N" belongs to the law the entry cites with that article.
    Sentences that cite another law, or nothing, are not checked here.
    """
    from bot.core.matcher import LAW_NAMES

    problems: list[str] = []
    other_laws = [name for key, name in LAW_NAMES.items() if key != "blld"]
    for path in sorted((content_dir / "faq").glob("*.toml")):
        for entry in tomllib.loads(path.read_text("utf-8")).get("entry", []):
            laws_of: dict[int, set[str]] = {}
            for c in entry.get("citations", []):
                if "article" in c:
                    laws_of.setdefault(int(c["article"]), set()).add(str(c["law"]))
            for sentence in re.split(r"(?<=[.!?])\s+", str(entry.get("answer", ""))):
                cited = _CITED.findall(sentence)
                if not cited or any(name in sentence for name in other_laws):
                    continue
                numbers = {int(n) for part in cited for n in re.findall(r"Điều (\d+)", part)}
                if any(laws_of.get(n, {"blld"}) != {"blld"} for n in numbers):
                    continue
                law = set().union(
                    *(_numbers(_article_body(articles.get(str(n), ""))) for n in numbers)
                )
                figures = _numbers(_CITED.sub("", sentence))
                for figure in sorted(figures - law):
                    problems.append(
                        f"{path.name} {entry.get('id')}: {figure} is not in BLLĐ Điều "
                        f"{', '.join(map(str, sorted(numbers)))}: {sentence[:80]}…"
                    )
    return problems


def check_faq_style_and_figures(content_dir: Path) -> list[str]:
    problems = check_style(content_dir)
    path = labour_code_path()
    if path.is_file():
        problems += check_figures(content_dir, labour_code_articles(path))
    return problems


EXTRA_CHECKS.append(("style", check_faq_style_and_figures))
