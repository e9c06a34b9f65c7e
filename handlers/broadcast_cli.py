"""`congdoan-bot broadcast`: announcements and quick polls for officers and scripts.

    congdoan-bot broadcast create --text-file tin.txt [--photo anh.jpg] [--button join|URL]
        [--poll "Câu hỏi" --option A --option B ...] --audience all|topic:T|area:NAME|
        union-body:X|members|non-members|applicants|collaborators|volunteers
        [--exclude AUDIENCE] [--at 2027-05-01T08:00] [--by TELEGRAM_ID]
    congdoan-bot broadcast preview ID
    congdoan-bot broadcast approve ID --by TELEGRAM_ID  (audiences over 10,000: a second staff
                                                     member, holding a staff role, not the author)
    congdoan-bot broadcast send ID                  (foreground, progress bar; Ctrl+C stops,
                                                     running it again resumes)
    congdoan-bot broadcast status ID [--json]
    congdoan-bot broadcast list

Topics: campaign (tin chiến dịch), rights (quyền lợi và luật mới), activities (hoạt động, phúc
lợi). Whatever the audience, only people who subscribed (/nhantin) receive anything. ``--at`` is
Hai Phong time; a scheduled announcement is started by the running bot (`congdoan-bot run`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

HELP = "announcements and quick polls (create, preview, approve, send, status, list)"
MAX_PHOTO = 10 * 1024 * 1024  # Telegram's sendPhoto upload limit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="broadcast_command", required=True)
    create = sub.add_parser("create", help="compose an announcement; prints its id")
    create.add_argument("--text-file", required=True, type=Path)
    create.add_argument("--photo", type=Path)
    create.add_argument("--button", help="join, rights, ask or an https:// link")
    create.add_argument("--poll", help="the question of a quick poll")
    create.add_argument("--option", action="append", default=[], help="a poll answer (2 to 5)")
    create.add_argument("--audience", required=True)
    create.add_argument("--exclude")
    create.add_argument("--at", help="start time, Hai Phong time (2027-05-01T08:00)")
    create.add_argument(
        "--by", help="the author's Telegram id, holding a staff role (for the approval rule)"
    )
    for name in ("preview", "send"):
        sub.add_parser(name, help=f"{name} an announcement").add_argument("id", type=int)
    approve = sub.add_parser("approve", help="second staff member's approval")
    approve.add_argument("id", type=int)
    approve.add_argument("--by", required=True, help="the approver's Telegram id (staff role)")
    status = sub.add_parser("status", help="counts: sent, failed, blocked, held, poll answers")
    status.add_argument("id", type=int)
    status.add_argument("--json", action="store_true")
    sub.add_parser("list", help="the latest announcements")


def run(args: argparse.Namespace) -> int:
    from bot.cli import prepare
    from bot.config import load_settings

    settings = prepare(load_settings())
    try:
        return asyncio.run(_run(args, settings))
    except KeyboardInterrupt:
        return 130


def _fail(message: str) -> int:
    print(f"Lỗi: {message}", file=sys.stderr)
    return 2


async def _run(args: argparse.Namespace, settings: Any) -> int:
    from bot.app import build_app

    app = await build_app(settings)
    try:
        command = args.broadcast_command
        if command == "create":
            return await create(app, args)
        if command == "preview":
            return await preview(app, args.id)
        if command == "approve":
            return await approve(app, args.id, args.by)
        if command == "send":
            return await send(app, args.id)
        if command == "status":
            return await status(app, args.id, as_json=args.json)
        return await listing(app)
    finally:
        await app.stop()


def _at(text: str | None, tz: str) -> datetime | None:
    if not text:
        return None
    local = datetime.fromisoformat(text)
    if local.tzinfo is None:
        local = local.replace(tzinfo=ZoneInfo(tz))
    return local.astimezone(UTC)


async def create(app: Any, args: argparse.Namespace) -> int:
    from handlers import broadcast_send as bs
    from storage import broadcasts as repo

    try:
        text = args.text_file.read_text("utf-8").strip()
        photo = args.photo.read_bytes() if args.photo else None
        button = bs.check_button(args.button)
        options = bs.check_poll(args.poll, args.option)
        areas = app.engine.services.areas
        bs.resolve_audience(args.audience, areas)
        if args.exclude:
            bs.resolve_audience(args.exclude, areas)
        at = _at(args.at, app.settings.timezone)
    except (OSError, ValueError) as e:
        return _fail(str(e))
    if not text and not options:
        return _fail("the text file is empty")
    if photo is not None and len(photo) > MAX_PHOTO:
        return _fail("the photo is over 10 MB")
    if button and options:
        return _fail("an announcement has a button or a poll, not both")
    import unicodedata

    from handlers import broadcast_compose as compose

    author = "cli"
    now = datetime.now(UTC)
    async with app.db.transaction() as session:
        if args.by:
            try:
                who = compose.staff_who(args.by)
            except ValueError as e:
                return _fail(str(e))
            if not await compose.is_staff(session, app.engine.services.roles, who):
                return _fail(APPROVE_REFUSALS["not_staff"].format(by=args.by))
            author = compose.staff_ref(who)
        broadcast = await repo.create(
            session,
            text=unicodedata.normalize("NFC", text),
            photo=photo,
            photo_name=args.photo.name if args.photo else None,
            button=button,
            poll_question=unicodedata.normalize("NFC", args.poll) if options else None,
            poll_options=[unicodedata.normalize("NFC", o) for o in options] if options else None,
            audience=args.audience,
            exclude=args.exclude,
            scheduled_at=at,
            status=repo.SCHEDULED if at else repo.DRAFT,
            created_by=author,
            created_at=now,
        )
    print(broadcast.id)
    return 0


async def preview_lines(app: Any, broadcast_id: int) -> tuple[list[str], list[str]]:
    """What each channel shows and the audience per channel; and the problems (over a limit)."""
    from handlers import broadcast_compose as compose
    from storage import broadcasts as repo

    async with app.db.session() as session:
        broadcast = await repo.get(session, broadcast_id)
        if broadcast is None:
            raise LookupError(f"no announcement {broadcast_id}")
        sizes = await compose.sizes_in(session, broadcast, app.engine.services.areas)
    lines = [f"Thông báo {broadcast.id}: gửi tới {broadcast.audience}"
             + (f", trừ {broadcast.exclude}" if broadcast.exclude else "")]  # fmt: skip
    problems = []
    for view in compose.channel_views(broadcast, app.texts, app.channels, sizes):
        lines.append(f"\n── {view.name}: {view.size} người nhận ──")
        lines += view.lines
        problems += view.problems
    lines.append(f"\nTổng: {sum(sizes.values())} người nhận")
    return lines, problems


async def preview(app: Any, broadcast_id: int) -> int:
    try:
        lines, problems = await preview_lines(app, broadcast_id)
    except (LookupError, ValueError) as e:
        return _fail(str(e))
    print("\n".join(lines))
    for problem in problems:
        print(f"Không gửi được — {problem}. Hãy rút ngắn nội dung.", file=sys.stderr)
    return 1 if problems else 0


APPROVE_REFUSALS = {
    "not_staff": "{by} holds no staff role (congdoan-bot people add --role staff)",
    "missing": "no announcement {id}",
    "own": "approval must come from a second staff member, not the author",
    "closed": "announcement {id} is already sending, sent or cancelled",
    "already": "announcement {id} was approved already",
}


async def approve(app: Any, broadcast_id: int, by: str) -> int:
    """A second staff member: ``--by`` is their Telegram id, holding a staff role, not the
    author's."""
    from handlers import broadcast_compose as compose

    try:
        who = compose.staff_who(by)
    except ValueError as e:
        return _fail(str(e))
    async with app.db.transaction() as session:
        decision = await compose.approve(
            session, broadcast_id, roles=app.engine.services.roles, who=who,
            now=datetime.now(UTC),
        )  # fmt: skip
    if decision.outcome != "approved":
        return _fail(APPROVE_REFUSALS[decision.outcome].format(by=by, id=broadcast_id))
    print(f"Đã duyệt thông báo {broadcast_id} ({compose.staff_ref(who)}).")
    return 0


