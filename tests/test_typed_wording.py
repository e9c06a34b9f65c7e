"""On channels without buttons the words say "gõ số", never "bấm" (issue #12 point 11).

A join and a lead report through the real console channel (and the Zalo Bot's rendering): every
message the worker reads is checked, and where a message names a button its number is given.
"""

from __future__ import annotations

import io
import re
from typing import Any

from bot.channels.console import ConsoleChannel, line_to_inbound
from bot.channels.zalo_bot import render_text
from bot.core.events import Choice, Choices, Text
from bot.core.wording import for_typing

LINE = re.compile(r"^(\d+)\. (.+)$", re.M)


class Console:
    """A worker typing into the console chat; ``last`` is the bot's latest message block."""

    def __init__(self, app: Any, out: io.StringIO) -> None:
        self.app, self.out, self.seen = app, out, 0

    async def type(self, line: str) -> str:
        await self.app.process(line_to_inbound(line))
        text = self.out.getvalue()[self.seen :]
        self.seen = len(self.out.getvalue())
        self.last = text
        return text

    def number(self, label: str) -> str:
        for n, shown in LINE.findall(self.last):
            if label.casefold() in shown.casefold():
                return n
        raise AssertionError(f"no option {label!r} in {self.last}")

    async def pick(self, label: str) -> str:
        return await self.type(self.number(label))


async def test_console_join_and_report_say_go_so_never_bam(make_app) -> None:
    out = io.StringIO()
    app = await make_app(ConsoleChannel(out=out, echo=False))
    w = Console(app, out)
    await w.type("/start")
    await w.pick("Gia nhập công đoàn")
    assert "Gõ số 1 (“Đồng ý”)" in w.last and "“Xem đầy đủ” (số 2)" in w.last, w.last
    await w.pick("Đồng ý")
    await w.type("Nguyễn Thị Hoa")
    await w.type("0912 345 678")
    await w.type("Công ty TNHH May Sao Vàng")
    await w.type("Lê Chân")
    await w.pick("Phường Lê Chân")
    for _ in range(12):  # the remaining questions, each answered by its first sensible option
        if "Gửi" in w.last and "kiểm tra" in w.last.lower():
            break
        options = LINE.findall(w.last)
        assert options, w.last
        skip = next((n for n, lbl in options if "Bỏ qua" in lbl), None)
        no = next((n for n, lbl in options if lbl.startswith(("Chưa", "Không"))), None)
        await w.type(skip or no or options[0][0])
    confirm = w.last
    send = w.number("Gửi")
    assert f"gõ số {send} (“Gửi”)" in confirm, confirm  # the button's number, not "bấm"
    await w.type(send)
    await w.type("/menu")
    await w.pick("Công ty chưa có công đoàn")
    await w.pick("Đồng ý")  # the report's own notice
    await w.type("Công ty TNHH Giày Bình Minh")
    await w.type("Bỏ qua")
    assert "leads" not in w.last and LINE.search(w.last), w.last  # on to the worker count
    transcript = out.getvalue()
    assert "gõ số" in transcript
    assert "bấm" not in transcript.casefold(), [
        line for line in transcript.splitlines() if "bấm" in line.casefold()
    ]


def test_zalo_bot_text_and_choices_are_worded_for_typing() -> None:
    choices = Choices(
        "Đúng rồi thì bấm “Gửi”. Cần sửa mục nào thì bấm “Sửa” ở mục đó.",
        (Choice("✏️ Sửa tên", "a"), Choice("✏️ Sửa số", "b"), Choice("✅ Gửi", "c")),
    )
    shown = render_text(choices)
    assert "gõ số 3 (“Gửi”)" in shown and "gõ số 1–2 (“Sửa …”)" in shown
    assert "bấm" not in shown
    plain = render_text(Text("Khi nào muốn, bạn gõ /menu và bấm “Gia nhập công đoàn” nhé."))
    assert plain == "Khi nào muốn, bạn gõ /menu và chọn “Gia nhập công đoàn” nhé."


def test_a_label_named_later_in_the_sentence_gets_its_number() -> None:
    text = "Bấm “Tiếp tục” để làm tiếp, hoặc “Bỏ đơn” để xóa những gì đã điền."
    assert for_typing(text, ["▶️ Tiếp tục", "🗑 Bỏ đơn"]) == (
        "Gõ số 1 (“Tiếp tục”) để làm tiếp, hoặc “Bỏ đơn” (số 2) để xóa những gì đã điền."
    )
    no_list = for_typing("Bạn bấm nút gửi số điện thoại nếu có.", [])
    assert no_list == "Bạn chọn nút gửi số điện thoại nếu có."
