"""Questions in the chat: FAQ answers with their article, choices, hand-overs, misses.

The matcher itself is tested in tests/test_matcher.py; here we test what a worker sees.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.app import FEATURES
from bot.core.answers import reply_for, reply_record
from bot.core.events import Choices, Kind
from bot.core.matcher import Match, build_matcher
from storage import cases as cases_repo
from storage.cases import FaqMiss
from tests.driver import Chat

ASK_FEATURES = FEATURES
EXTRA = {"legal": {"group_chat_id": "-1001"}, "staff": {"legal": ["555"]}}

# The three questions in the issue, and the entry each must lead to.
ISSUE_EXAMPLES = [
    ("cty no luong 2 thang thi lam sao", "wages.late"),
    ("bầu 5 tháng bị đuổi việc", "maternity.no_dismissal"),
    ("tăng ca 4 tiếng/ngày có đúng luật ko", "overtime.cap"),
]
OUT_OF_SCOPE = [
    "Vượt đèn đỏ bị phạt bao nhiêu tiền",
    "di xe may khong doi mu bao hiem phat bao nhieu",
    "thủ tục ly hôn đơn phương mất bao lâu",
    "lam so do can giay to gi",
    "tranh chấp đất đai với hàng xóm thì kiện ở đâu",
    "chia tai san thua ke khi bo me mat",
]


@pytest.fixture
async def ask_chat(make_app) -> Chat:
    from tests.driver import CaptureChannel

    channel = CaptureChannel("telegram")
    app = await make_app(channel, features=ASK_FEATURES, extra=EXTRA)
    chat = Chat(app, channel)
    await chat.send("/start")
    return chat


def _texts(chat: Chat):
    return chat.app.engine.texts


def _offered(chat: Chat) -> list[str]:
    return [p for _, p in chat.options()]


@pytest.mark.parametrize(("question", "faq_id"), ISSUE_EXAMPLES)
async def test_issue_examples_lead_to_the_right_entry(
    ask_chat: Chat, question: str, faq_id: str
) -> None:
    await ask_chat.send(question)
    assert "ask.answer" in ask_chat.keys or "ask.suggest" in ask_chat.keys
    if "ask.answer" in ask_chat.keys:
        entry = next(e for e in ask_chat.app.engine.services.matcher.entries if e.id == faq_id)
        assert entry.answer in ask_chat.text
        assert [label for label, _ in ask_chat.options()] == [
            "👍 Đúng ý",
            "👎 Chưa đúng",
            "Hỏi tư vấn viên",
            "Câu hỏi khác",
        ]
    else:
        assert f"ask:faq:{faq_id}" in _offered(ask_chat)
        await ask_chat.press(f"ask:faq:{faq_id}")
        assert "ask.answer" in ask_chat.keys
    assert "Điều" in ask_chat.text and "📖 Căn cứ: Bộ luật Lao động 2019" in ask_chat.text


async def test_an_answer_has_its_article_the_note_and_asks_for_feedback(ask_chat: Chat) -> None:
    await ask_chat.send("cty no luong 2 thang thi lam sao")
    assert "ask.answer" in ask_chat.keys
    reply = ask_chat.replies[-1]
    assert isinstance(reply.content, Choices)
    assert len(reply.text) < 900
    assert "Bộ luật Lao động 2019, Điều 97" in reply.text
    assert "thông tin pháp luật chung" in reply.text
    assert reply.text.endswith("Câu trả lời có đúng ý bạn không?")
    assert _offered(ask_chat) == [
        "ask:up:wages.late",
        "ask:down:wages.late",
        "ask:human",
        "ask:start",
    ]


async def test_thumbs_down_is_counted_in_misses_with_the_entry_it_came_from(
    ask_chat: Chat,
) -> None:
    await ask_chat.send("cty no luong 2 thang thi lam sao")
    await ask_chat.press("ask:down:wages.late")
    assert "ask.thanks_down" in ask_chat.keys and "ask:human" in _offered(ask_chat)
    async with ask_chat.app.db.session() as session:
        misses = await cases_repo.top_misses(session, 10)
    assert [(m.action, m.faq_id) for m in misses] == [("thumbs_down", "wages.late")]
    assert misses[0].question == "cong ty no cham luong 2 thang thi lam sao"


async def test_typed_no_after_an_answer_is_a_thumbs_down_and_typed_yes_a_thanks(
    ask_chat: Chat,
) -> None:
    await ask_chat.send("tăng ca 4 tiếng/ngày có đúng luật ko")
    assert "ask.answer" in ask_chat.keys
    await ask_chat.send("sai rồi")
    assert "ask.thanks_down" in ask_chat.keys
    await ask_chat.send("cty no luong 2 thang thi lam sao")
    await ask_chat.send("👍")
    assert "ask.thanks_up" in ask_chat.keys
    async with ask_chat.app.db.session() as session:
        misses = await cases_repo.top_misses(session, 10)
    assert [(m.action, m.faq_id) for m in misses] == [("thumbs_down", "overtime.cap")]
    await ask_chat.send("👍")  # not after an answer: small talk, with the menu
    assert "ask.smalltalk" in ask_chat.keys and "rights:index" in _offered(ask_chat)


@pytest.mark.parametrize(
    "question", ["toi muon gap luat su", "cho em noi chuyen voi nguoi that", "gặp tư vấn viên"]
)
async def test_asking_for_a_person_offers_the_lawyer_form_and_the_hotline(
    ask_chat: Chat, question: str
) -> None:
    await ask_chat.send(question)
    assert "ask.human" in ask_chat.keys and "1800.888864" in ask_chat.text
    await ask_chat.press("ask:human")
    assert any(k.startswith(("relay.", "privacy.question.")) for k in ask_chat.keys)


async def test_a_recognised_uncovered_topic_gets_one_safe_sentence_not_a_neighbour(
    ask_chat: Chat,
) -> None:
    await ask_chat.send("dinh cong co bi duoi viec ko")
    assert "ask.uncovered" in ask_chat.keys and "ask.answer" not in ask_chat.keys
    assert _offered(ask_chat)[0] == "ask:human"


async def test_founding_a_union_is_explained_before_the_lead_form_is_offered(
    ask_chat: Chat,
) -> None:
    await ask_chat.send("thanh lap cong doan co so can bao nhieu nguoi")
    assert "ask.answer" in ask_chat.keys and "Điều 20" in ask_chat.text
    assert "cán bộ công đoàn sẽ hướng dẫn" in ask_chat.text
    assert "lead:start" in _offered(ask_chat)


async def test_suggestions_are_numbered_in_the_text_and_listed_in_the_record(settings) -> None:
    from bot.config import ROOT
    from bot.core.texts import Texts

    texts = Texts.load(ROOT / "content" / "vi", {"hotline": "1800.888864", "federation": "LĐLĐ"})
    matcher = build_matcher(ROOT / "content")
    picks = tuple(e for e in matcher.entries if e.id in ("overtime.cap", "overtime.yearly"))
    record = reply_record("tang ca", Match("suggest", picks[0], 0.3, picks), texts)
    assert record["suggestions"] == [e.id for e in picks]
    for number, entry in enumerate(picks, 1):
        assert f"{number}. {entry.question}" in record["text"]


@pytest.mark.parametrize("question", OUT_OF_SCOPE)
async def test_out_of_scope_is_declined_kindly_never_answered(
    ask_chat: Chat, question: str
) -> None:
    await ask_chat.send(question)
    assert "ask.answer" not in ask_chat.keys
    match = ask_chat.app.engine.services.matcher.match(question)
    assert match.action != "answer"
    if match.action == "out_of_scope":
        assert "ask.out_of_scope" in ask_chat.keys
        assert "1800.888864" in ask_chat.text and "Điều" not in ask_chat.text


async def test_join_and_lead_questions_offer_those_flows(ask_chat: Chat) -> None:
    await ask_chat.send("em muon gia nhap cong doan")
    assert "ask.join" in ask_chat.keys and "join:start" in _offered(ask_chat)
    await ask_chat.send("cty em chua co cong doan")
    assert "ask.lead" in ask_chat.keys and "lead:start" in _offered(ask_chat)


@pytest.mark.parametrize("message", ["xin chào", "cảm ơn bạn", "alo", "ok", "👍", "bye nhé"])
async def test_small_talk_gets_a_warm_reply_and_the_menu(ask_chat: Chat, message: str) -> None:
    await ask_chat.send(message)
    assert "ask.smalltalk" in ask_chat.keys
    assert "rights:index" in _offered(ask_chat)


async def test_menu_prompt_and_a_suggestion_button(ask_chat: Chat) -> None:
    await ask_chat.press("Hỏi đáp pháp luật")
    assert "ask.prompt" in ask_chat.keys and "ask:human" in _offered(ask_chat)
    await ask_chat.deliver(ask_chat._inbound(Kind.BUTTON, payload="ask:faq:wages.late"))
    assert "ask.answer" in ask_chat.keys and "Điều 97" in ask_chat.text
    await ask_chat.deliver(ask_chat._inbound(Kind.BUTTON, payload="ask:faq:no.such.entry"))
    assert "ask.gone" in ask_chat.keys


async def test_ask_a_lawyer_after_an_answer_carries_the_question_into_a_case(
    ask_chat: Chat,
) -> None:
    question = "cty no luong 2 thang thi lam sao"
    await ask_chat.send(question)
    await ask_chat.press("Hỏi tư vấn viên")
    assert "privacy.question.summary" in ask_chat.keys
    await ask_chat.press("Đồng ý")
    assert "relay.form.prefilled" in ask_chat.keys
    assert "relay.form.workplace.prompt" in ask_chat.keys  # the question step is already done
    await ask_chat.press("Bỏ qua")
    await ask_chat.press("Ẩn danh")
    await ask_chat.press("Gửi")
    assert "relay.submitted.open" in ask_chat.keys
    app = ask_chat.app
    async with app.db.session() as session:
        case = (await cases_repo.cases_of_contact(session, 1))[0]
    assert app.engine.services.crypto.decrypt(case.question_enc) == question
    assert case.topic == "wages"  # the FAQ topic, for the centre's figures (Tư vấn pháp luật)


async def test_escalate_offers_the_lawyer(ask_chat: Chat) -> None:
    text, options = reply_for(Match("escalate", None, 0.1), _texts(ask_chat))
    assert "Hỏi tư vấn viên" in [label for label, _ in options] and "1800.888864" in text


async def test_misses_are_recorded_for_editors(ask_chat: Chat) -> None:
    await ask_chat.send("Làm sổ đỏ cần những giấy tờ gì")
    await ask_chat.send("lam so do can nhung giay to gi")
    await ask_chat.send("cty no luong 2 thang thi lam sao")
    async with ask_chat.app.db.session() as session:
        misses = (await session.scalars(select(FaqMiss))).all()
    assert [(m.count, m.action) for m in misses] == [(2, "out_of_scope")]


def test_every_faq_answer_fits_one_screen_and_every_button_fits_telegram(settings) -> None:
    from bot.config import ROOT
    from bot.core.texts import Texts

    texts = Texts.load(ROOT / "content" / "vi", {"hotline": "1800.888864", "federation": "LĐLĐ"})
    matcher = build_matcher(ROOT / "content")
    assert len(matcher.entries) >= 60
    for entry in matcher.entries:
        text, options = reply_for(Match("answer", entry, 1.0), texts)
        assert len(text) < 900, entry.id
        sources = text.rpartition("📖 Căn cứ: ")[2]
        for citation in entry.citations:
            law = type(citation)(citation.law).label
            assert law in sources, entry.id
            if citation.article is not None:
                cited = sources.split(law, 1)[1].split(";", 1)[0]
                assert str(citation.article) in cited.replace(",", " ").split(), entry.id
        assert len(f"ask:faq:{entry.id}".encode()) <= 64, entry.id
        record = reply_record(entry.question, Match("answer", entry, 1.0), texts)
        assert record["citations"] == [c.label for c in entry.citations]
        assert ("Hỏi tư vấn viên", "ask:human") in options
        assert options[0] == ("👍 Đúng ý", f"ask:up:{entry.id}")


def test_every_action_has_a_reply_with_a_next_step(settings) -> None:
    from bot.config import ROOT
    from bot.core.texts import Texts

    texts = Texts.load(ROOT / "content" / "vi", {"hotline": "1800.888864", "federation": "LĐLĐ"})
    entry = build_matcher(ROOT / "content").entries[0]
    for action in ("answer", "suggest", "join", "lead", "escalate", "out_of_scope", "unknown"):
        match = Match(action, entry, 0.5, (entry,))
        text, options = reply_for(match, texts)
        assert text and options, action
    text, options = reply_for(Match("suggest", entry, 0.3, (entry,) * 5), texts)
    assert len(options) == 4  # at most three questions, then "Hỏi tư vấn viên"
