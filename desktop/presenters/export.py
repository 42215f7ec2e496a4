"""CSV and XLSX export of what a table shows: every matching row (not only those
loaded), in the table's order, with the table's columns, as a person reads them:
references by name (the document number first where the record has one), codes as
words, headers in the user's language.

Runs anywhere (no Qt): the window runs it in a worker thread with progress and cancel
(``desktop.views.long_work``). It writes to a temporary file next to the target and
renames at the end, so a cancelled or failed export leaves no half-written file.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from core import exports, queries
from core.registry import EntitySpec
from core.tour.timezones import zone_field
from desktop.i18n import choice_label, field_label
from desktop.models import refs
from desktop.models.formatting import display, display_at
from desktop.presenters.fields import field_specs

Progress = Callable[[int, int], None]  # (done, total)
BATCH = 200  # rows per query page: short GIL holds, so the window stays responsive


class Cancelled(Exception):
    """The user cancelled the export; nothing was written."""


def sanitize_cell(value: Any) -> Any:
    """The one hook every exported cell passes through: text goes through core's export
    sanitiser (core.exports, the same as the API's CSV), other values as they are."""
    return exports.neutralise(value) if isinstance(value, str) else value


class _Namer:
    """Turns a stored row into the cells a person reads, resolving names per batch."""

    def __init__(self, session: Any, spec: EntitySpec, columns: Sequence[str]) -> None:
        self.session, self.spec, self.columns = session, spec, tuple(columns)
        self.zones = {c: z for c in columns if (z := zone_field(spec.fields, c))}
        self.choices = {f.name for f in field_specs(spec) if f.kind == "choice"}
        self.refs = {c: t for c, t in (dict(spec.refs) | refs.LIST_REFS).items() if c in columns}
        self.names: dict[str, dict[str, str]] = {c: {} for c in self.refs}

    def resolve(self, s: Any, rows: list[Any]) -> None:
        for col, target in self.refs.items():
            ids: set[str] = set()
            for r in rows:
                v = getattr(r, col)
                ids.update(v if isinstance(v, list) else [v] if v else [])
            ids -= self.names[col].keys()
            self.names[col].update(refs.titles(s, self.session.org_id, target, ids))

    def cells(self, row: Any) -> list[Any]:
        out: list[Any] = []
        for c in self.columns:
            v = getattr(row, c)
            if c in self.refs and v is not None:
                names = self.names[c]
                many = isinstance(v, list)
                v = ", ".join(names.get(i, i) for i in v) if many else names.get(v, v)
            elif c in self.choices:
                v = choice_label(v)
            elif c in self.zones:  # a show's time as it reads at the venue
                v = display_at(v, getattr(row, self.zones[c]))
            out.append(v)
        return out


def iter_export(
    session: Any, spec: EntitySpec, columns: Sequence[str], query: dict[str, Any]
) -> Iterator[list[Any]]:
    namer = _Namer(session, spec, columns)
    with session.read() as s:
        batch: list[Any] = []
        for row in queries.iter_rows(s, spec, session.org_id, batch=BATCH, **query):
            batch.append(row)
            if len(batch) >= BATCH:
                namer.resolve(s, batch)
                yield from (namer.cells(r) for r in batch)
                batch = []
                s.expunge_all()  # keep memory flat over 100,000 rows
        namer.resolve(s, batch)
        yield from (namer.cells(r) for r in batch)


def headers(spec: EntitySpec, columns: Sequence[str]) -> list[str]:
    return [field_label(c) for c in columns]


def export_rows(
    session: Any,
    spec: EntitySpec,
    columns: Sequence[str],
    query: dict[str, Any],
    path: str | Path,
    *,
    total: int | None = None,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> int:
    """Write the rows to ``path`` (.csv or .xlsx by suffix). Returns the row count.
    Raises ``Cancelled`` (and leaves no file) when ``cancelled()`` turns true."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    rows = _watched(iter_export(session, spec, columns, query), total or 0, progress, cancelled)
    try:
        if path.suffix.lower() == ".xlsx":
            count = _xlsx(tmp, spec, headers(spec, columns), rows)
        else:
            count = _csv(tmp, headers(spec, columns), rows)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def _watched(rows: Iterator[list[Any]], total: int, progress: Progress | None,
             cancelled: Callable[[], bool] | None) -> Iterator[list[Any]]:  # fmt: skip
    for n, values in enumerate(rows, 1):
        yield values
        if n % 25 == 0:
            time.sleep(0)  # hand the GIL over: the window's thread may be waiting for it
        if n % 500 == 0:
            if cancelled is not None and cancelled():
                raise Cancelled()
            if progress is not None:
                progress(n, total)


def _csv(path: Path, header: list[str], rows: Iterator[list[Any]]) -> int:
    count = 0
    # utf-8-sig: spreadsheet programs open it with accents intact.
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for values in rows:
            writer.writerow([sanitize_cell(v if isinstance(v, str) else display(v))
                             for v in values])  # fmt: skip
            count += 1
    return count


def _cell(ws: Any, value: Any) -> Any:

    if isinstance(value, str):
        # openpyxl writes any text starting with "=" as a live formula: user text is
        # always a string cell, sanitised like the CSV export (core.exports).
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(ws, value=sanitize_cell(value))
        cell.data_type = "s"
        return cell
    if isinstance(value, datetime):
        return value.astimezone().replace(tzinfo=None)  # Excel has no time zones
    if isinstance(value, Decimal):
        return float(value) if abs(value) < 10**15 else str(value)
    if isinstance(value, (list, dict)):
        return _cell(ws, display(value))
    return value


def _xlsx(path: Path, spec: EntitySpec, header: list[str], rows: Iterator[list[Any]]) -> int:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)  # streams rows: memory stays flat on big tables
    ws = wb.create_sheet(spec.name[:31])
    ws.append([_cell(ws, h) for h in header])
    count = 0
    try:
        for values in rows:
            ws.append([_cell(ws, v) for v in values])
            count += 1
    finally:
        # Also when cancelled: closes openpyxl's row writer; the caller deletes the file.
        wb.save(path)
    return count


def write_table(path: str | Path, title: str, header: list[str], rows: list[list[str]]) -> int:
    """A small table as shown on screen (the Finance totals) with a title line, to
    .xlsx or .csv. Returns the row count."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.append([sanitize_cell(title)])
        ws.append([sanitize_cell(h) for h in header])
        for r in rows:
            ws.append([sanitize_cell(v) for v in r])
        wb.save(path)
    else:
        with path.open("w", newline="", encoding="utf-8-sig") as fh:
            writer = csv.writer(fh)
            writer.writerow([sanitize_cell(title)])
            writer.writerow([sanitize_cell(h) for h in header])
            writer.writerows([[sanitize_cell(v) for v in r] for r in rows])
    return len(rows)


# -- the same export in a separate process ----------------------------------------------
#
# A worker thread shares the GIL with the window: on a loaded machine the scheduler can
# pass over the worker while it holds the GIL, and the window then waits for it (stalls
# of 100-400 ms measured on two busy cores, whatever the switch interval). A separate
# interpreter shares nothing with the window's thread: the big exports run there. It
# repeats the table's query from plain values (the search text, not the SQL clause) and
# reports progress as lines on its stdout; Cancel kills it and removes its .part file.

PROCESS_FROM_ROWS = 5_000  # below this an export takes a moment: the thread is enough


class ExportFailed(Exception):
    """The export process ended without a result (its last words are the message)."""


@dataclass
class ExportRequest:
    url: str
    org_id: str
    entity: str
    columns: list[str]
    filters: dict[str, Any]
    sort: str
    search: str
    path: str
    total: int
    language: str


def in_a_process() -> bool:
    """A frozen bundle's executable is the app, not an interpreter: threads there."""
    import sys

    return not getattr(sys, "frozen", False)


def export_in_process(
    req: ExportRequest,
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> int:
    import json
    import subprocess
    import sys
    from dataclasses import asdict

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.Popen([sys.executable, "-m", "desktop.presenters.export"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    target = Path(req.path)
    part = target.with_name(f".{target.name}.part")
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        proc.stdin.write(json.dumps(asdict(req)))
        proc.stdin.close()
        count: int | None = None
        said = ""
        for line in proc.stdout:
            kind, _, rest = line.strip().partition(" ")
            if kind == "progress" and progress is not None:
                done, total = (int(v) for v in rest.split())
                progress(done, total)
            elif kind == "done":
                count = int(rest)
            elif kind == "error":
                said = rest
            if cancelled is not None and cancelled():
                raise Cancelled()
        proc.wait()
        if count is None or proc.returncode != 0:
            raise ExportFailed(said or proc.stderr.read()[-500:] or f"exit {proc.returncode}")
        return count
    except BaseException:
        proc.kill()
        proc.wait()
        part.unlink(missing_ok=True)
        raise
    finally:
        proc.stdout.close()
        proc.stderr.close()


class _ReadOnly:
    """What export_rows needs of a desktop session: reads and the organisation."""

    def __init__(self, store: Any, org_id: str) -> None:
        self.store, self.org_id = store, org_id

    def read(self) -> Any:
        return self.store.read()


def _child() -> int:
    """``python -m desktop.presenters.export``: one export from a request on stdin."""
    import json
    import sys

    from core.db import Store
    from core.registry import registry
    from desktop.i18n import set_language

    req = ExportRequest(**json.loads(sys.stdin.read()))
    # A process of its own may be polite (unlike a thread, it holds no GIL the window
    # waits for): the window's process gets the CPU first on a busy machine.
    if hasattr(os, "nice"):
        os.nice(10)
    set_language(req.language)
    store = Store(req.url)
    try:
        spec = registry()[req.entity]
        query: dict[str, Any] = {"filters": req.filters, "sort": req.sort}
        if req.search:
            query["scope"] = refs.search_clause(spec, req.org_id, req.search)

        def report(done: int, total: int) -> None:
            print(f"progress {done} {total}", flush=True)

        count = export_rows(_ReadOnly(store, req.org_id), spec, req.columns, query, req.path,
                            total=req.total, progress=report)  # fmt: skip
    except Exception as exc:  # said to the window, which words it
        print(f"error {type(exc).__name__}: {exc}".replace("\n", " "), flush=True)
        return 1
    finally:
        store.dispose()
    print(f"done {count}", flush=True)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_child())
