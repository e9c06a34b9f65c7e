"""The employer track: information, the request for help founding a CĐCS, employer cases, and
that an employer never learns anything about workers, whatever they type."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from bot.core.validators import valid_tax_code
from handlers.employer import TOPICS, asks_about_workers
from storage import enterprises as enterprises_repo
from storage.cases import LegalCase
from storage.employers import EmployerRequest
from storage.enterprises import Enterprise, Lead, LeadStatusChange
from storage.membership import ConsentRecord
from tests.driver import CaptureChannel, Chat
from tests.test_leads import (
    LE_CHAN,
    SECRET_NAME,
    flush,
    person_chat,
    press_payload,
    recruit_app,
    register,
    report,
    sent_to,
    worker,
)
from tests.test_relay import GROUP, Group, legal_extra

COMPANY = "Công ty TNHH May Mặc Hải Phòng"
WORKER_PHONE = "0987 654 321"
CONTACT_PERSON = "Phạm Văn Giám Đốc"
CONTACT_PHONE = "0912 345 678"


def with_check_digit(first_nine: str) -> str:
    """A tax code with a correct check digit (to type into the form)."""
    for last in range(10):
        if valid_tax_code(first_nine + str(last)):
            return first_nine + str(last)
    raise AssertionError(f"{first_nine} has no valid check digit")


TAX = with_check_digit("020123456")
OTHER_TAX = with_check_digit("020765431")


def employer(app: Any, channel: CaptureChannel, user_id: str = "7001") -> Chat:
    return Chat(app, channel, user_id=user_id, name="Chủ doanh nghiệp")


async def request_help(
    chat: Chat,
    company: str = COMPANY,
    tax: str = TAX,
    area: str = "Lê Chân",
    workers: str = "khoảng 120 người",
) -> str:
    """The employer's request from the deep link to "Gửi"; returns the reply text."""
    await chat.send("/start employer")
    assert "employer.index" in chat.keys, chat.keys
    await chat.press("Đề nghị hỗ trợ thành lập công đoàn")
    assert "privacy.employer.notice" in chat.keys
    await chat.press("Đồng ý")
    assert "employer.ask.company" in chat.keys, chat.text
    await chat.send(company)
    assert "employer.ask.tax_code" in chat.keys, chat.text
    await chat.send(tax)
    assert "employer.ask.area" in chat.keys, chat.text
    await chat.send(area)
    await chat.press(chat.options()[0][1])
    assert "employer.ask.workers" in chat.keys, chat.text
    await chat.send(workers)
    assert "employer.ask.person" in chat.keys, chat.text
    await chat.send(CONTACT_PERSON)
    assert "employer.ask.phone" in chat.keys, chat.text
    await chat.send(CONTACT_PHONE)
    assert "employer.form.confirm" in chat.keys, chat.text
    await chat.press("Gửi")
    assert "employer.request.done" in chat.keys, chat.text
    return chat.text


async def worker_asks_the_legal_centre(
    app: Any, channel: CaptureChannel, user_id: str, *, via_menu: bool = False
) -> Chat:
    """A worker's anonymous question to the legal centre through "Hỏi tư vấn viên"."""
    w = Chat(app, channel, user_id=user_id)
    await w.send("/start")
    if via_menu:
        await w.send("/menu")
    await press_payload(w, "case:new")
    if any(payload.startswith("consent_") for _, payload in w.options()):
        await w.press("Đồng ý")
    await w.send("Công ty nợ lương tôi ba tháng rồi, tôi phải làm gì?")
    await w.press("Bỏ qua")
    await w.press("Ẩn danh")
    await w.press("Gửi")
    return w


# -- information ----------------------------------------------------------------------------------


