"""Domain errors to words a person can act on: one table for the whole window."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, RuleBroken
from desktop.i18n import field_label, rule_text, tr


@dataclass
class UserMessage:
    title: str
    text: str
    fields: dict[str, str] = field(default_factory=dict)  # field -> message
    kind: str = "error"  # error | conflict | gone | forbidden | rule
    code: str = ""  # the domain error's code (machine_busy, invalid ...)


# Coded problems from core, in words (core gives a code and parameters, never a sentence).
CODED = {
    "time_nonexistent": "{time} does not exist in {tz}: the clocks change that night",
    "rate_invalid": "Must be a positive decimal rate",
}


def coded_text(code: str, params: dict[str, object] | None = None) -> str | None:
    template = CODED.get(code)
    return tr(template, **(params or {})) if template else None


def field_errors(exc: DomainError) -> dict[str, str]:
    out: dict[str, str] = {}
    for d in exc.details or []:
        if isinstance(d, dict) and d.get("field"):
            message = str(d.get("message", "")).removeprefix("Value error, ")
            code = str(d.get("code") or message)
            message = coded_text(code, d.get("params")) or message
            if message.startswith("String should match pattern"):
                message = tr("Invalid format")
            out.setdefault(str(d["field"]).split(".")[0], message)
    return out


def user_message(exc: BaseException) -> UserMessage:
    msg = _user_message(exc)
    if isinstance(exc, DomainError):
        msg.code = exc.code
    return msg


def _user_message(exc: BaseException) -> UserMessage:
    if isinstance(exc, RuleBroken):
        # A rule of the work said no: the core gives the code and values, worded here.
        text = rule_text(exc.code, exc.params)
        fields = {exc.field: text} if exc.field else {}
        return UserMessage(tr("The rules of the work do not allow this."), text, fields, "rule")
    if isinstance(exc, Conflict):
        fields = field_errors(exc)
        if fields:  # a uniqueness clash: a field problem, not someone else's edit
            text = "; ".join(f"{field_label(k)}: {v}" for k, v in fields.items())
            return UserMessage(tr("Please correct the highlighted fields."), text, fields)
        return UserMessage(tr("This record was changed by someone else."),
                           tr("Choose, field by field, which value to keep."),
                           kind="conflict")  # fmt: skip
    if isinstance(exc, Invalid):
        fields = field_errors(exc)
        text = "\n".join(f"{field_label(k)}: {v}" for k, v in fields.items()) or exc.message
        return UserMessage(tr("Please correct the highlighted fields."), text, fields)
    if isinstance(exc, NotFound):
        return UserMessage(tr("The record no longer exists."), exc.message, kind="gone")
    if isinstance(exc, Forbidden):
        return UserMessage(tr("You are not allowed to do that."), exc.message, kind="forbidden")
    if isinstance(exc, DomainError):
        return UserMessage(tr("Something went wrong"), exc.message)
    return UserMessage(tr("Something went wrong"), str(exc) or type(exc).__name__)
