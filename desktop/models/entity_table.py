"""One table model for every registry entity.

Rows come a page at a time from the generic read path (``core.services.queries``,
keyset cursors), so a 100,000-row table opens as fast as a 100-row one: the view asks
for more through ``canFetchMore``/``fetchMore`` as it scrolls. Sorting, filters and
search become a new query (the database sorts, not Python). References show the
referenced row's title, looked up once per page.

Changes from anywhere (this window, a LAN browser, the sync agent) arrive through
``apply_changes``: an edit to a loaded row is re-read in place; anything that can move
rows (a create, a delete) re-runs the query for the rows already loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
from sqlalchemy import func, select

from core.registry import EntitySpec, registry
from core.services import queries
from desktop.i18n import field_label
from desktop.models.formatting import display, is_numeric

PAGE_SIZE = 200
ID_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_ROLE = Qt.ItemDataRole.UserRole + 2
_Index = QModelIndex | QPersistentModelIndex

# Columns worth a table cell by default (long text and JSON are for the form).
_SKIP = {"description", "notes", "payload", "operator_ids", "people", "body_html"}

Highlighter = Callable[[dict[str, Any]], str | None]


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
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.spec = registry()[entity]
        self.columns = tuple(columns or default_columns(self.spec))
        self.page_size = page_size
        self.highlighter = highlighter
        self._fields = set(queries.filterable(self.spec))
        self._sort: str = sort or self.spec.default_sort
        self._filters: dict[str, Any] = {}
        self._search = ""
        self._rows: list[dict[str, Any]] = []
        self._index: dict[str, int] = {}
        self._cursor: str | None = None
        self._total = 0
        self._titles: dict[str, dict[str, str]] = {}
        self._loading = False
        # Bursts of changes (an import, a sync pull) become one reload.
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(150)
        self._reload_timer.timeout.connect(self._reload_keeping)
        self._count_timer = QTimer(self)
        self._count_timer.setSingleShot(True)
        self._count_timer.setInterval(0)
        self._count_timer.timeout.connect(self._count)
        self._load(reset=True)

    # -- Qt model interface ------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        name = self.columns[index.column()]
        value = row.get(name)
        if role == Qt.ItemDataRole.DisplayRole:
            if name in self.spec.refs and value is not None:
                return self._titles.get(name, {}).get(value, value)
            return display(value)
        if role == Qt.ItemDataRole.EditRole:
            return value
        if role == Qt.ItemDataRole.ToolTipRole:
            return display(value) or None
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

    def canFetchMore(self, parent: _Index = QModelIndex()) -> bool:
        return not parent.isValid() and self._cursor is not None

    def fetchMore(self, parent: _Index = QModelIndex()) -> None:
        if parent.isValid() or self._cursor is None:
            return
        self._load(reset=False)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.columns):
            return
        name = self.columns[column]
        if name not in self._fields:
            return
        self._sort = ("-" if order == Qt.SortOrder.DescendingOrder else "") + name
        self._load(reset=True)

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
    def sort_key(self) -> str:
        return self._sort

    def query_args(self) -> dict[str, Any]:
        return {"filters": dict(self._filters), "q": self._search or None, "sort": self._sort}

    def set_search(self, text: str) -> None:
        text = text.strip()
        if text != self._search:
            self._search = text
            self._load(reset=True)

    def set_filter(self, field: str, value: Any) -> None:
        """``value`` None (or "") removes the filter."""
        if value in (None, ""):
            self._filters.pop(field, None)
        else:
            self._filters[field] = value
        self._load(reset=True)

    def refresh(self) -> None:
        self._reload_keeping()

    def row_id(self, row: int) -> str | None:
        return self._rows[row]["id"] if 0 <= row < len(self._rows) else None

    def row_values(self, row: int) -> dict[str, Any]:
        return dict(self._rows[row]) if 0 <= row < len(self._rows) else {}

    def row_of(self, id: str) -> int:
        return self._index.get(id, -1)

    def _load(self, *, reset: bool, want: int | None = None) -> None:
        # Views and the model tester may call fetchMore from inside our own insert
        # signals; a nested load would read the same cursor again and duplicate rows.
        if self._loading:
            return
        self._loading = True
        try:
            self._load_now(reset=reset, want=want)
        finally:
            self._loading = False

    def _load_now(self, *, reset: bool, want: int | None) -> None:
        limit = min(queries.MAX_LIMIT, want or self.page_size)
        cursor = None if reset else self._cursor
        fetched: list[dict[str, Any]] = []
        with self.session.read() as s:
            while True:
                # The count is a scan of every matching row: done after the first page is
                # on screen (see _count), not before.
                page = queries.list_rows(
                    s, self.spec, self.session.org_id, limit=limit, cursor=cursor,
                    with_total=False, **self.query_args(),
                )  # fmt: skip
                fetched += [self._pack(r) for r in page.items]
                cursor = page.next_cursor
                if cursor is None or want is None or len(fetched) >= want:
                    break
            self._resolve_titles(s, fetched)
        if reset:
            self.beginResetModel()
            self._rows = fetched
            self._index = {r["id"]: i for i, r in enumerate(fetched)}
            # Exact when everything fits in what we loaded; otherwise counted shortly.
            self._total = len(fetched) if cursor is None else max(self._total, len(fetched))
            self._cursor = cursor
            self.endResetModel()
            if cursor is not None:
                self._count_timer.start()
            return
        self._cursor = cursor
        if fetched:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(fetched) - 1)
            self._rows += fetched
            for i, r in enumerate(fetched, start):
                self._index[r["id"]] = i
            self.endInsertRows()

    def _count(self) -> None:
        """Count the rows matching the query (for "N rows"); emits ``totalChanged``."""
        with self.session.read() as s:
            stmt = queries.base_query(
                self.spec, self.session.org_id, filters=self._filters, q=self._search or None
            )
            total = s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        if total != self._total:
            self._total = total
            self.totalChanged.emit(total)

    def ensure_total(self) -> int:
        """The exact count now (tests, export dialogs)."""
        if self._count_timer.isActive():
            self._count_timer.stop()
            self._count()
        return self._total

    def _pack(self, row: Any) -> dict[str, Any]:
        out = {c: getattr(row, c) for c in self.columns}
        out["id"], out["version"] = row.id, row.version
        for extra in ("reorder_point", "quantity", "status", "severity", "dismissed_at"):
            if extra not in out and hasattr(row, extra):
                out[extra] = getattr(row, extra)
        return out

    def _resolve_titles(self, s: Any, rows: list[dict[str, Any]]) -> None:
        reg = registry()
        for fname, target in self.spec.refs.items():
            if fname not in self.columns:
                continue
            cache = self._titles.setdefault(fname, {})
            ids = {r[fname] for r in rows if r.get(fname) and r[fname] not in cache}
            if not ids:
                continue
            tspec = reg[target]
            title = getattr(tspec.model, tspec.title_field)
            stmt = select(tspec.model.id, title).where(
                tspec.model.org_id == self.session.org_id, tspec.model.id.in_(ids)
            )
            cache.update({i: str(t) for i, t in s.execute(stmt)})

    def _reload_keeping(self) -> None:
        """Re-run the query for as many rows as are loaded now (the scroll position of a
        view survives, because row identities rarely move)."""
        self._titles.clear()
        self._load(reset=True, want=max(len(self._rows), self.page_size))

    # -- live changes ------------------------------------------------------------------

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        mine = [c for c in changes if c.get("entity") == self.spec.name
                and c.get("org_id", self.session.org_id) == self.session.org_id]  # fmt: skip
        if not mine:
            # A referenced title may have changed (a machine renamed).
            targets = set(self.spec.refs.values())
            if any(c.get("entity") in targets for c in changes):
                self._titles.clear()
                if self._rows:
                    self.dataChanged.emit(
                        self.index(0, 0), self.index(len(self._rows) - 1, len(self.columns) - 1)
                    )
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
            self._resolve_titles(s, packed)
        sort_field = self._sort.lstrip("-")
        for new in packed:
            i = self._index.get(new["id"])
            if i is None:
                continue
            old = self._rows[i]
            self._rows[i] = new
            self.dataChanged.emit(self.index(i, 0), self.index(i, len(self.columns) - 1))
            if sort_field in new and old.get(sort_field) != new.get(sort_field):
                # The row may belong elsewhere in the order now.
                self._reload_timer.start()
