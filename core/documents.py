"""Document numbers: how people name jobs and shows (``VLC-OT-0042``, ``VLC-SH-0007``)
on tickets, day sheets, exports and pages instead of UUIDs.

A number is the site's code, the kind of document and a sequence kept per site and
kind. The central server gives each site of an organisation a distinct code when it
creates the site, so two sites never hand out the same number, even offline. The write
path assigns the number when a row is created on a site (the last check, see
core.rules); a row arriving by sync keeps the number its site gave it, and nobody may
change a number afterwards (it is a derived field).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from core.errors import RuleBroken
from core.models import DocCounter, Site, SyncState
from core.rules import LOCAL, EntityRules, WriteContext, batch_safe
from core.sync.unit import unit_of

# Entity -> the kind letters in its numbers (OT: orden de trabajo; SH: show).
KINDS = {"jobs": "OT", "shows": "SH"}
FIELD = "doc_number"
DEFAULT_CODE = "S"


def code_from_name(name: str, taken: Iterable[str] = ()) -> str:
    """Three letters from a site's name (Valencia -> VAL), made distinct from ``taken``
    by a digit (VAL2, VAL3 ...)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    letters = re.sub(r"[^A-Za-z0-9]", "", plain).upper()[:3] or DEFAULT_CODE
    used = {t.upper() for t in taken}
    code, n = letters, 1
    while code in used:
        n += 1
        code = f"{letters}{n}"
    return code


def site_code(session: object) -> str | None:
    """This store's site code, or None on a store that is not a site (the central
    server), where rows are not numbered."""
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    unit = unit_of(session)
    cache = unit.site_code
    if cache is not None:
        return str(cache) or None
    state = session.get(SyncState, "site")
    code = ""
    if state is not None and isinstance(state.value, dict):
        site = session.get(Site, state.value.get("site_id"))
        if site is not None:
            code = site.code or code_from_name(site.name)
    unit.site_code = code
    return code or None


def next_number(session: object, code: str, kind: str) -> str:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    counters = unit_of(session).doc_counters
    counter = counters.get((code, kind))
    if counter is None:
        counter = session.get(DocCounter, (code, kind))
        if counter is None:
            counter = DocCounter(site_code=code, kind=kind, last=0)
            session.add(counter)
        counters[(code, kind)] = counter
    counter.last = (counter.last or 0) + 1
    return f"{code}-{kind}-{counter.last:04d}"


@batch_safe  # the counter is the transaction's own, not read from other rows
def _assign(ctx: WriteContext) -> None:
    if ctx.kind != "create":
        return
    given = ctx.values.get(FIELD)
    if given is not None:
        if ctx.origin == LOCAL and ctx.is_person:
            raise RuleBroken("derived_field", {"field_name": FIELD}, status=422, field=FIELD)
        return  # a number made on another site (sync), or kept by the import
    if not ctx.made_here:
        return
    code = site_code(ctx.session)
    if code:
        ctx.values[FIELD] = ctx.changed[FIELD] = next_number(ctx.session, code, KINDS[ctx.entity])


# Assigned as the last check, once every other rule has accepted the row: a refused
# create does not use up a number.
RULES = {name: EntityRules(checks=(_assign,), derived=(FIELD,)) for name in KINDS}