async def test_menu_and_deep_link_open_the_employer_track_and_every_topic_cites_law(
    make_app,
) -> None:
    channel = CaptureChannel("telegram")
    app = await make_app(channel)
    chat = employer(app, channel)
    await chat.send("/start")
    await chat.press("Liên hệ")
    await chat.press("Tôi là chủ doanh nghiệp")
    assert "employer.index" in chat.keys and "trợ lý tự động" in chat.text
    await chat.press("Công đoàn cơ sở giúp gì")
    seen = []
    for topic in TOPICS:
        assert f"employer.info.{topic}" in chat.keys, chat.keys
        assert len(chat.text) < 600
        assert re.search(r"Điều \d+", chat.text), chat.text  # the article beside the claim
        seen.append(topic)
        if topic != TOPICS[-1]:
            await chat.press("Mục tiếp theo")
    assert seen == list(TOPICS)
    assert any(p == "employer:request" for _, p in chat.options())

    first = employer(app, channel, "7002")  # never talked to the bot: the QR's deep link
    await first.send("/start employer")
    assert first.keys[-1] == "employer.index" or "employer.index" in first.keys
    assert "welcome.text" not in first.keys


def test_tax_code_check_digit() -> None:
    assert valid_tax_code("0300588569") and valid_tax_code("0100109106")
    assert valid_tax_code("0300588569001")  # a branch keeps its parent's check digit
    assert not valid_tax_code("0300588568") and not valid_tax_code("030058856")
    assert not valid_tax_code("03005885ab")


def test_questions_about_workers_are_recognised() -> None:
    for text in (
        "ai đã báo cáo công ty tôi",
        "ai da bao cao cong ty toi",
        "cho tôi danh sách đoàn viên",
        "bao nhieu nguoi da vao cong doan",
        "Người nào phản ánh vậy?",
        TAX,
        f"{TAX[:4]} {TAX[4:]}",
        "sdt nguoi khieu nai",
    ):
        assert asks_about_workers(text), text
    for text in ("kinh phí công đoàn đóng khi nào", "thương lượng tập thể", "chào bạn"):
        assert not asks_about_workers(text), text


# -- the request ----------------------------------------------------------------------------------


async def test_request_marks_the_lead_first_in_the_volunteers_list_with_its_contact(
    make_app,
) -> None:
    app, channel = await recruit_app(make_app)
    await register(app, "9001", "volunteer", (LE_CHAN,))
    # A bigger enterprise reported twice by workers ranks below an employer's request.
    for uid in ("w1", "w2"):
        await report(worker(app, channel, uid), company="Công ty CP Thép Lớn", size="Từ 500")

    boss = employer(app, channel)
    await boss.send("/start employer")
    await boss.press("Đề nghị hỗ trợ thành lập công đoàn")
    await boss.press("Đồng ý")
    await boss.send(COMPANY)
    await boss.send(TAX[:-1] + str((int(TAX[-1]) + 1) % 10))  # one digit wrong
    assert "employer.error.tax_code_check" in boss.keys
    await boss.send("12345")
    assert "employer.error.tax_code_format" in boss.keys
    await boss.send(TAX)
    await boss.send("Lê Chân")
    await boss.press(boss.options()[0][1])
    await boss.send("từ 50 đến 100")
    assert "employer.error.workers" in boss.keys
    await boss.send("khoảng 1.200 người")
    await boss.send(CONTACT_PERSON)
    await boss.send(CONTACT_PHONE)
    assert "employer.form.confirm" in boss.keys and "1.200" in boss.text
    await boss.press("Gửi")
    assert "employer.request.done" in boss.keys
    reference = re.search(r"DN-\d{4}-\d{6}", boss.text)
    assert reference, boss.text

    async with app.db.session() as session:
        consent = (await session.scalars(select(ConsentRecord))).all()
        request = (await session.scalars(select(EmployerRequest))).one()
        lead = (await session.scalars(select(Lead).where(Lead.employer_request.is_(True)))).one()
        history = [c.to_status for c in await enterprises_repo.history_of(session, lead.id)]
        funnel = await enterprises_repo.funnel_counts(session, [LE_CHAN])
        queue, _ = await enterprises_repo.open_leads(session, [LE_CHAN])
    # the workers who reported the company agreed to the lead notice; the employer to its own
    assert sorted({c.purpose for c in consent}) == ["employer_request", "lead"]
    consent = [c for c in consent if c.purpose == "employer_request"]
    assert len(consent) == 1 and consent[0].notice_version.startswith("2026-12-1+")
    assert request.reference == reference.group(0) and request.workers == 1200
    assert CONTACT_PERSON not in request.person_enc and "912" not in request.phone_enc
    assert (lead.source, lead.area_code, lead.report_count) == ("employer", LE_CHAN, 0)
    assert history == ["new", "employer_request"]
    assert funnel["employer_request"] == 1 and funnel["new"] == 2
    assert queue[0].lead.id == lead.id  # first, before the bigger, twice-reported one

    await flush(app)
    notes = [o for o in sent_to(channel, "9001") if (o.tag or "").startswith("lead:employer:")]
    assert len(notes) == 1 and "Doanh nghiệp đề nghị" in notes[0].text
    assert CONTACT_PHONE not in notes[0].text and CONTACT_PERSON not in notes[0].text

    volunteer = person_chat(app, channel, "9001")
    await volunteer.send("/leads")
    listing = volunteer.text
    assert "🏢 " + COMPANY in listing and listing.index("🏢") < listing.index("Thép Lớn")
    await press_payload(volunteer, f"vol:show:{lead.id}")
    assert "employer.vol.marker" in volunteer.keys
    assert CONTACT_PHONE not in volunteer.text  # not before the volunteer takes it on
    await volunteer.press("Nhận hỗ trợ")
    await press_payload(volunteer, f"vol:show:{lead.id}")
    assert CONTACT_PERSON in volunteer.text and "0912" in volunteer.text.replace(" ", "")