def broadcaster(app: Any, **kwargs: Any) -> Any:
    """The sender wired to this app's channels, texts, areas and configuration."""
    from handlers.broadcast_send import BroadcastConfig, Broadcaster

    return Broadcaster(
        app.db,
        app.texts,
        app.channels,
        config=app.engine.services.config(BroadcastConfig),
        areas=app.engine.services.areas,
        **kwargs,
    )


async def send(app: Any, broadcast_id: int) -> int:
    from tqdm import tqdm

    from handlers.broadcast_send import NeedsApproval

    try:
        _, problems = await preview_lines(app, broadcast_id)
    except (LookupError, ValueError) as e:
        return _fail(str(e))
    if problems:
        return _fail("; ".join(problems))
    if not app.channels:
        return _fail("no channel is configured (TELEGRAM_BOT_TOKEN, ZALO_...)")
    bar = tqdm(total=0, unit="tin", desc=f"Thông báo {broadcast_id}", dynamic_ncols=True)

    def show(progress: Any) -> None:
        bar.total = progress.total
        bar.n = progress.done
        bar.set_postfix(
            sent=progress.sent,
            retry429=progress.rate_limited,
            quiet_pauses=progress.quiet_waits,
            refresh=False,
        )
        bar.refresh()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        result = await broadcaster(app, on_progress=show).run(broadcast_id, stop)
    except NeedsApproval as e:
        bar.close()
        return _fail(
            f"{e.args[0]} người nhận: cần một cán bộ thứ hai duyệt "
            f"(congdoan-bot broadcast approve {broadcast_id} --by MÃ_TELEGRAM)"
        )
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
    bar.close()
    if stop.is_set():
        print(f"Đã dừng: {result.done}/{result.total}. Chạy lại lệnh để gửi tiếp.")
        return 130
    return await status(app, broadcast_id, as_json=False)


