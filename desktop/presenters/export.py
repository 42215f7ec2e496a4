"""CSV and XLSX export of what a table shows: every matching row (not only those
loaded), in the table's order, with the table's columns."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from core.registry import EntitySpec
from core.services import queries
from desktop.i18n import field_label
from desktop.models.formatting import display


def _values(row: Any, columns: Sequence[str]) -> list[Any]:
    return [getattr(row, c) for c in columns]


def iter_export(
    session: Any, spec: EntitySpec, columns: Sequence[str], query: dict[str, Any]
) -> Iterator[list[Any]]:
    with session.read() as s:
        for row in queries.iter_rows(s, spec, session.org_id, **query):
            yield [row.id, *_values(row, columns)]


def export_rows(
    session: Any,
    spec: EntitySpec,
    columns: Sequence[str],
    query: dict[str, Any],
    path: str | Path,
) -> int:
    """Write the rows to ``path`` (.csv or .xlsx by suffix). Returns the row count."""
    path = Path(path)
    header = ["id", *(field_label(c) for c in columns)]
    rows = iter_export(session, spec, columns, query)
    if path.suffix.lower() == ".xlsx":
        return _xlsx(path, spec, header, rows)
    count = 0
    # utf-8-sig: spreadsheet programs open it with accents intact.
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for values in rows:
            writer.writerow([v if isinstance(v, str) else display(v) for v in values])
            count += 1
    return count


def _cell(value: Any) -> Any:
    from datetime import datetime
    from decimal import Decimal

    if isinstance(value, datetime):
        return value.astimezone().replace(tzinfo=None)  # Excel has no time zones
    if isinstance(value, Decimal):
        return float(value) if abs(value) < 10**15 else str(value)
    if isinstance(value, (list, dict)):
        return display(value)
    return value


def _xlsx(path: Path, spec: EntitySpec, header: list[str], rows: Iterator[list[Any]]) -> int:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)  # streams rows: memory stays flat on big tables
    ws = wb.create_sheet(spec.name[:31])
    ws.append(header)
    count = 0
    for values in rows:
        ws.append([_cell(v) for v in values])
        count += 1
    wb.save(path)
    return count