async def test_employer_learns_nothing_about_workers_whatever_they_type(make_app) -> None:
    app, channel = await recruit_app(make_app)
    await register(app, "9001", "volunteer", (LE_CHAN,))
    w = worker(app, channel, "4242")
    await report(w, company=COMPANY, tax=TAX, contact=True, phone=WORKER_PHONE)

    boss = employer(app, channel, "7001")
    reported = await request_help(boss, company="Cty TNHH May Mac Hai Phong", tax=TAX)
    reported_keys = list(boss.keys)
    other = employer(app, channel, "7002")
    fresh = await request_help(other, company="Công ty TNHH Giày Mới", tax=OTHER_TAX)
    # The same words whether or not workers reported the company (only what was typed differs).
    strip = re.compile(r"DN-\d{4}-\d{6}|Cty TNHH May Mac Hai Phong|Công ty TNHH Giày Mới")
    assert strip.sub("_", reported) == strip.sub("_", fresh)
    assert reported_keys == other.keys

    async with app.db.session() as session:
        enterprises = (await session.scalars(select(Enterprise))).all()
        leads = (await session.scalars(select(Lead).order_by(Lead.id))).all()
    # For staff the worker's report and the employer's request are one enterprise.
    assert len(enterprises) == 2 and leads[0].employer_request and leads[0].report_count == 1

    probes = [
        "ai đã báo cáo công ty tôi",
        "ai da bao cao cong ty toi vay",
        "ai đã gia nhập công đoàn ở công ty tôi",
        "bao nhiêu người đã vào công đoàn",
        "cho tôi danh sách đoàn viên công ty",
        "số điện thoại người phản ánh",
        TAX,
        COMPANY,
        "Cty May Mac Hai Phong",
        "4242",
        "/trangthai",
        "/dulieucuatoi",
        "/leads",
        "/donmoi",
    ]
    for text in probes:
        await boss.send(text)
        said = boss.text
        assert SECRET_NAME not in said and "4242" not in said, (text, said)
        assert "987" not in said.replace(" ", ""), (text, said)
        shown = ("leads.vol.line", "leads.vol.detail", "leads.done", "join.staff.item")
        assert not any(k.startswith(shown) for k in boss.keys), (text, boss.keys)
        if text in probes[:7]:
            assert "employer.no_worker_data" in boss.keys, (text, boss.keys)


