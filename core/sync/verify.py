"""Divergence detection (guarantee 13): checksums of an organisation's rows (live ones,
and tombstones for agents that ask) that a site and the central server compare without
sending the rows.

Each live row has a digest (MD5 of its id and its stored fields as canonical JSON — the
same on SQLite and PostgreSQL, since both sides serialise rows with
``core.serial.row_to_json``) and a bucket (from the MD5 of its id: 64 buckets of 64
sub-buckets). A bucket's checksum is the XOR of its rows' digests, so it costs one pass
and does not depend on row order. A site compares the 64 bucket checksums of an entity,
then the sub-buckets of the buckets that differ, then the rows of the sub-buckets that
differ: three exchanges whatever the number of rows, and only the differing rows travel.

Rows with local edits still waiting are left out by the site (they differ on purpose
until their push is answered); it verifies when its outbox is empty.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.registry import EntitySpec
from core.serial import to_json

FANOUT = 64


def bucket_of(row_id: str) -> tuple[int, int]:
    h = hashlib.md5(row_id.encode(), usedforsecurity=False).digest()
    n = int.from_bytes(h[:2], "big") % (FANOUT * FANOUT)
    return n // FANOUT, n % FANOUT


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _digest(row_id: str, values: list[Any]) -> int:
    # Fields in the entity's stored order, separated by a control character no value
    # holds; None and "null" differ by a marker. Cheaper than one JSON document per row.
    text = "\x1f".join([row_id, *("\x00" if v is None else _text(v) for v in values)])
    return int.from_bytes(hashlib.md5(text.encode(), usedforsecurity=False).digest(), "big")


def live_digests(
    session: Session,
    spec: EntitySpec,
    org_id: str,
    *,
    skip: Iterable[str] = (),
    tombstones: bool = False,
) -> dict[str, tuple[tuple[int, int], int]]:
    """{id: ((bucket, sub-bucket), digest)} of the organisation's live rows of ``spec``,
    read column by column (no ORM objects: this runs over every row).

    With ``tombstones`` deleted rows count too, as deleted (not when: a delete given back
    after a restore is made again, later, on the central server): after a restore a
    site's tombstone and the central one can hold different fields, or only one side has
    the row at all. Agents from before ask without it and compare live rows only."""
    model: Any = spec.model  # a mapped class; the mixin type does not list its table
    names = tuple(n for n in spec.stored_fields if n in model.__table__.c)
    cols = [model.__table__.c[n] for n in names]
    skipped = set(skip)
    out: dict[str, tuple[tuple[int, int], int]] = {}
    if tombstones:
        stmt = select(model.id, *cols, model.deleted_at.is_not(None)).where(model.org_id == org_id)
    else:
        stmt = select(model.id, *cols).where(model.org_id == org_id, model.deleted_at.is_(None))
    for row in session.execute(stmt.execution_options(yield_per=5000)):
        row_id = row[0]
        if row_id in skipped:
            continue
        values = [to_json(v) for v in row[1:]]
        if tombstones:
            values[-1] = "deleted" if values[-1] else None
        out[row_id] = (bucket_of(row_id), _digest(row_id, values))
    return out


def summarise(
    digests: dict[str, tuple[tuple[int, int], int]], top: int | None = None
) -> dict[str, str]:
    """Bucket checksums (hex), or with ``top`` the sub-bucket checksums of that bucket."""
    acc: dict[int, int] = {}
    counts: dict[int, int] = {}
    for (b, sub), d in digests.values():
        if top is None:
            key = b
        elif b == top:
            key = sub
        else:
            continue
        acc[key] = acc.get(key, 0) ^ d
        counts[key] = counts.get(key, 0) + 1
    # The count goes with the XOR: two equal digests cancel out, a count does not.
    return {str(k): f"{acc[k]:032x}:{counts[k]}" for k in sorted(acc)}


def ids_in(digests: dict[str, tuple[tuple[int, int], int]], top: int, sub: int) -> dict[str, str]:
    """{id: digest} of one sub-bucket."""
    return {i: f"{d:032x}" for i, ((b, s), d) in digests.items() if (b, s) == (top, sub)}


def differing(mine: dict[str, str], theirs: dict[str, str]) -> list[str]:
    return sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
