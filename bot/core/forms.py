"""One generic form runner for every questionnaire (join, lead report, legal question).

A form is data (content/flows/*.toml): slots in order, each with a prompt, a validator, optional
choices and a condition. The runner asks one question per message, with "Quay lại" and "Huỷ",
shows a confirmation screen with "Sửa" per field and "Gửi", and resumes after a restart from the
state row. When a form's version changes, a half-finished form resumes at the first slot that
has no valid value rather than being thrown away.

Slots marked ``personal = true`` are kept encrypted in the conversation state, so a name or
phone number typed into a half-finished form is never in the database in plain text.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.answers import menu
from bot.core.context import Ctx
from bot.core.events import Choice, Choices, Kind, Outgoing, RemoveKeyboard, RequestContact
from bot.core.feature import Feature
from bot.core.form_contract import (
    Candidates,
    Invalid,
    MediaOption,
    Result,
    Submit,
    Valid,
    Validator,
)
from bot.core.numbers import parse_int
from bot.core.payloads import Payload
from bot.core.textnorm import pick_label, typed_number, typed_words


@dataclass(frozen=True)
class FormPayload(Payload, prefix="form"):
    """The runner's buttons: ``form:back``, ``form:cancel``, ``form:skip``, ``form:submit``,
    ``form:pick:<value>``, ``form:edit:<slot>``."""

    action: str
    arg: str = ""


def _form(action: str, arg: str = "") -> str:
    return FormPayload(action, arg).pack()


# -- form description -----------------------------------------------------------------------


@dataclass(frozen=True)
class SlotChoice:
    value: str
    label_key: str
    # A range of numbers this choice stands for ("300" typed at a size question is 100–499).
    low: int | None = None
    high: int | None = None

    def covers(self, number: int) -> bool:
        if self.low is None and self.high is None:
            return False
        return (self.low or 0) <= number <= (self.high if self.high is not None else number)


@dataclass(frozen=True)
class Slot:
    name: str
    prompt: str
    label: str
    validator: str = "text"
    input: str = "text"  # text | choice | phone
    optional: bool = False
    personal: bool = False
    choices: tuple[SlotChoice, ...] = ()
    when: str | None = None


@dataclass(frozen=True)
class FormSpec:
    name: str
    version: int
    slots: tuple[Slot, ...]
    confirm: str
    submit: str
    cancelled: str = "form.cancelled"
    title: str = "form.title"  # what the form is, in words: "đơn gia nhập công đoàn"

    def slot(self, name: str) -> Slot | None:
        return next((s for s in self.slots if s.name == name), None)


def load_form(path: Path) -> FormSpec:
    raw = tomllib.loads(path.read_text("utf-8"))
    slots = tuple(
        Slot(
            name=s["name"],
            prompt=s["prompt"],
            label=s["label"],
            validator=s.get("validator", "choice" if s.get("choices") else "text"),
            input=s.get("input", "choice" if s.get("choices") else "text"),
            optional=bool(s.get("optional", False)),
            personal=bool(s.get("personal", False)),
            choices=tuple(
                SlotChoice(c["value"], c["label"], c.get("min"), c.get("max"))
                for c in s.get("choices", [])
            ),
            when=s.get("when"),
        )
        for s in raw["slot"]
    )
    return FormSpec(
        name=raw["name"],
        version=int(raw.get("version", 1)),
        slots=slots,
        confirm=raw["confirm"],
        submit=raw.get("submit", raw["name"]),
        cancelled=raw.get("cancelled", "form.cancelled"),
        title=raw.get("title", "form.title"),
    )


def load_forms(directory: Path) -> dict[str, FormSpec]:
    return {spec.name: spec for spec in map(load_form, sorted(directory.glob("*.toml")))}


_COND = re.compile(r"^\s*(\w+)\s*(==|!=|in|not in)\s*(.+?)\s*$")


def condition_holds(expr: str | None, values: dict[str, Any]) -> bool:
    """Tiny condition language: ``slot == 'x'``, ``slot != 'x'``, ``slot in ['a', 'b']``."""
    if not expr:
        return True
    match = _COND.match(expr)
    if not match:
        raise ValueError(f"bad condition: {expr!r}")
    name, op, rhs = match.groups()
    value = values.get(name)
    items = [x.strip().strip("'\"") for x in rhs.strip("[]").split(",")]
    if op == "==":
        return value == items[0]
    if op == "!=":
        return value != items[0]
    if op == "in":
        return value in items
    return value not in items


# Button labels a worker may type instead of pressing (folded: with or without diacritics).
_BACK_WORDS = {"quay lai", "lui", "lui lai", "tro lai", "back", "/back"}
_CANCEL_WORDS = {"huy", "huy bo", "thoat", "cancel", "dung", "dung lai", "bo don", "huy don"}
_SKIP_WORDS = {"bo qua", "bo", "skip", "khong ghi", "khong muon ghi", "khong co", "qua"}
_SUBMIT_WORDS = {"gui", "gui di", "gui don", "xac nhan", "dong y", "ok", "oke", "dung roi"}
# Kept while a form runs; "_start_args" is a deep link that arrived mid-form (handlers/start.py).
_NAV_KEYS = ("_back", "_cands", "_fills", "_filled_by", "_editing", "_start_args")
_PEOPLE_WORDS = {"nguoi", "khoang", "tam", "chung", "tren", "duoi", "hon", "gan", "cong", "nhan"}


class FormRunner:
    """Runs FormSpecs: the handler of each form's flow name (``feature()``); the validators,
    submitters and media options come from the features that own the forms (``install``)."""

    def __init__(self, forms: dict[str, FormSpec], crypto: Any) -> None:
        self.forms = forms
        self.crypto = crypto
        self.validators: dict[str, Validator] = {"text": _plain_text, "choice": _choice_only}
        self.submitters: dict[str, Submit] = {}
        self.media: dict[str, MediaOption] = {}

    def feature(self) -> Feature:
        """The runner as a feature: one flow per form, and the stale-button reply."""
        return Feature(
            name="bot.core.forms",
            flows=dict.fromkeys(self.forms, self.handle),
            payloads={FormPayload.prefix: self.stale_button},
        )

    def install(self, validators: dict[str, Validator], submitters: dict[str, Submit],
                media: dict[str, MediaOption]) -> None:  # fmt: skip
        self.validators.update(validators)
        self.submitters.update(submitters)
        self.media.update(media)

    # -- public API for handlers ----------------------------------------------------------
    async def start(
        self, ctx: Ctx, name: str, prefill: dict[str, tuple[Any, str]] | None = None
    ) -> list[Outgoing]:
        spec = self.forms[name]
        for key in _NAV_KEYS:
            ctx.data.pop(key, None)  # left by an earlier form ("_" keys outlive a flow)
        ctx.start_flow(name, None, {"form": {}, "shown": {}}, spec.version)
        for slot_name, (value, shown) in (prefill or {}).items():
            self._store(ctx, spec.slot(slot_name), value, shown)
        return self._next(ctx, spec)

    def resume(self, ctx: Ctx) -> list[Outgoing]:
        """Re-ask where the active form stands (the first slot without a valid value)."""
        spec = self.forms[ctx.flow or ""]
        ctx.flow_version = spec.version
        ctx.step = None
        for key in _NAV_KEYS:
            ctx.data.pop(key, None)
        return self._next(ctx, spec)

    def edited(self, ctx: Ctx) -> list[Outgoing]:
        """An edited message while a flow waits for an answer (#10): never taken as the answer
        to the question asked now (a name corrected by editing it would land in the company
        slot). The worker is told how to change an answer, and the question is asked again."""
        spec = self.forms.get(ctx.flow or "")
        if spec is None:  # a hand-written flow (a note, a reason): it cannot be asked again here
            return [ctx.say("common.edited_in_flow")]
        if ctx.step == "_confirm":
            return [ctx.say("form.edited_at_confirm"), *self._confirm(ctx, spec)]
        ctx.data.pop("_cands", None)
        slot = spec.slot(ctx.step or "")
        return [ctx.say("form.edited"), *(self._ask(ctx, spec, slot) if slot else
                                          self._next(ctx, spec))]  # fmt: skip

    # -- a form left half-filled ("/start", "/menu", a deep link, a restart) ----------------
    def in_form(self, ctx: Ctx) -> FormSpec | None:
        return self.forms.get(ctx.flow or "")

    def offer_resume(self, ctx: Ctx) -> list[Outgoing]:
        """Never drop a half-filled form silently: ask whether to carry on or to drop it."""
        spec = self.forms[ctx.flow or ""]
        text = ctx.t("form.half_filled", form=ctx.t(spec.title))
        options = [(ctx.t("form.resume"), _form("resume")), (ctx.t("form.drop"), _form("drop"))]
        return [ctx.choices(text, options)]

    async def _drop(self, ctx: Ctx, spec: FormSpec) -> list[Outgoing]:
        """ "Bỏ đơn": the answers go, the menu follows, and an invite link that arrived while
        the form was open (``_start_args``) is honoured now."""
        args = ctx.data.pop("_start_args", None)
        ctx.clear_flow()
        outs = [ctx.say("form.dropped", form=ctx.t(spec.title)), menu(ctx)]
        referral = ctx.services.hooks.start_payload
        if referral is not None and args:
            outs += await referral(ctx, args)
        return outs

    def values(self, ctx: Ctx) -> dict[str, Any]:
        """Decrypted values of the active form."""
        crypto = self.crypto
        raw = dict(ctx.data.get("form", {}))
        spec = self.forms.get(ctx.flow or "")
        if spec and crypto:
            for slot in spec.slots:
                if slot.personal and raw.get(slot.name) is not None:
                    raw[slot.name] = crypto.decrypt(raw[slot.name])
        return raw

    # -- the flow handler -----------------------------------------------------------------
    async def handle(self, ctx: Ctx) -> list[Outgoing] | None:
        option = self.media.get(ctx.flow or "")
        if option is not None and ctx.inbound.kind is Kind.MEDIA:
            return await option(ctx, self._handle)
        return await self._handle(ctx)

    async def _handle(self, ctx: Ctx) -> list[Outgoing] | None:
        spec = self.forms[ctx.flow or ""]
        inbound = ctx.inbound
        if ctx.flow_version != spec.version:
            ctx.flow_version = spec.version
            ctx.step = None  # resume at the first slot without a valid value
        payload = inbound.payload or ""
        pressed = FormPayload.unpack(payload)
        typed = typed_words(inbound.text) if inbound.kind is Kind.TEXT else ""
        action = pressed.action if pressed else ""
        if action == "cancel" or typed in _CANCEL_WORDS:
            ctx.clear_flow()
            return [ctx.say(spec.cancelled)]
        if action == "resume":
            return [ctx.say("form.resumed"), *self.resume(ctx)]
        if action == "drop":
            return await self._drop(ctx, spec)
        if action == "back" or typed in _BACK_WORDS:
            return self._back(ctx, spec)
        if ctx.step == "_confirm" and typed in _SUBMIT_WORDS:
            pressed = FormPayload("submit")
        if ctx.step is None or (ctx.step != "_confirm" and spec.slot(ctx.step) is None):
            return self._next(ctx, spec)
        if ctx.step == "_confirm":
            return await self._at_confirm(ctx, spec, pressed)
        if inbound.kind is Kind.BUTTON and pressed is None:
            return None  # a button of another feature: let the engine route it
        slot = spec.slot(ctx.step)
        assert slot is not None
        return await self._answer(ctx, spec, slot, pressed)

    async def stale_button(self, ctx: Ctx) -> list[Outgoing]:
        """A form button pressed after the form ended (e.g. "Gửi" twice)."""
        return [ctx.say("form.stale")]

    # -- steps ----------------------------------------------------------------------------
    async def _answer(
        self, ctx: Ctx, spec: FormSpec, slot: Slot, pressed: FormPayload | None
    ) -> list[Outgoing]:
        inbound = ctx.inbound
        typed = typed_words(inbound.text) if inbound.kind is Kind.TEXT else ""
        if slot.optional and ((pressed and pressed.action == "skip") or typed in _SKIP_WORDS):
            self._store(ctx, slot, None, ctx.t("form.skipped"))
            self._fill_from(ctx, spec, slot, "")
            return self._after_store(ctx, spec, slot)
        if typed and ctx.data.get("_cands"):
            picked_value = _match_candidate(ctx.data["_cands"], inbound.text)
            if picked_value is not None:
                pressed = FormPayload("pick", picked_value)
        if pressed is not None and pressed.action == "pick":
            value = pressed.arg
            shown = self._pick_shown(ctx, slot, value)
            if shown is None:
                return [ctx.say("form.stale"), *self._ask(ctx, spec, slot)]
            self._store(ctx, slot, value, shown)
            self._fill_from(ctx, spec, slot, value)
            return self._after_store(ctx, spec, slot)
        if inbound.kind is Kind.CONTACT and inbound.phone and slot.input == "phone":
            text = inbound.phone
        elif inbound.kind is Kind.TEXT and inbound.text:
            text = inbound.text
        else:
            return [ctx.say("form.need_text"), *self._ask(ctx, spec, slot)]
        if slot.choices:
            picked = _match_choice(ctx, slot, text)
            if isinstance(picked, Invalid):
                return [ctx.say(picked.error_key, **picked.params), *self._ask(ctx, spec, slot)]
            if picked is not None:
                self._store(ctx, slot, picked.value, ctx.t(picked.label_key))
                return self._after_store(ctx, spec, slot)
        result = await self.validators[slot.validator](ctx, text)
        if isinstance(result, Invalid):
            return [ctx.say(result.error_key, **result.params), *self._ask(ctx, spec, slot)]
        if isinstance(result, Candidates):
            ctx.data["_cands"] = {value: shown for value, shown in result.options}
            ctx.data["_fills"] = {v: {k: list(f) for k, f in fs.items()}
                                  for v, fs in result.fills.items()}  # fmt: skip
            options = [(shown, _form("pick", value)) for value, shown in result.options]
            return [ctx.choices(ctx.t(result.prompt_key), options + self._nav(ctx))]
        self._store(ctx, slot, result.value, result.shown)
        self._fill_from(ctx, spec, slot, "")
        outs = self._after_store(ctx, spec, slot)
        if slot.input == "phone":
            outs.insert(0, Outgoing(ctx.address, RemoveKeyboard(ctx.t("form.got_phone"))))
        return outs

    def _fill_from(self, ctx: Ctx, spec: FormSpec, slot: Slot, value: str) -> None:
        """The later answers a picked candidate carries (``Candidates.fills``). Answers an earlier
        pick of this slot filled are taken back first, so a changed answer does not leave them."""
        by = dict(ctx.data.get("_filled_by", {}))
        form = dict(ctx.data.get("form", {}))
        for name in by.pop(slot.name, []):
            form.pop(name, None)
        ctx.data["form"] = form
        filled = []
        for name, (v, shown) in ctx.data.get("_fills", {}).get(value, {}).items():
            target = spec.slot(name)
            if target is not None and form.get(name) is None:
                self._store(ctx, target, v, shown)
                filled.append(name)
        if filled:
            by[slot.name] = filled
        if by:
            ctx.data["_filled_by"] = by
        else:
            ctx.data.pop("_filled_by", None)

    def _after_store(self, ctx: Ctx, spec: FormSpec, slot: Slot) -> list[Outgoing]:
        ctx.data.pop("_cands", None)
        ctx.data.pop("_fills", None)
        if ctx.data.pop("_editing", False):
            return self._confirm(ctx, spec)
        if ctx.data.get("_back"):
            # The worker stepped back: walk forward one question at a time, as they came.
            active = self._active_slots(spec, ctx.data.get("form", {}))
            names = [s.name for s in active]
            if slot.name in names and names.index(slot.name) + 1 < len(active):
                following = active[names.index(slot.name) + 1]
                ctx.step = following.name
                return self._ask(ctx, spec, following)
        return self._next(ctx, spec)

    async def _at_confirm(
        self, ctx: Ctx, spec: FormSpec, pressed: FormPayload | None
    ) -> list[Outgoing] | None:
        action = pressed.action if pressed else ""
        if pressed is not None and action == "edit":
            slot = spec.slot(pressed.arg)
            if slot is None:
                return self._confirm(ctx, spec)
            ctx.step = slot.name
            ctx.data["_editing"] = True
            return self._ask(ctx, spec, slot)
        if action == "submit":
            values = self.values(ctx)
            values = {s.name: values.get(s.name) for s in self._active_slots(spec, values)}
            ctx.clear_flow()
            return await self.submitters[spec.submit](ctx, values)
        if ctx.inbound.kind is Kind.BUTTON and pressed is None:
            return None  # a button of another feature: let the engine route it
        return [ctx.say("form.use_buttons"), *self._confirm(ctx, spec)]

    def _back(self, ctx: Ctx, spec: FormSpec) -> list[Outgoing]:
        values = ctx.data.get("form", {})
        active = self._active_slots(spec, values)
        names = [s.name for s in active]
        current = spec.slot(ctx.step or "")
        ctx.data.pop("_fills", None)
        if ctx.data.pop("_cands", None) is not None and current is not None:
            # Back from a list of candidates is the question that produced it.
            return self._ask(ctx, spec, current)
        if ctx.data.pop("_editing", False):
            return self._confirm(ctx, spec)  # back from changing one answer: the summary
        if ctx.step == "_confirm" and active:
            target = active[-1]
        elif ctx.step in names and names.index(ctx.step) > 0:
            target = active[names.index(ctx.step) - 1]
        else:
            # The first question: nothing to go back to, and nothing is thrown away silently.
            first = current or (active[0] if active else None)
            if first is None:
                return self._next(ctx, spec)
            ctx.step = first.name
            return [ctx.say("form.back_first"), *self._ask(ctx, spec, first)]
        ctx.step = target.name
        ctx.data["_back"] = True
        return self._ask(ctx, spec, target)

    def _next(self, ctx: Ctx, spec: FormSpec) -> list[Outgoing]:
        values = ctx.data.get("form", {})
        for slot in self._active_slots(spec, values):
            if slot.name not in values or not self._still_valid(slot, values[slot.name]):
                ctx.step = slot.name
                return self._ask(ctx, spec, slot)
        return self._confirm(ctx, spec)

    def _confirm(self, ctx: Ctx, spec: FormSpec) -> list[Outgoing]:
        ctx.step = "_confirm"
        ctx.data.pop("_back", None)
        values = ctx.data.get("form", {})
        shown = ctx.data.get("shown", {})
        crypto = self.crypto
        lines = []
        options: list[tuple[str, str]] = []
        for slot in self._active_slots(spec, values):
            text = shown.get(slot.name, "")
            if slot.personal and crypto and text:
                text = crypto.decrypt(text)
            lines.append(f"• {ctx.t(slot.label)}: {text}")
            options.append((ctx.t("form.edit", label=ctx.t(slot.label)), _form("edit", slot.name)))
        text = ctx.t(spec.confirm, summary="\n".join(lines))
        options = [(ctx.t("form.submit"), _form("submit")), *options]
        options.append((ctx.t("form.cancel"), _form("cancel")))
        return [ctx.choices(text, options)]

    def _ask(self, ctx: Ctx, spec: FormSpec, slot: Slot) -> list[Outgoing]:
        if slot.personal:
            # What comes next may be a name or phone even if the form is left: the FAQ misses
            # must not keep it (handlers/faq_misses.py).
            ctx.data["_asked_personal"] = ctx.now.isoformat()
        else:
            ctx.data.pop("_asked_personal", None)
        text = ctx.t(slot.prompt)
        options = [(ctx.t(c.label_key), _form("pick", c.value)) for c in slot.choices]
        if slot.optional:
            options.append((ctx.t("form.skip"), _form("skip")))
        nav = tuple(Choice(lbl, p) for lbl, p in options + self._nav(ctx))
        if slot.input == "phone":
            return [Outgoing(ctx.address, RequestContact(text, ctx.t("form.share_phone"), nav))]
        return [Outgoing(ctx.address, Choices(text, nav))]

    def _nav(self, ctx: Ctx) -> list[tuple[str, str]]:
        return [(ctx.t("form.back"), _form("back")), (ctx.t("form.cancel"), _form("cancel"))]

    # -- helpers --------------------------------------------------------------------------
    def _active_slots(self, spec: FormSpec, values: dict[str, Any]) -> list[Slot]:
        return [s for s in spec.slots if condition_holds(s.when, values)]

    def _still_valid(self, slot: Slot, value: Any) -> bool:
        if slot.choices and value is not None:
            return value in {c.value for c in slot.choices}
        return value is not None or slot.optional

    def _pick_shown(self, ctx: Ctx, slot: Slot, value: str) -> str | None:
        for choice in slot.choices:
            if choice.value == value:
                return ctx.t(choice.label_key)
        return ctx.data.get("_cands", {}).get(value)

    def _store(self, ctx: Ctx, slot: Slot | None, value: Any, shown: str) -> None:
        if slot is None:
            return
        crypto = self.crypto
        if slot.personal and crypto is not None:
            # A skipped optional slot has no value, but its shown text is still encrypted so
            # the confirmation screen can treat every personal slot alike.
            value = crypto.encrypt(str(value)) if value is not None else None
            shown = crypto.encrypt(shown)
        form = dict(ctx.data.get("form", {}))
        form[slot.name] = value
        ctx.data["form"] = form
        ctx.data["shown"] = {**ctx.data.get("shown", {}), slot.name: shown}


_NUMBER_IN_TEXT = re.compile(r"[0-9]{1,3}(?:[.,][0-9]{3})+|[0-9]+")


def _number_in(text: str) -> int | None:
    found = _NUMBER_IN_TEXT.search(text)
    return parse_int(re.sub(r"[.,]", "", found.group(0))) if found else None


def _match_choice(ctx: Ctx, slot: Slot, text: str) -> SlotChoice | Invalid | None:
    """The choice a typed answer means: its number in the list, its label (with or without
    diacritics, or just the label's first word), or for a range question a count of people."""
    choices = slot.choices
    number = typed_number(text)
    if number is not None and 1 <= number <= len(choices):
        return choices[number - 1]
    typed = typed_words(text)
    by_value = next((c for c in choices if c.value == typed), None)
    if by_value is not None:
        return by_value
    index = pick_label(typed, [ctx.t(c.label_key) for c in choices], prefix=True)
    if index is not None:
        return choices[index]
    ranged = [c for c in choices if c.low is not None or c.high is not None]
    count = _number_in(typed)
    if ranged and count is not None:
        has_words = bool(set(typed.split()) & _PEOPLE_WORDS)
        if has_words or count >= 10:  # "7" alone is a wrong option number, "70" people
            return next((c for c in ranged if c.covers(count)), None)
    if number is not None:
        return Invalid("form.bad_number", {"count": len(choices)})
    return None


def _match_candidate(candidates: dict[str, str], text: str) -> str | None:
    """A candidate (e.g. a commune) picked by typing its number or its name instead of a press."""
    values = list(candidates)
    number = typed_number(text)
    if number is not None and 1 <= number <= len(values):
        return values[number - 1]
    index = pick_label(typed_words(text), list(candidates.values()), prefix=True)
    return values[index] if index is not None else None


async def _plain_text(ctx: Ctx, text: str) -> Result:
    text = " ".join(text.split())
    if not text:
        return Invalid("form.need_text")
    if len(text) > 300:
        return Invalid("form.too_long", {"limit": 300})
    return Valid(text, text)


async def _choice_only(ctx: Ctx, text: str) -> Result:
    return Invalid("form.use_buttons")
