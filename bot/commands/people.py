"""`congdoan-bot people`: register the federation's volunteers, collaborators, staff and lawyers.

    congdoan-bot people add --role volunteer --telegram-id 123456 --name "Nguyễn Thị Hoa" \\
        --areas "Phường Lê Chân;Xã Cát Hải"
    congdoan-bot people add --role volunteer --zalo-id 8112233445566 --name "Lê Văn Tú"
    congdoan-bot people list [--role volunteer]
    congdoan-bot people remove --role volunteer --telegram-id 123456

Areas are unit names as in content/areas.csv, matched without diacritics or type words ("le
chan" = "Phường Lê Chân"). A name that means several units (an old district, "cam giang") is
refused with the units listed; one that is also an old ward's or district's name is accepted with
a note saying so; replacing a person's areas says which were there before. A Zalo id is for the
Zalo Bot Platform account (``--zalo-channel zalo_oa`` for the Official Account), whichever the
bot runs when only one is configured. Names are personal data: stored only encrypted, with the
key from CONGDOAN_DATA_KEY or data/data.key, exactly as `congdoan-bot run` finds it. From the
staff chat the same is done with a one-time code: /moithanhvien <role> [areas], then /thamgia
<code>.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bot.core.numbers import parse_int
from storage.people import ROLES

HELP = "register volunteers, collaborators and staff (add, list, remove)"
ZALO_CHANNELS = ("zalo_bot", "zalo_oa")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="people_command", required=True)
    add = sub.add_parser("add", help="register (or update) a person in a role")
    add.add_argument("--role", required=True, choices=ROLES)
    account = add.add_mutually_exclusive_group(required=True)
    account.add_argument("--telegram-id", help="numeric Telegram user id")
    account.add_argument("--zalo-id", help="the person's Zalo user id (as the bot sees it)")
    add.add_argument(
        "--zalo-channel",
        choices=ZALO_CHANNELS,
        default=None,
        help="which Zalo channel the id belongs to (default: the configured one)",
    )
    add.add_argument("--name", required=True, help="full name (stored encrypted)")
    add.add_argument("--areas", default="", help='unit names separated by ";"')
    add.add_argument("--union-body", default=None, help="the union body they work for")
    listing = sub.add_parser("list", help="everyone registered, with roles and areas")
    listing.add_argument("--role", choices=ROLES)
    remove = sub.add_parser("remove", help="take a role away (the history stays)")
    remove.add_argument("--role", required=True, choices=ROLES)
    gone = remove.add_mutually_exclusive_group(required=True)
    gone.add_argument("--telegram-id")
    gone.add_argument("--zalo-id")
    remove.add_argument("--zalo-channel", choices=ZALO_CHANNELS, default=None)


def resolve_areas(areas: Any, text: str) -> tuple[list[str], list[str]]:
    """Codes for a ";"-separated list of unit names, and the problems (with suggestions)."""
    codes, problems, _notes = check_areas(areas, text)
    return codes, problems


def check_areas(areas: Any, text: str) -> tuple[list[str], list[str], list[str]]:
    """Codes, problems (nothing is saved) and notes (saved, but said) for a ";"-list of names.

    A name that means several units is a problem, never a guess: an old district ("huyện Thủy
    Nguyên": eight units today), an old ward split in two, letters that fold alike ("cam
    giang"). A unit's own name that is also an old ward's or district's is accepted with a note,
    naming the other units, as is an old ward's name that means one unit today."""
    codes: list[str] = []
    problems: list[str] = []
    notes: list[str] = []
    for raw in text.split(";"):
        name = raw.strip()
        if not name:
            continue
        area = areas.by_name(name)
        same = areas.namesakes(name)
        if area is not None:
            codes.append(area.code)
            typed_type = _has_unit_type(name)
            others = [
                s
                for s in same
                if s.area.code != area.code and (not typed_type or s.via == "oldunit")
            ]
            if others:
                notes.append(
                    f"lưu ý: {name!r} cũng là tên cũ của nơi khác: "
                    f"{'; '.join(s.label for s in others)}. Đã giao {area.name}; nếu ý bạn là "
                    "nơi khác, ghi đúng tên đơn vị đó."
                )
            continue
        if len(same) == 1:
            only = same[0]
            codes.append(only.area.code)
            notes.append(
                f"lưu ý: {name!r} là tên cũ, nay là {only.label}: đã giao {only.area.name}."
            )
            continue
        if same:
            listed = "; ".join(s.label for s in same)
            if any(s.via == "district" for s in same):
                problems.append(
                    f"{name!r} là quận/huyện cũ, nay gồm {len(same)} đơn vị: {listed}. "
                    "Ghi tên từng đơn vị cần giao, cách nhau bằng dấu ;"
                )
            else:
                problems.append(
                    f"{name!r} khớp {len(same)} đơn vị: {listed}. Ghi đúng tên (có dấu) của "
                    "đơn vị cần giao."
                )
            continue
        guesses = ", ".join(a.name for a in areas.search(name, limit=3))
        hint = f" — có phải: {guesses}?" if guesses else ""
        problems.append(f"không tìm thấy xã/phường {name!r}{hint}")
    return list(dict.fromkeys(codes)), problems, notes


def _has_unit_type(name: str) -> bool:
    from bot.core.textnorm import fold

    words = fold(name).replace(".", " ").split()
    return bool(words) and (words[0] in ("phuong", "p", "xa", "x") or words[:2] == ["dac", "khu"])


def account_of(args: argparse.Namespace, settings: Any) -> tuple[str, str] | str:
    """(channel, id) from --telegram-id / --zalo-id, or what is wrong with them."""
    if args.telegram_id is not None:
        telegram_id = str(args.telegram_id).strip()
        if parse_int(telegram_id) is None:
            return "--telegram-id phải là số (Telegram user id)."
        return "telegram", telegram_id
    zalo_id = str(args.zalo_id or "").strip()
    if not zalo_id or any(ch.isspace() for ch in zalo_id):
        return "--zalo-id không được để trống hay có dấu cách."
    channel = args.zalo_channel
    if channel is None:
        extra = settings.extra
        only_oa = extra.get("zalo_oa_app_id") and not extra.get("zalo_bot_token")
        channel = "zalo_oa" if only_oa else "zalo_bot"
    return channel, zalo_id


_CHANNEL_NAMES = {"telegram": "Telegram", "zalo_bot": "Zalo", "zalo_oa": "Zalo OA"}


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
            return await _add(db, cipher, areas, args, settings)
        if args.people_command == "remove":
            return await _remove(db, args, settings)
        return await _list(db, cipher, areas, args.role)
    finally:
        await db.dispose()


def _names(areas: Any, codes: Any) -> str:
    return "; ".join(a.name for a in (areas.by_code(c) for c in codes) if a) or "-"


async def _add(db: Any, cipher: Any, areas: Any, args: argparse.Namespace, settings: Any) -> int:
    from storage.people import add_person, areas_of, find_person

    account = account_of(args, settings)
    if isinstance(account, str):
        print(account, file=sys.stderr)
        return 2
    channel, external_id = account
    name = " ".join(args.name.split())
    if not name:
        print("--name không được để trống.", file=sys.stderr)
        return 2
    codes, problems, notes = check_areas(areas, args.areas)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 2
    for note in notes:
        print(note, file=sys.stderr)
    async with db.transaction() as session:
        before = await find_person(session, channel, external_id, args.role)
        had = sorted(await areas_of(session, before.id)) if before is not None else []
        person = await add_person(
            session,
            role=args.role,
            channel=channel,
            external_id=external_id,
            name_enc=cipher.encrypt(name),
            union_body=args.union_body,
            area_codes=codes,
        )
        held = await areas_of(session, person.id)
    where = f"{_CHANNEL_NAMES.get(channel, channel)} {external_id}"
    verb = "Đã cập nhật" if before is not None else "Đã đăng ký"
    print(f"{verb} #{person.id} {name} — {args.role}, {where}, khu vực: {_names(areas, held)}")
    if had and codes and sorted(set(codes)) != had:
        print(f"Khu vực trước đây ({_names(areas, had)}) đã được thay bằng khu vực mới ở trên.")
    elif had and not codes:
        print(f"Không ghi --areas nên giữ nguyên khu vực cũ: {_names(areas, had)}.")
    return 0


async def _remove(db: Any, args: argparse.Namespace, settings: Any) -> int:
    from storage.recruitment import deactivate_person

    account = account_of(args, settings)
    if isinstance(account, str):
        print(account, file=sys.stderr)
        return 2
    channel, external_id = account
    async with db.transaction() as session:
        done = await deactivate_person(session, channel, external_id, args.role)
    if not done:
        print("Không có người này trong vai trò đó.", file=sys.stderr)
        return 1
    print(f"Đã thôi vai trò {args.role} của {_CHANNEL_NAMES.get(channel, channel)} {external_id}.")
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
