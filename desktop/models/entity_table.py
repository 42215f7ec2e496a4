"""One table model for every registry entity.

A window onto the query, not a growing list: the row count comes from SQL (``COUNT``),
so the view's scrollbar spans every matching row from the start, and the rows in view
are read a page at a time by position (``core.queries``, offsets) when the view asks for
them. Ctrl+End or dragging the scrollbar to the bottom reads the last page at once
(read backwards from the end, so it costs what the first page costs) instead of 200
rows per step. Pages are kept in a small cache; rows not read yet show "…" for the
moment their page takes to arrive.

With ``background=True`` (the window's tables) every query (pages, counts, the new
first page after a sort, a search or a filter) runs in the reader thread
(``desktop.models.background``) and arrives through a queued signal: the window never
waits for SQL. Without it (scripts, tests of the model's logic) the same queries run
inline. Sorting, filters and search are a new query (the database sorts and searches,
not Python); the search waits for a pause in typing. References show the referenced
row's title, looked up once per page.

Changes from anywhere (this window, a LAN browser, the sync agent) arrive through
``apply_changes``: an edit to a loaded row is re-read in place; anything that can move
rows (a create, a delete) re-counts and re-reads the pages in the cache.
"""

from __future__ import annotations

import functools
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
from sqlalchemy import func, select

from core import queries
from core.registry import EntitySpec, registry
from core.tour.timezones import zone_field
from desktop.i18n import choice_label, field_label, tr
from desktop.models import background, refs
from desktop.models.formatting import cell_text, display_at, home_note, is_numeric
from desktop.presenters.fields import field_specs

PAGE_SIZE = 200
CACHED_PAGES = 40  # 8,000 rows: a few screens either way of where the user looks
PLACEHOLDER = "…"  # a row whose page is on its way
SEARCH_DELAY_MS = 250
ID_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_ROLE = Qt.ItemDataRole.UserRole + 2
_Index = QModelIndex | QPersistentModelIndex

# Columns worth a table cell by default (long text and JSON are for the form).
_SKIP = {"description", "notes", "payload", "operator_ids", "people", "body_html"}

Highlighter = Callable[[dict[str, Any]], str | None]
# A window of rows and the names their references show: {column: {id: name}}.
Window = tuple[list[dict[str, Any]], dict[str, dict[str, str]]]


def default_columns(spec: EntitySpec) -> tuple[str, ...]:
    cols = [c for c in spec.stored_fields if c not in _SKIP]
    return tuple(cols[:10])