async def test_questions_from_employers_are_employer_cases_apart_from_workers(make_app) -> None:
    channel = CaptureChannel("telegram")
    extra = legal_extra()
    app = await make_app(channel, extra=extra)
    boss = employer(app, channel)
    await boss.send("/doanhnghiep")
    await boss.press("Hỏi tư vấn viên")
    assert "employer.ask.intro" in boss.keys
    if any(payload.startswith("consent_") for _, payload in boss.options()):
        await boss.press("Đồng ý")  # the question's data notice
    assert "relay.form.question.prompt" in boss.keys, boss.keys
    await boss.send("Doanh nghiệp tạm dừng sản xuất thì có được tạm dừng đóng kinh phí không?")
    await boss.send("Công ty TNHH Giày Mới")
    await boss.press("Ẩn danh")
    await boss.press("Gửi")
    number = re.search(r"TVDN-\d{4}-\d{6}", boss.text)
    assert number, boss.text

    w = await worker_asks_the_legal_centre(app, channel, "4243")
    assert re.search(r"\bTV-\d{4}-\d{6}", w.text), w.text

    async with app.db.session() as session:
        cases = (await session.scalars(select(LegalCase).order_by(LegalCase.id))).all()
    assert [c.audience for c in cases] == ["employer", "worker"]
    await flush(app)
    cards = [o for o in channel.to(GROUP) if (o.tag or "").startswith("casecard:")]
    assert "CÂU HỎI CỦA DOANH NGHIỆP" in cards[0].text and number.group(0) in cards[0].text
    assert "DOANH NGHIỆP" not in cards[1].text
    # Staff find the employer case by its number like any other.
    await Group(app, channel).send(f"/nhan {number.group(0)}")
    assert number.group(0) in channel.sent[-1].text


async def test_an_employer_reaching_the_legal_centre_from_the_menu_opens_an_employer_case(
    make_app,
) -> None:
    """In the employer track, "Hỏi tư vấn viên" from the main menu (not the track's own button)
    still makes an employer case; a worker pressing the same button makes a worker case."""
    channel = CaptureChannel("telegram")
    app = await make_app(channel, extra=legal_extra())
    boss = employer(app, channel, user_id="7002")
    await boss.send("/start employer")
    await boss.send("/menu")
    await press_payload(boss, "case:new")
    if any(payload.startswith("consent_") for _, payload in boss.options()):
        await boss.press("Đồng ý")
    assert "relay.form.question.prompt" in boss.keys, boss.keys
    await boss.send("Công ty có phải đóng kinh phí công đoàn khi chưa có công đoàn không?")
    if "relay.form.workplace.prompt" in boss.keys:
        await boss.send("Công ty TNHH Giày Mới")
    await boss.press("Ẩn danh")
    await boss.press("Gửi")
    assert re.search(r"TVDN-\d{4}-\d{6}", boss.text), boss.text

    w = await worker_asks_the_legal_centre(app, channel, "4244", via_menu=True)
    assert re.search(r"\bTV-\d{4}-\d{6}", w.text), w.text
    async with app.db.session() as session:
        cases = (await session.scalars(select(LegalCase).order_by(LegalCase.id))).all()
    assert [c.audience for c in cases] == ["employer", "worker"]


async def test_employer_sees_and_erases_their_request(make_app) -> None:
    app, channel = await recruit_app(make_app)
    boss = employer(app, channel)
    await request_help(boss)
    await boss.send("/dulieucuatoi")
    assert "employer.mydata.request" in boss.keys and CONTACT_PERSON in boss.text
    await boss.send("/xoadulieu")
    await boss.press(boss.options()[0][1])
    async with app.db.session() as session:
        assert (await session.scalars(select(EmployerRequest))).all() == []
        lead = (await session.scalars(select(Lead))).one()
        changes = (await session.scalars(select(LeadStatusChange))).all()
    assert lead.employer_request  # the company did ask; only the contact details are gone
    assert "employer_request" in [c.to_status for c in changes]