async def counts_of(app: Any, broadcast_id: int) -> dict[str, Any] | None:
    from storage import broadcasts as repo

    async with app.db.session() as session:
        broadcast = await repo.get(session, broadcast_id)
        if broadcast is None:
            return None
        result: dict[str, Any] = {"id": broadcast.id, "status": broadcast.status}
        result.update(await repo.counts(session, broadcast_id))
        if broadcast.poll_options:
            answers = await repo.poll_counts(session, broadcast_id)
            result["poll"] = {
                option: answers.get(n, 0) for n, option in enumerate(broadcast.poll_options, 1)
            }
    return result


async def status(app: Any, broadcast_id: int, *, as_json: bool) -> int:
    result = await counts_of(app, broadcast_id)
    if result is None:
        return _fail(f"no announcement {broadcast_id}")
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    keys = ("total", "queued", "sending", "sent", "failed", "blocked", "held", "skipped",
            "opted_out", "unknown", "clicks")  # fmt: skip
    print(f"Thông báo {broadcast_id} ({result['status']})")
    for key in keys:
        print(f"  {key:10} {result[key]}")
    for option, n in (result.get("poll") or {}).items():
        print(f'  "{option}": {n}')
    return 0


async def listing(app: Any) -> int:
    from storage import broadcasts as repo

    async with app.db.session() as session:
        rows = await repo.listing(session)
    for row in rows:
        when = row.scheduled_at.isoformat() if row.scheduled_at else "-"
        first = row.text.splitlines()[0][:50] if row.text else (row.poll_question or "")[:50]
        print(f"{row.id:5}  {row.status:18} {when:26} {row.audience:24} {first}")
    return 0