class EntityTableModel(QAbstractTableModel):
    totalChanged = Signal(int)

    def __init__(
        self,
        session: Any,
        entity: str,
        *,
        columns: Sequence[str] | None = None,
        page_size: int = PAGE_SIZE,
        highlighter: Highlighter | None = None,
        sort: str | None = None,
        background: bool = False,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.spec = registry()[entity]
        self.columns = tuple(columns or default_columns(self.spec))
        self.page_size = min(page_size, queries.MAX_LIMIT)
        self.highlighter = highlighter
        self.background = background
        self._fields = set(queries.filterable(self.spec))
        self._choice_cols = {f.name for f in field_specs(self.spec) if f.kind == "choice"}
        self._refs = dict(self.spec.refs) | {
            c: t for c, t in refs.LIST_REFS.items() if c in self.spec.stored_fields
        }
        # Instants that happen somewhere read in that place's time (see core.tour.timezones).
        self.zones = {c: z for c in self.columns if (z := zone_field(self.spec.fields, c))}
        self._sort: str = sort or self.spec.default_sort
        self._filters: dict[str, Any] = {}
        self._search = ""
        # Every new query (sort, search, filter, reload) bumps the generation; an answer
        # to an older one arrives late and is dropped.
        self._gen = 0
        self._total = 0  # rowCount: the SQL count once known, the first page until then
        self._counted = False
        self._pages: OrderedDict[int, list[dict[str, Any]]] = OrderedDict()  # LRU
        self._index: dict[str, int] = {}  # id -> row, for the rows in the cache
        self._asked: set[int] = set()  # pages asked of the reader, not arrived yet
        self._want: list[int] = []  # pages the view painted as "…" since the last ask
        self._pending = 0  # queries of this model not delivered yet
        self._titles: dict[str, dict[str, str]] = {}
        # Bursts of changes (an import, a sync pull) become one reload.
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(150)
        self._reload_timer.timeout.connect(self._reload_keeping)
        self._pending_search = ""
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(lambda: self.search_now())
        # The pages a paint asked for are asked of the reader together, after the paint.
        self._page_timer = QTimer(self)
        self._page_timer.setSingleShot(True)
        self._page_timer.setInterval(0)
        self._page_timer.timeout.connect(self._ask_pages)
        # The first page inline: a table opens with its rows, not with "…" (the default
        # orders are served by an index, so this is a millisecond); the count follows.
        self._restart(inline=True)

    # -- Qt model interface ------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else self._total

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < self._total:
            return None
        row = self._row(index.row())
        if row is None:  # its page is on its way
            return PLACEHOLDER if role == Qt.ItemDataRole.DisplayRole else None
        name = self.columns[index.column()]
        value = row.get(name)
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(row, name)
        if role == Qt.ItemDataRole.EditRole:
            return value
        if role == Qt.ItemDataRole.ToolTipRole:
            if name in self.zones and value is not None:
                tz = row.get(self.zones[name])
                home = home_note(value, tz)
                return f"{display_at(value, tz)} ({tz})" + (
                    f" · {tr('office time')} {home}" if home else ""
                )
            return self.text(row, name) or None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if is_numeric(value):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return None
        if role == Qt.ItemDataRole.BackgroundRole and self.highlighter is not None:
            colour = self.highlighter(row)
            return QBrush(QColor(colour)) if colour else None
        if role == ID_ROLE:
            return row["id"]
        if role == ROW_ROLE:
            return dict(row)
        return None

    def text(self, row: dict[str, Any], name: str) -> str:
        """What a person reads in the cell: names for references, words for codes,
        numbers and dates in their language."""
        value = row.get(name)
        if name in self._refs and value is not None:
            names = self._titles.get(name, {})
            if isinstance(value, list):
                return ", ".join(str(names.get(v, v)) for v in value)
            return str(names.get(value, value))
        if name in self._choice_cols:
            return choice_label(value)
        if name in self.zones:
            return display_at(value, row.get(self.zones[name]))
        return cell_text(value)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            if 0 <= section < len(self.columns):
                return field_label(self.columns[section])
            return None
        return section + 1

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.columns):
            return
        name = self.columns[column]
        if name not in self._fields:
            return
        self._sort = ("-" if order == Qt.SortOrder.DescendingOrder else "") + name
        self._restart()

    # -- queries -----------------------------------------------------------------------

    @property
    def total(self) -> int:
        """Rows matching the current search and filters (not just those loaded)."""
        return self.ensure_total()

    @property
    def known_total(self) -> int:
        """The count as known now (updated by ``totalChanged`` once counted)."""
        return self._total

    @property
    def counted(self) -> bool:
        return self._counted

    @property
    def busy(self) -> bool:
        """Queries asked and not arrived yet (a new order, a search, a count, pages)."""
        return bool(self._pending) or self._page_timer.isActive()

    @property
    def sort_key(self) -> str:
        return self._sort

    @property
    def search_text(self) -> str:
        """The search in effect (the query's WHERE is built from it)."""
        return self._search

    def query_args(self) -> dict[str, Any]:
        """The query as ``core.queries`` takes it. The search also finds rows by the
        names of what they refer to (a job by its machine, project or client), as a
        WHERE clause in SQL: the database searches, not Python."""
        args: dict[str, Any] = {"filters": dict(self._filters), "sort": self._sort}
        if self._search:
            args["scope"] = refs.search_clause(self.spec, self.session.org_id, self._search)
        return args

    def set_search(self, text: str) -> None:
        """Searches as typed, a moment after the last keystroke (one query per pause,
        not one per key)."""
        self._pending_search = text.strip()
        self._search_timer.start()

    def search_now(self, text: str | None = None) -> None:
        text = (self._pending_search if text is None else text).strip()
        self._search_timer.stop()
        if text != self._search:
            self._search = text
            self._restart()

    def set_filter(self, field: str, value: Any) -> None:
        """``value`` None (or "") removes the filter."""
        if value in (None, ""):
            self._filters.pop(field, None)
        else:
            self._filters[field] = value
        self._restart()

    def refresh(self) -> None:
        self._reload_keeping()

    def row_id(self, row: int) -> str | None:
        found = self._row_now(row)
        return found["id"] if found is not None else None

    def row_values(self, row: int) -> dict[str, Any]:
        found = self._row_now(row)
        return dict(found) if found is not None else {}

    def ready_row_id(self, row: int) -> str | None:
        """The id of ``row`` if its page is here; otherwise None, and the page is asked
        for (``dataChanged`` says when it came). Never waits for SQL."""
        found = self._row(row) if 0 <= row < self._total else None
        return found["id"] if found is not None else None

    def row_of(self, id: str) -> int:
        """The row of ``id`` among the rows read so far (-1 when not read)."""
        return self._index.get(id, -1)

    def ensure_total(self) -> int:
        """The exact count now (tests, export dialogs): waits for the queries asked."""
        if self._search_timer.isActive():
            self.search_now()
        self.wait()
        return self._total

    def wait(self, timeout: float = 30.0) -> bool:
        """Until every query this model asked for has arrived (tests, the benchmark)."""
        deadline = time.monotonic() + timeout
        while self.busy:
            if time.monotonic() > deadline:
                return False
            QCoreApplication.processEvents()
            if self._pending:
                time.sleep(0.001)
        return True

    # -- reading (any thread: these use only what does not change after __init__) --------

    def _read_window(self, args: dict[str, Any], start: int, n: int, total: int) -> Window:
        """Rows ``start`` .. ``start+n-1`` of the query and the names they refer to. A
        window in the second half is read backwards from the end (the reversed order,
        offset from the end), so the last page is as quick as the first."""
        with self.session.read() as s:
            common = {"filters": args["filters"], "scope": args.get("scope"),
                      "with_total": False}  # fmt: skip
            if total and start > total // 2:
                n = min(n, total - start)
                if n <= 0:
                    return [], {}
                keys = queries.parse_sort(self.spec, args["sort"])
                backwards = ",".join(("" if d else "-") + k for k, d in keys)
                page = queries.list_rows(s, self.spec, self.session.org_id, limit=n,
                                         offset=total - start - n, sort=backwards,
                                         **common)  # fmt: skip
                items = page.items[::-1]
            else:
                page = queries.list_rows(s, self.spec, self.session.org_id, limit=n,
                                         offset=start, sort=args["sort"], **common)  # fmt: skip
                items = page.items
            rows = [self._pack(r) for r in items]
            return rows, self._titles_of(s, rows)

    def count_rows(self, args: dict[str, Any]) -> int:
        """Rows matching ``args`` (``query_args()``), counted by SQL; any thread."""
        with self.session.read() as s:
            stmt = queries.base_query(self.spec, self.session.org_id, filters=args["filters"],
                                      scope=args.get("scope"))  # fmt: skip
            with queries.time_bounded(s):
                return int(s.scalar(select(func.count()).select_from(stmt.subquery())) or 0)

    def _pack(self, row: Any) -> dict[str, Any]:
        out = {c: getattr(row, c) for c in self.columns}
        out["id"], out["version"] = row.id, row.version
        for zone in self.zones.values():
            out.setdefault(zone, getattr(row, zone))
        for extra in ("reorder_point", "quantity", "status", "severity", "dismissed_at"):
            if extra not in out and hasattr(row, extra):
                out[extra] = getattr(row, extra)
        return out

    def _titles_of(self, s: Any, rows: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for fname, target in self._refs.items():
            if fname not in self.columns:
                continue
            ids: set[str] = set()
            for r in rows:
                v = r.get(fname)
                ids.update(v if isinstance(v, list) else [v] if v else [])
            out[fname] = refs.titles(s, self.session.org_id, target, ids) if ids else {}
        return out

    # -- the cache (window's thread) ------------------------------------------------------

    def _run(self, fn: Callable[[], Any], deliver: Callable[[Any], None], *,
             inline: bool = False) -> None:  # fmt: skip
        """``fn`` in the reader thread (background) or here; ``deliver`` here."""
        if inline or not self.background:
            deliver(fn())
            return
        self._pending += 1

        def arrived(result: Any) -> None:
            self._pending -= 1
            deliver(result)

        background.reader().submit(fn, arrived)

    def _restart(self, *, inline: bool = False) -> None:
        """A new query: its first page, then its count."""
        self._gen += 1
        self._asked.clear()
        gen, args, n = self._gen, self.query_args(), self.page_size
        self._run(lambda: self._read_window(args, 0, n, 0),
                  lambda got: self._restarted(gen, args, *got), inline=inline)  # fmt: skip

    def _restarted(self, gen: int, args: dict[str, Any], rows: list[dict[str, Any]],
                   titles: dict[str, dict[str, str]]) -> None:  # fmt: skip
        if gen != self._gen:
            return
        before = self._total
        self.beginResetModel()
        self._pages.clear()
        self._index.clear()
        self._merge_titles(titles)
        self._store(0, rows)
        # Exact when everything fits in one page; otherwise counted next.
        self._counted = len(rows) < self.page_size
        self._total = len(rows)
        self.endResetModel()
        if self._counted:
            if self._total != before:
                self.totalChanged.emit(self._total)
            return
        self._run(lambda: self.count_rows(args), lambda n: self._counted_rows(gen, n))

    def _counted_rows(self, gen: int, n: int) -> None:
        if gen != self._gen:
            return
        self._resize(n)
        self._counted = True
        self.totalChanged.emit(n)

    def _resize(self, n: int) -> None:
        """The row count becomes ``n``: rows appended or taken off the end."""
        if n > self._total:
            self.beginInsertRows(QModelIndex(), self._total, n - 1)
            self._total = n
            self.endInsertRows()
        elif n < self._total:
            self.beginRemoveRows(QModelIndex(), n, self._total - 1)
            self._total = n
            for p in [p for p in self._pages if p * self.page_size >= n]:
                self._evict(p)
            self.endRemoveRows()

    def _row(self, row: int) -> dict[str, Any] | None:
        """The row if its page is here; otherwise asks for the page and says None."""
        p, i = divmod(row, self.page_size)
        page = self._pages.get(p)
        if page is None:
            if not self.background:
                self._fetch_now(p)
                page = self._pages.get(p)
            else:
                self._want.append(p)
                self._page_timer.start()
                return None
        if page is None or i >= len(page):
            return None
        self._pages.move_to_end(p)
        return page[i]

    def _row_now(self, row: int) -> dict[str, Any] | None:
        """The row, read here and now if its page is not here (a click on a row just
        painted finds it; scripts may ask for any row)."""
        if not 0 <= row < self._total:
            return None
        p, i = divmod(row, self.page_size)
        if p not in self._pages:
            self._fetch_now(p)
        page = self._pages.get(p) or []
        return page[i] if i < len(page) else None

    def _fetch_now(self, p: int) -> None:
        total = self._total if self._counted else 0
        rows, titles = self._read_window(self.query_args(), p * self.page_size,
                                         self.page_size, total)  # fmt: skip
        self._merge_titles(titles)
        self._store(p, rows)

    def _ask_pages(self) -> None:
        # The pages painted last are the ones on screen; a scrollbar dragged across
        # thousands of rows asked for many more on its way, which nobody sees now.
        wanted = list(dict.fromkeys(reversed(self._want)))[:4]
        self._want.clear()
        total = self._total if self._counted else 0
        args, gen, n = self.query_args(), self._gen, self.page_size
        for p in wanted:
            if p in self._pages or p in self._asked:
                continue
            self._asked.add(p)
            self._run(functools.partial(self._read_window, args, p * n, n, total),
                      functools.partial(self._deliver_page, gen, p))  # fmt: skip

    def _deliver_page(self, gen: int, p: int, got: Any) -> None:
        self._page_arrived(gen, p, *got)

    def _page_arrived(self, gen: int, p: int, rows: list[dict[str, Any]],
                      titles: dict[str, dict[str, str]]) -> None:  # fmt: skip
        if gen != self._gen:
            return
        self._asked.discard(p)
        self._merge_titles(titles)
        self._store(p, rows)
        first = p * self.page_size
        last = min(self._total, first + self.page_size) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(self.columns) - 1))

    def _store(self, p: int, rows: list[dict[str, Any]]) -> None:
        if p in self._pages:
            self._evict(p)
        self._pages[p] = rows
        first = p * self.page_size
        for i, r in enumerate(rows):
            self._index[r["id"]] = first + i
        while len(self._pages) > CACHED_PAGES:
            self._evict(next(iter(self._pages)))

    def _evict(self, p: int) -> None:
        for r in self._pages.pop(p, []):
            if self._index.get(r["id"], -1) // self.page_size == p:
                del self._index[r["id"]]

    def _merge_titles(self, titles: dict[str, dict[str, str]]) -> None:
        for col, names in titles.items():
            self._titles.setdefault(col, {}).update(names)

    def _reload_keeping(self) -> None:
        """Re-count and re-read the pages last looked at (the view keeps its place:
        rows change in place, the count grows or shrinks at the end)."""
        self._reload_timer.stop()
        self._gen += 1
        self._asked.clear()
        gen, args, n = self._gen, self.query_args(), self.page_size
        keep = list(self._pages)[-4:] or [0]

        def read() -> tuple[int, dict[int, Any]]:
            total = self.count_rows(args)
            return total, {p: self._read_window(args, p * n, n, total)
                           for p in keep if p * n < total or p == 0}  # fmt: skip

        self._run(read, lambda got: self._reloaded(gen, *got))

    def _reloaded(self, gen: int, total: int, pages: dict[int, Any]) -> None:
        if gen != self._gen:
            return
        changed = total != self._total or not self._counted
        self._pages.clear()
        self._index.clear()
        self._titles.clear()
        for p, (rows, titles) in sorted(pages.items()):
            self._merge_titles(titles)
            self._store(p, rows)
        self._resize(total)
        self._counted = True
        if self._total:
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(self._total - 1, len(self.columns) - 1))  # fmt: skip
        if changed:
            self.totalChanged.emit(total)

    # -- live changes ------------------------------------------------------------------

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        mine = [c for c in changes if c.get("entity") == self.spec.name
                and c.get("org_id", self.session.org_id) == self.session.org_id]  # fmt: skip
        if not mine:
            # A referenced title may have changed (a machine renamed).
            targets = set(self.spec.refs.values())
            if any(c.get("entity") in targets for c in changes) and self._total:
                self._reload_timer.start()
            return
        in_place = all(c.get("kind") == "update" and c.get("id") in self._index for c in mine)
        if in_place and not self._filters and not self._search and len(mine) <= 50:
            self._reread([c["id"] for c in mine])
        else:
            self._reload_timer.start()

    def _reread(self, ids: list[str]) -> None:
        model = self.spec.model
        with self.session.read() as s:
            rows = s.scalars(
                select(model).where(model.org_id == self.session.org_id, model.id.in_(ids))
            ).all()
            packed = [self._pack(r) for r in rows if r.deleted_at is None]
            self._merge_titles(self._titles_of(s, packed))
        sort_field = self._sort.lstrip("-")
        for new in packed:
            i = self._index.get(new["id"])
            if i is None:
                continue
            p, j = divmod(i, self.page_size)
            page = self._pages.get(p)
            if page is None or j >= len(page):
                continue
            old = page[j]
            page[j] = new
            self.dataChanged.emit(self.index(i, 0), self.index(i, len(self.columns) - 1))
            if sort_field in new and old.get(sort_field) != new.get(sort_field):
                # The row may belong elsewhere in the order now.
                self._reload_timer.start()