def test_meeting_qr_opens_the_employer_track(tmp_path, monkeypatch, capsys) -> None:
    import zxingcpp
    from PIL import Image

    from bot.cli import main

    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "CongDoanHP_bot")
    out = tmp_path / "qr.png"
    assert main(["employer", "qr", "--out", str(out)]) == 0
    [found] = zxingcpp.read_barcodes(Image.open(out))
    assert found.text == "https://t.me/CongDoanHP_bot?start=employer"
    assert "start=employer" in capsys.readouterr().out


async def test_employer_requests_are_a_stage_of_their_own_in_the_reports(make_app, clock) -> None:
    import io

    import openpyxl

    from bot.core.events import Photo
    from bot.reports.workbook import quarterly_workbook
    from tests.test_weekly_report import STAFF, in_group

    app, channel = await recruit_app(make_app, extra={"staff": {"staff": [STAFF]}})
    await report(worker(app, channel, "w1"), company=COMPANY, tax=TAX)  # a worker's report
    await report(worker(app, channel, "w2"), company="Công ty CP Thép Lớn")  # no employer asked
    await request_help(employer(app, channel, "7001"), company=COMPANY, tax=TAX)
    await request_help(employer(app, channel, "7002"), company="Công ty TNHH Giày Mới",
                       tax=OTHER_TAX)  # fmt: skip
    # The same company asking twice is one enterprise that asked.
    await request_help(employer(app, channel, "7003"), company=COMPANY, tax=TAX)

    (weekly,) = await in_group(app, STAFF)
    assert isinstance(weekly.content, Photo)
    assert "Doanh nghiệp đề nghị hỗ trợ thành lập CĐCS: 2." in weekly.content.caption

    now = clock()
    async with app.db.session() as session:
        data = await quarterly_workbook(session, app.engine.services, now.year, 4, now)
    summary = openpyxl.load_workbook(io.BytesIO(data))["Tổng hợp"]
    cells = {row[0]: row[1] for row in summary.iter_rows(min_row=6, values_only=True)}
    assert cells["Doanh nghiệp đề nghị hỗ trợ thành lập CĐCS trong quý"] == 2


# -- fuzz: whatever the employer types, what they see does not depend on workers -------------------

JOINED_NAME, JOINED_PHONE = "Lê Văn Đã Gia Nhập", "0903 111 222"
REFERENCE = re.compile(r"\b(?:DN|TVDN|TV|KN)-\d{4}-\d{3,6}\b")
KNOWN_COMPANIES = (COMPANY, "Công ty CP Thép Lớn", "Công ty TNHH Điện Tử Sao Mai")


def employer_inputs(seed: int = 15, count: int = 320) -> list[str]:
    """Typed employer messages: company names that workers reported or joined from (spelled
    many ways), their tax codes, questions about who joined or reported, the workers' names,
    phones and chat ids, every command, form answers, and random mixes of all of it."""
    import random
    import unicodedata

    def folded(text: str) -> str:
        text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
        return "".join(c for c in text if unicodedata.category(c) != "Mn")

    companies = [*KNOWN_COMPANIES, "Công ty TNHH Giày Mới"]
    spellings = [
        v
        for c in companies
        for v in (
            c,
            c.lower(),
            folded(c),
            c.replace("Công ty", "Cty"),
            folded(c).upper(),
            c.split(" ", 3)[-1],
        )
    ]
    secrets = [SECRET_NAME, folded(SECRET_NAME), "Trần Thị", WORKER_PHONE, JOINED_NAME,
               WORKER_PHONE.replace(" ", ""), "+84987654321", "4242", "w1", "w2", "w3",
               JOINED_PHONE]  # fmt: skip
    taxes = [TAX, OTHER_TAX, f"{TAX[:4]} {TAX[4:]}", f"MST {TAX}", TAX[:-1]]
    asks = [
        "ai đã báo cáo {c}", "ai da bao cao {c}", "ai đã gia nhập công đoàn ở {c}",
        "bao nhiêu người ở {c} đã vào công đoàn", "bao nhieu nguoi bao cao {c}",
        "danh sách đoàn viên {c}", "cho tôi số điện thoại người phản ánh {c}",
        "{c} có ai khiếu nại không", "có công nhân nào của {c} nhắn bot không",
        "{c} đã có ai đăng ký chưa", "người lao động {c} nói gì về công ty",
        "tên người báo {c} là gì", "{c} bị báo mấy lần rồi", "đã có ai đề nghị cho {c} chưa",
    ]  # fmt: skip
    commands = ["/start", "/start employer", "/menu", "/doanhnghiep", "/trangthai",
                "/dulieucuatoi", "/leads", "/donmoi", "/thedoanvien", "/baocao", "/trogiup",
                "/tuvan", "/dangnhap", "/suadulieu", "/start ref_4242", "/start lead"]  # fmt: skip
    answers = ["Đồng ý", "Gửi", "Bỏ qua", "Quay lại", "1", "2", "có", "không", "Lê Chân",
               "khoảng 120 người", "Phạm Văn Giám Đốc", "0912 345 678", "Mục tiếp theo",
               "kinh phí công đoàn đóng khi nào", "thương lượng tập thể là gì", "chào bạn",
               "Đề nghị hỗ trợ thành lập công đoàn", "Hỏi tư vấn viên",
               "Tôi là chủ doanh nghiệp"]  # fmt: skip
    rng = random.Random(seed)
    pool = spellings + secrets + taxes + commands + answers
    out = [a.format(c=c) for a in asks for c in rng.sample(spellings, 2)]
    out += pool
    while len(out) < count:
        parts = rng.sample(pool + [a.format(c=rng.choice(spellings)) for a in asks], 2)
        out.append(" ".join(parts) if rng.random() < 0.5 else rng.choice(pool))
    rng.shuffle(out)
    return out[:count]


