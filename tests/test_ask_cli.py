"""`congdoan-bot ask --json` and `congdoan-bot faq`: the machine interface is a contract."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ROOT

FIELDS = ["question", "action", "faq_id", "suggestions", "intent", "score", "citations", "text"]
ACTIONS = {"answer", "suggest", "join", "lead", "escalate", "out_of_scope", "smalltalk"}


def _command() -> list[str]:
    script = ROOT / ".venv" / "bin" / "congdoan-bot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


def _run(args: list[str], stdin: str | None = None, tmp_path: Path | None = None) -> str:
    env = dict(os.environ)
    # No database is needed: point it somewhere that cannot exist.
    env["DATABASE_URL"] = "sqlite+aiosqlite:////nonexistent/dir/never.db"
    done = subprocess.run(
        [*_command(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=tmp_path or ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _check_record(record: dict) -> None:
    assert list(record) == FIELDS
    assert record["action"] in ACTIONS
    assert isinstance(record["score"], float)
    assert isinstance(record["citations"], list)
    assert isinstance(record["text"], str) and record["text"]
    assert record["faq_id"] is None or isinstance(record["faq_id"], str)


def test_ask_json_single_question(tmp_path: Path) -> None:
    out = _run(["ask", "--json", "cty no luong 2 thang thi lam sao"], tmp_path=tmp_path)
    lines = out.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    _check_record(record)
    assert record["question"] == "cty no luong 2 thang thi lam sao"
    assert record["action"] == "answer" and record["faq_id"] == "wages.late"
    assert "Bộ luật Lao động 2019, Điều 97" in record["citations"]
    assert "Điều 97" in record["text"] and len(record["text"]) < 900
    assert record["suggestions"] == [] and record["text"].endswith("đúng ý bạn không?")


def test_ask_json_reads_stdin_one_object_per_line_in_order() -> None:
    questions = [
        "bầu 5 tháng bị đuổi việc",
        "Vượt đèn đỏ bị phạt bao nhiêu tiền",
        "",
        "muốn vào công đoàn",
        "cty em chua co cong doan",
    ]
    out = _run(["ask", "--json"], stdin="\n".join(questions) + "\n")
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["question"] for r in records] == questions
    for record in records:
        _check_record(record)
    assert records[1]["action"] == "out_of_scope" and records[1]["faq_id"] is None
    assert records[1]["citations"] == [] and "1800.888864" in records[1]["text"]
    assert records[2]["action"] == "escalate"  # nothing to match: the honest hand-over
    assert records[3]["action"] == "join" and records[4]["action"] == "lead"


def test_ask_json_small_talk_and_a_request_for_a_person() -> None:
    out = _run(["ask", "--json"], stdin="xin chào\n👍\ntoi muon gap luat su\n")
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["action"] for r in records] == ["smalltalk", "smalltalk", "escalate"]
    assert records[2]["intent"] == "human" and "Hỏi tư vấn viên" in records[2]["text"]


def test_ask_text_is_the_chat_reply(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.core.answers import reply_for
    from bot.core.matcher import build_matcher
    from bot.core.texts import Texts

    question = "tăng ca 4 tiếng/ngày có đúng luật ko"
    assert main(["ask", "--json", question]) == 0
    record = json.loads(capsys.readouterr().out)
    texts = Texts.load(
        ROOT / "content" / "vi",
        {"hotline": "1800.888864", "federation": "Liên đoàn Lao động thành phố Hải Phòng"},
    )
    match = build_matcher(ROOT / "content").match(question)
    assert record["text"] == reply_for(match, texts)[0]
    if record["action"] == "suggest":
        assert record["faq_id"] == match.suggestions[0].id and record["citations"] == []


def test_ask_human_output_lists_buttons(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "cty no luong 2 thang thi lam sao"]) == 0
    out = capsys.readouterr().out
    assert "[answer (wages.late)" in out and "Hỏi tư vấn viên  [ask:human]" in out


def test_faq_eval_reports_accuracy_and_confusion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tsv = tmp_path / "small.tsv"
    tsv.write_text(
        "# question<TAB>label\n"
        "cty no luong 2 thang thi lam sao\twages.late\n"
        "Vượt đèn đỏ bị phạt bao nhiêu tiền\tout_of_scope\n"
        "muốn vào công đoàn\tlead\n",  # deliberately wrong label
        "utf-8",
    )
    assert main(["faq", "eval", str(tsv), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["total"] == 3 and report["correct"] == 2
    assert report["accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["confusion"]["lead"] == {"join": 1}
    assert report["confusion"]["faq"] == {"answer": 1}
    assert report["errors"][0]["predicted"] == "join"
    assert main(["faq", "eval", str(tsv)]) == 0
    assert "handled right: 66.7% (2/3)" in capsys.readouterr().out


def test_faq_eval_on_the_development_set(capsys: pytest.CaptureFixture[str]) -> None:
    dev = ROOT / "tests" / "data" / "faq_dev.tsv"
    assert main(["faq", "eval", str(dev), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["total"] >= 150
    assert report["accuracy"] >= 0.85, report["errors"]
    assert report["wrong_entry"] / report["total"] < 0.05, report["errors"]


def test_faq_misses_lists_the_most_frequent_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from storage import cases as cases_repo
    from storage.db import Database
    from storage.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'misses.db'}"
    upgrade(url)

    async def seed() -> None:
        db = Database(url)
        now = datetime(2026, 11, 24, tzinfo=UTC)
        async with db.transaction() as session:
            for question, times in (("so do", 1), ("ly hon don phuong", 3)):
                for _ in range(times):
                    await cases_repo.record_miss(session, question, "out_of_scope", None, now)
        await db.dispose()

    asyncio.run(seed())
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["faq", "misses", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["question"], r["count"]) for r in rows] == [("ly hon don phuong", 3), ("so do", 1)]
    assert main(["faq", "misses"]) == 0
    assert "    3  out_of_scope ly hon don phuong" in capsys.readouterr().out
