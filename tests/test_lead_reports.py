"""Lead reports counted and routed right (issue #12 point 12), as a worker and the staff see them.

The same worker reporting one company twice counts once; a later report's worker count does not
wipe the earlier one; a park named at the area question is not asked again; the commune list has
"Không rõ xã/phường"; a report without a commune reaches the federation's staff.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from storage.enterprises import Enterprise, Lead, LeadReport
from tests.test_leads import (
    LE_CHAN,
    flush,
    payloads,
    person_chat,
    press_payload,
    recruit_app,
    register,
    report,
    sent_to,
    worker,
)


async def one(app: Any, model: Any) -> Any:
    async with app.db.session() as session:
        return (await session.scalars(select(model))).one()


async def all_of(app: Any, model: Any) -> list[Any]:
    async with app.db.session() as session:
        return list(await session.scalars(select(model).order_by(model.id)))


async def open_report(chat: Any, company: str) -> None:
    await chat.send("/menu")
    await chat.press("Công ty chưa có công đoàn")
    if any(payload.startswith("consent_") for _, payload in chat.options()):
        await chat.press("Đồng ý")
    await chat.send(company)
    assert "leads.ask.area" in chat.keys, chat.text


async def finish_anonymous(chat: Any) -> None:
    assert "leads.ask.tax_code" in chat.keys, chat.text
    await chat.press("Bỏ qua")
    await chat.press("Không, tôi muốn ẩn danh")
    assert "leads.form.confirm" in chat.keys, chat.text
    await chat.press("Gửi")


async def test_the_same_worker_reporting_a_company_twice_counts_once(make_app) -> None:
    app, channel = await recruit_app(make_app)
    w = worker(app, channel, "4242")
    await report(w, company="Công ty TNHH May Sao Vàng")
    await report(w, company="cty may sao vang")  # again, anonymous both times
    assert "leads.done.repeat" in w.keys, w.keys
    assert "không tính thêm" in w.text
    lead = await one(app, Lead)
    ent = await one(app, Enterprise)
    assert (lead.report_count, ent.report_count) == (1, 1)
    rows = await all_of(app, LeadReport)
    assert [r.counted for r in rows] == [True, False]
    assert all(r.reporter_contact_id is None for r in rows)  # still anonymous: no contact link
    assert rows[0].reporter_key and rows[0].reporter_key == rows[1].reporter_key
    assert "4242" not in rows[0].reporter_key
    # The notice the worker agreed to says this mark is kept, why, and how to erase it.
    notice = app.texts("privacy.lead.full", federation="LĐLĐ")
    assert "Cả khi bạn báo ẩn danh, mình giữ một mã" in notice and "xóa nó" in notice

    other = worker(app, channel, "4343")
    await report(other, company="Công ty TNHH May Sao Vàng")
    assert "leads.done.again" in other.keys
    assert (await one(app, Lead)).report_count == 2

    await w.send("/xoadulieu")
    await w.press("Xóa dữ liệu")
    rows = await all_of(app, LeadReport)
    assert [r.reporter_key is None for r in rows] == [True, True, False]  # only the worker's own
    assert (await one(app, Lead)).report_count == 2  # the counts stay


async def test_a_later_worker_count_keeps_the_earlier_one_in_the_history(make_app) -> None:
    app, channel = await recruit_app(make_app)
    await register(app, "9001", "volunteer", (LE_CHAN,))
    await report(worker(app, channel), company="Công ty TNHH Giày Bình Minh", size="25–99")
    await report(worker(app, channel), company="Công ty TNHH Giày Bình Minh", size="100–499")
    ent = await one(app, Enterprise)
    assert ent.size_band == "100_499"
    assert [r.size_band for r in await all_of(app, LeadReport)] == ["25_99", "100_499"]
    lead = await one(app, Lead)
    volunteer = person_chat(app, channel, "9001")
    await press_payload(volunteer, f"vol:show:{lead.id}")
    assert "leads.vol.size_before" in volunteer.keys, volunteer.keys
    assert "100–499" in volunteer.text and "25–99" in volunteer.text


async def test_a_park_named_at_the_area_question_is_not_asked_again(make_app) -> None:
    app, channel = await recruit_app(make_app)
    w = worker(app, channel)
    await open_report(w, "Công ty TNHH Điện tử Đại An")
    await w.send("KCN Đại An")
    labels = [label for label, _ in w.options()]
    assert labels[:2] == [
        "Phường Việt Hòa (TP Hải Dương, huyện Cẩm Giàng cũ)",
        "Phường Tứ Minh (TP Hải Dương, huyện Cẩm Giàng cũ)",
    ]
    await w.press("Việt Hòa")
    assert "leads.ask.size_band" in w.keys
    await w.press("100–499")
    assert "leads.ask.park" not in w.keys  # said already: straight to the tax code
    await finish_anonymous(w)
    assert "leads.done.text" in w.keys
    ent = await one(app, Enterprise)
    assert (ent.area_code, ent.industrial_park) == ("10543", "KCN Đại An")


async def test_going_back_to_a_commune_answer_asks_the_park_after_all(make_app) -> None:
    app, channel = await recruit_app(make_app)
    w = worker(app, channel)
    await open_report(w, "Công ty TNHH Điện tử Đại An")
    await w.send("KCN Đại An")
    await w.press("Việt Hòa")
    await w.press("Quay lại")  # from the size question back to the area
    assert "leads.ask.area" in w.keys
    await w.send("Lê Chân")
    await w.press("Phường Lê Chân")
    await w.press("25–99")
    assert "leads.ask.park" in w.keys  # the park came with the old answer, so it is asked now


async def test_no_commune_offers_not_sure_and_the_lead_reaches_federation_staff(make_app) -> None:
    app, channel = await recruit_app(make_app)
    await register(app, "9001", "volunteer", (LE_CHAN,))
    await register(app, "8001", "staff")
    w = worker(app, channel)
    await open_report(w, "Công ty TNHH Cơ khí Nguyễn Trãi")
    await w.send("Nguyen Trai")
    labels = [label for label, _ in w.options()]
    assert "Phường Thành Đông (phường Nguyễn Trãi cũ, TP Hải Dương)" in labels
    assert "Không rõ xã/phường" in labels, labels
    await w.press("Không rõ xã/phường")
    assert "leads.ask.size_band" in w.keys
    await w.press("25–99")
    await w.press("Bỏ qua")  # park
    await finish_anonymous(w)
    assert "leads.done.text" in w.keys
    lead = await one(app, Lead)
    assert lead.area_code is None
    await flush(app)
    (note,) = sent_to(channel, "8001")  # the federation's staff, not nobody
    assert "Công ty TNHH Cơ khí Nguyễn Trãi" in note.text
    assert payloads(note) == [f"vol:show:{lead.id}"]
    assert sent_to(channel, "9001") == []


async def test_a_lead_without_commune_reaches_configured_staff_too(make_app) -> None:
    app, channel = await recruit_app(make_app, extra={"staff": {"staff": ["7001"]}})
    w = worker(app, channel)
    await report(w, company="Công ty TNHH Nhựa Không Rõ", area="Bỏ qua")
    await flush(app)
    assert any("Nhựa Không Rõ" in o.text for o in sent_to(channel, "7001"))