def seen_by(out: Any) -> tuple[str, tuple[tuple[str, str], ...]]:
    options = getattr(out.content, "options", ())
    return REFERENCE.sub("#", out.text), tuple((o.label, o.payload) for o in options)


async def test_fuzz_employer_sees_the_same_whether_or_not_workers_reported_or_joined(
    make_app, tmp_path
) -> None:
    from tests.test_join import join

    # The same bot twice, each on its own database: in one, workers reported the companies,
    # left their phones and joined; in the other no worker ever wrote.
    with_workers, plain = [
        await recruit_app(make_app, url=f"sqlite+aiosqlite:///{tmp_path / name}")
        for name in ("with-workers.db", "plain.db")
    ]
    for app, _ in (with_workers, plain):
        await register(app, "9001", "volunteer", (LE_CHAN,))
    app, channel = with_workers
    await report(worker(app, channel, "4242"), company=COMPANY, tax=TAX, contact=True,
                 phone=WORKER_PHONE)  # fmt: skip
    await report(worker(app, channel, "w1"), company=KNOWN_COMPANIES[1], size="Từ 500")
    await report(worker(app, channel, "w2"), company=KNOWN_COMPANIES[2])
    await join(worker(app, channel, "w3"), company=COMPANY, name=JOINED_NAME, phone=JOINED_PHONE)
    async with app.db.session() as session:
        assert len((await session.scalars(select(Lead))).all()) == 3  # the leads are there
    async with plain[0].db.session() as session:
        assert (await session.scalars(select(Lead))).all() == []  # and here there are none

    inputs = employer_inputs()
    bosses = [employer(a, c, "7001") for a, c in (with_workers, plain)]
    for i, text in enumerate(inputs):
        if i % 80 == 0:  # now and then a whole request, for a company workers know or not
            company = KNOWN_COMPANIES[(i // 80) % 3]
            done = [await request_help(b, company=company, tax=TAX) for b in bosses]
            assert REFERENCE.sub("#", done[0]) == REFERENCE.sub("#", done[1])
        seen = [[seen_by(o) for o in await b.send(text) if o.address.chat_id == "7001"]
                for b in bosses]  # fmt: skip
        assert seen[0] == seen[1], (i, text)
        said = " ".join(t for t, _ in seen[0])
        digits = re.sub(r"\D", "", said)
        assert SECRET_NAME not in said and JOINED_NAME not in said, (text, said)
        assert "987654321" not in digits and "903111222" not in digits, (text, said)
    assert len(inputs) >= 300
