"""`congdoan-bot people`: register the federation's volunteers, collaborators, staff and lawyers.

    congdoan-bot people add --role volunteer --telegram-id 123456 --name "Nguyễn Thị Hoa" \\
        --areas "Phường Lê Chân;Xã Cát Hải"
    congdoan-bot people list [--role volunteer]
    congdoan-bot people remove --role volunteer --telegram-id 123456

Areas are unit names as in content/areas.csv, matched without diacritics or type words ("le
chan" = "Phường Lê Chân"). Names are personal data: stored only encrypted, with the key from
CONGDOAN_DATA_KEY or data/data.key, exactly as `congdoan-bot run` finds it. From the staff chat
the same is done with a one-time code: /moithanhvien <role> [areas], then /thamgia <code>.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bot.core.numbers import parse_int
from storage.people import ROLES

HELP = "register volunteers, collaborators and staff (add, list, remove)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="people_command", required=True)
    add = sub.add_parser("add", help="register (or update) a person in a role")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--telegram-id", required=True, help="numeric Telegram user id")
    add.add_argument("--name", required=True, help="full name (stored encrypted)")
    add.add_argument("--areas", default="", help='unit names separated by ";"')
    add.add_argument("--union-body", default=None, help="the union body they work for")
    listing = sub.add_parser("list", help="everyone registered, with roles and areas")
    listing.add_argument("--role", choices=ROLES)
    remove = sub.add_parser("remove", help="take a role away (the history stays)")
    remove.add_argument("--role", required=True, choices=ROLES)
    remove.add_argument("--telegram-id", required=True)


def resolve_areas(areas: Any, text: str) -> tuple[list[str], list[str]]:
    """Codes for a ";"-separated list of unit names, and the problems (with suggestions)."""
    codes, problems = [], []
    for raw in text.split(";"):
        name = raw.strip()
        if not name:
            continue
        area = areas.by_name(name)
        if area is not None:
            codes.append(area.code)
            continue
        guesses = ", ".join(a.name for a in areas.search(name, limit=3))
        hint = f" — có phải: {guesses}?" if guesses else ""
        problems.append(f"không tìm thấy xã/phường {name!r}{hint}")
    return codes, problems


def run(args: argparse.Namespace) -> int:
    from bot.bootstrap import prepare
    from bot.config import load_settings

    settings = prepare(load_settings())
    return asyncio.run(_run(args, settings))


async def _run(args: argparse.Namespace, settings: Any) -> int:
    from bot.core.areas import load_areas
    from storage.crypto import DataCipher
    from storage.db import Database

    areas = load_areas(settings.content_dir / "areas.csv")
    cipher = DataCipher(settings.data_key)
    db = Database(settings.database_url)
    try:
        if args.people_command == "add":
            return await _add(db, cipher, areas, args)
        if args.people_command == "remove":
            return await _remove(db, args)
        return await _list(db, cipher, areas, args.role)
    finally:
        await db.dispose()


async def _add(db: Any, cipher: Any, areas: Any, args: argparse.Namespace) -> int:
    from storage.people import add_person, areas_of

    telegram_id = str(args.telegram_id).strip()
    if parse_int(telegram_id) is None:
        print("--telegram-id phải là số (Telegram user id).", file=sys.stderr)
        return 2
    name = " ".join(args.name.split())
    if not name:
        print("--name không được để trống.", file=sys.stderr)
        return 2
    codes, problems = resolve_areas(areas, args.areas)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 2
    async with db.transaction() as session:
        person = await add_person(
            session,
            role=args.role,
            channel="telegram",
            external_id=telegram_id,
            name_enc=cipher.encrypt(name),
            union_body=args.union_body,
            area_codes=codes,
        )
        held = await areas_of(session, person.id)
    names = "; ".join(a.name for a in (areas.by_code(c) for c in held) if a) or "-"
    print(f"Đã đăng ký #{person.id} {name} — {args.role}, Telegram {telegram_id}, khu vực: {names}")
    return 0


async def _remove(db: Any, args: argparse.Namespace) -> int:
    from storage.recruitment import deactivate_person

    async with db.transaction() as session:
        done = await deactivate_person(session, "telegram", str(args.telegram_id), args.role)
    if not done:
        print("Không có người này trong vai trò đó.", file=sys.stderr)
        return 1
    print(f"Đã thôi vai trò {args.role} của Telegram {args.telegram_id}.")
    return 0


async def _list(db: Any, cipher: Any, areas: Any, role: str | None) -> int:
    from storage.recruitment import registered_people

    async with db.session() as session:
        rows = await registered_people(session, role)
    for person, codes in rows:
        try:
            name = cipher.decrypt(person.name_enc) if person.name_enc else "-"
        except ValueError:
            name = "(không giải mã được: sai khoá?)"
        names = "; ".join(a.name for a in (areas.by_code(c) for c in codes) if a) or "-"
        state = "" if person.active else " (đã thôi)"
        print(
            f"#{person.id}\t{person.role}{state}\t{person.channel}:{person.external_id}\t"
            f"{name}\t{names}"
        )
    print(f"{len(rows)} người.")
    return 0
