"""Why a conflict record exists, as a code and its parameters.

A record's ``reason`` column holds ``{"code": ..., "params": {...}}`` as JSON, never a
sentence: the record is made on one side (the central server, or a site's agent), copied
to the other, and read by people in Spanish and English in the console, the desktop and
through the site API. Each of those words the code in its reader's language.

Which table a code comes from depends on the record's kind: ``rule`` records carry a
rule of the work's code (``core.rules``, the same codes and parameters as a refused
write); ``rejected`` records carry the central server's problem code with its English
``message`` as a parameter, for codes an edge has no words for; the other kinds carry
one of ``CODES``. Records written before reasons were coded hold English prose; they
read back as the code ``text`` with the prose as ``params["text"]``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# kind "field": the same field changed on both sides since the op's base version; the
# conflict rule kept the later arrival (``kept_later``) or the central value.
KEPT_LATER = "kept_later"
KEPT_CENTRAL = "kept_central"
# kind "deleted": the edit arrived after the row was deleted; or the delete arrived
# from a device that had not seen edits made after its base version.
DELETED_BEFORE_EDIT = "deleted_before_edit"
DELETED_UNSEEN_EDITS = "deleted_unseen_edits"
# kind "unique": a create whose unique field value another live row holds.
VALUE_TAKEN = "value_taken"
# Records from before coded reasons: the stored prose, as it was.
TEXT = "text"
CODES = (KEPT_LATER, KEPT_CENTRAL, DELETED_BEFORE_EDIT, DELETED_UNSEEN_EDITS, VALUE_TAKEN)

_LIMIT = 500  # the column's width (core.sync.models.ConflictRecord.reason)


@dataclass(frozen=True)
class Reason:
    code: str
    params: dict[str, Any] = field(default_factory=dict)


def encode(code: str, **params: Any) -> str:
    """The stored form. Parameters that would not fit the column are dropped (the code
    alone still says why), never cut mid-value."""
    text = json.dumps({"code": code, "params": params}, default=str, ensure_ascii=False)
    return text if len(text) <= _LIMIT else json.dumps({"code": code, "params": {}})


def decode(stored: str | None) -> Reason | None:
    """The code and parameters of a stored reason; ``None`` when there is none."""
    if not stored:
        return None
    try:
        data = json.loads(stored)
    except ValueError:
        return Reason(TEXT, {"text": stored})
    if not isinstance(data, dict) or not isinstance(data.get("code"), str):
        return Reason(TEXT, {"text": stored})
    params = data.get("params")
    return Reason(data["code"], params if isinstance(params, dict) else {})


def fill(template: str, params: dict[str, Any]) -> str:
    """``template`` with ``params`` in its braces; a missing parameter leaves the
    template as it is rather than failing the page that shows it."""
    values = {k: ("" if v is None else v) for k, v in params.items()}
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return template


def key_of(kind: str, reason: Reason) -> str:
    """The catalogue key an edge words ``reason`` by: ``rule.<code>`` for a rule of the
    work, ``refused.<code>`` for a refusal by the central server, ``reason.<code>``
    otherwise. Every edge's catalogue uses these keys (under its own prefix)."""
    if kind == "rule":
        return f"rule.{reason.code}"
    if kind == "rejected":
        return f"refused.{reason.code}"
    return f"reason.{reason.code}"


def describe(kind: str, stored: str | None, template: Callable[[str], str | None]) -> str:
    """``stored`` in the words ``template`` gives for its key (an edge's catalogue in
    the reader's language). A code the catalogue lacks falls back to the refusal's own
    message, then to ``refused.other`` or the bare code; prose from before coded
    reasons is shown as it was."""
    reason = decode(stored)
    return "" if reason is None else word(kind, reason, template)


def word(kind: str, reason: Reason, template: Callable[[str], str | None]) -> str:
    """``reason`` (of a record of ``kind``) in the words ``template`` gives; see
    ``describe``. The console words a refusal it reads from the applied ops with it."""
    if reason.code == TEXT:
        return str(reason.params.get("text", ""))
    found = template(key_of(kind, reason))
    if found is None and kind == "rejected":
        found = template("refused.other")
    if found is None:
        return str(reason.params.get("message") or reason.code)
    return fill(found, {"code": reason.code, **reason.params})
