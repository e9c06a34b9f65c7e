"""Mục tiêu và đơn vị: yearly targets per union body, and which union body answers for each
commune-level unit. Both are data (tables in storage/reports.py), edited here with validation;
every change is audited with its old and new value. content/areas.csv stays the file of record:
the page exports it with the mapping applied, for the federation to review and commit.
"""

from __future__ import annotations

import csv
import io
import unicodedata

from aiohttp import web

from bot.core.areas import DEFAULT_UNION_BODY, HEADER, AreaIndex
from bot.core.numbers import is_ascii_digits, parse_int
from bot.core.periods import LOCAL_TZ
from bot.core.textnorm import fold
from bot.dashboard.site import Dashboard, PageRequest
from storage import reports

ROLES = ("staff",)
YEARS = range(2024, 2034)
TARGET_MAX = 1_000_000
BODY_MIN, BODY_MAX = 5, 200


def known_bodies(areas: AreaIndex, extra: list[str]) -> list[str]:
    bodies = {a.union_body_or_default for a in areas} | set(extra)
    return sorted(b for b in bodies if b)


def check_body(name: str, known: list[str]) -> str | None:
    """Why a union body name is refused, or None. Two spellings of one body (with and without
    diacritics, or in another case) would split its figures, so a near-duplicate is refused."""
    if not BODY_MIN <= len(name) <= BODY_MAX:
        return f"Tên công đoàn cần từ {BODY_MIN} đến {BODY_MAX} ký tự."
    if not fold(name).startswith(("cong doan", "lien doan")):
        return "Tên cần bắt đầu bằng “Công đoàn …” hoặc “Liên đoàn …”."
    for other in known:
        if other != name and fold(other) == fold(name):
            return f"Đã có công đoàn “{other}”: hãy viết đúng như vậy."
    return None


async def page(req: PageRequest, *, status: int = 200, error: str = "") -> web.StreamResponse:
    year = parse_int(req.arg("nam") or req.form.get("nam", "")) or req.now.astimezone(LOCAL_TZ).year
    areas = await req.services.areas_now(req.session)  # perhaps edited in another process
    targets = await reports.targets_for(req.session, year)
    bodies = known_bodies(areas, [*await reports.union_bodies(req.session), *targets])
    bodies = [b for b in bodies if b != reports.CITY]
    return req.render(
        "targets.html",
        status=status,
        year=year,
        years=list(YEARS),
        targets=targets,
        bodies=bodies,
        areas=list(areas),
        default_body=DEFAULT_UNION_BODY,
        city=reports.CITY,
        error=error,
        done=req.arg("xong"),
    )


async def show(req: PageRequest) -> web.StreamResponse:
    return await page(req)


async def save_target(req: PageRequest) -> web.StreamResponse:
    form = req.form
    year = parse_int(form.get("nam", "").strip())
    raw = form.get("so", "").replace(".", "").replace(",", "").strip()
    value = parse_int(raw) if raw else None
    if year is None or (raw and value is None):
        return await page(req, status=400, error="Năm và chỉ tiêu cần là số.")
    body = unicodedata.normalize("NFC", " ".join(form.get("don_vi", "").split()))
    if year not in YEARS:
        return await page(req, status=400, error=f"Năm từ {YEARS[0]} đến {YEARS[-1]}.")
    if value is not None and not 0 <= value <= TARGET_MAX:
        return await page(
            req, status=400, error=f"Chỉ tiêu từ 0 đến {TARGET_MAX:,}.".replace(",", ".")
        )
    if body != reports.CITY:
        known = known_bodies(
            await req.services.areas_now(req.session), await reports.union_bodies(req.session)
        )
        if (problem := check_body(body, known)) is not None:
            return await page(req, status=400, error=problem)
    before = await reports.set_target(req.session, year, body, value, req.now)
    req.audit("web.target_set", f"target:{year}", union_body=body or "city", before=before,
              after=value)  # fmt: skip
    return req.redirect(f"/muctieu?nam={year}&xong=1")


async def save_mapping(req: PageRequest) -> web.StreamResponse:
    code = req.form.get("xa", "").strip()
    body = unicodedata.normalize("NFC", " ".join(req.form.get("don_vi", "").split()))
    areas = await req.services.areas_now(req.session)
    area = areas.by_code(code) if is_ascii_digits(code) else None
    if area is None:
        return await page(req, status=400, error="Hãy chọn một xã, phường trong danh sách.")
    if body:
        known = known_bodies(areas, await reports.union_bodies(req.session))
        if (problem := check_body(body, known)) is not None:
            return await page(req, status=400, error=problem)
    before = await reports.set_area_union_body(req.session, area.code, body, req.now)
    await req.services.areas_now(req.session)
    req.audit("web.area_mapped", f"area:{area.code}", before=before or area.union_body,
              after=body or None)  # fmt: skip
    return req.redirect("/muctieu?xong=1")


async def export_areas(req: PageRequest) -> web.StreamResponse:
    """content/areas.csv with the mapping applied (same header and order as the file)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for a in await req.services.areas_now(req.session):
        writer.writerow((a.code, a.name, a.type, ";".join(a.aliases), a.union_body))
    return web.Response(
        body=out.getvalue().encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="areas.csv"'},
    )


def register(dashboard: Dashboard) -> None:
    dashboard.page("/muctieu", show, roles=ROLES, title="Mục tiêu và đơn vị", order=70)
    dashboard.page("/muctieu/chitieu", save_target, roles=ROLES, method="POST")
    dashboard.page("/muctieu/donvi", save_mapping, roles=ROLES, method="POST")
    dashboard.page("/muctieu/areas.csv", export_areas, roles=ROLES)
