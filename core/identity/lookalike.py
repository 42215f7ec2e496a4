"""Look-alike user names and e-mails (homograph spoofing): "Ana" spelt with a Cyrillic
capital A (U+0410) next to the real "Ana" on the keypad list, or an e-mail whose "a"
is U+0430 next to the real one.

Two rules, checked by the write path for users (``guard`` of the users' spec):

- a name or e-mail may not mix scripts that have look-alikes (Latin with Cyrillic or
  Greek, ...); e-mails must not contain confusable characters at all;
- a name or e-mail whose *skeleton* equals another user's, while the text differs, is
  refused. The skeleton is the text in NFKC, each confusable character replaced by
  its Latin look-alike (Unicode's confusables data, via ``confusable_homoglyphs``),
  case-folded, with blanks collapsed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from confusable_homoglyphs import categories, confusables
from sqlalchemy import select
from sqlalchemy.orm import Session

SAFE = ["latin", "common", "inherited"]
FIELDS = ("name", "email")


@lru_cache(maxsize=4096)
def _latin(ch: str) -> str:
    found = confusables.is_confusable(ch, preferred_aliases=SAFE)
    if not found:
        return ch
    for glyph in found[0]["homoglyphs"]:
        if glyph["c"].isascii():
            return str(glyph["c"])
    return ch


def skeleton(text: str) -> str:
    norm = unicodedata.normalize("NFKC", text)
    mapped = "".join(_latin(ch) for ch in norm)
    return " ".join(mapped.casefold().split())


def _scripts(text: str) -> set[str]:
    aliases = categories.unique_aliases(text)
    return {a for a in aliases if a not in ("COMMON", "INHERITED")}


def problems(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Look-alike characters inside one name or e-mail (no database needed)."""
    out = []
    name = values.get("name")
    if (
        isinstance(name, str)
        and len(_scripts(name)) > 1
        and confusables.is_confusable(name, preferred_aliases=SAFE)
    ):
        out.append(("name", "mixes alphabets with look-alike letters [lookalike_characters]"))
    email = values.get("email")
    if isinstance(email, str) and confusables.is_confusable(email, preferred_aliases=SAFE):
        out.append(("email", "contains look-alike characters [lookalike_characters]"))
    return out


def guard(
    session: Session, model: Any, org_id: str, row_id: str, values: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """``problems`` plus: no other user of the organisation whose name or e-mail looks
    the same as these without being the same."""
    errors = problems(values)
    for fname in FIELDS:
        value = values.get(fname)
        if not isinstance(value, str) or not value:
            continue
        mine = skeleton(value)
        col = getattr(model, fname)
        rows = session.execute(
            select(model.id, col).where(
                model.org_id == org_id, model.deleted_at.is_(None), model.id != row_id
            )
        )
        for _, other in rows:
            if isinstance(other, str) and other != value and skeleton(other) == mine:
                errors.append(
                    (fname, "looks like another user's but is not the same [lookalike_of_other]")
                )
                break
    return errors
