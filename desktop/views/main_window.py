"""The main window: a navigation list of the organisation's modules and one page per
entry, built the first time it is opened (so start-up costs one page, not twenty).

Live changes reach every built page through the ChangeBridge; the window's shortcuts
go to whichever page is showing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QSplitter,
    QStackedWidget,
    QWidget,
)

from core.errors import DomainError
from core.registry import registry
from desktop.i18n import entity_label, tr
from desktop.presenters.errors import user_message
from desktop.presenters.sync import SyncPresenter
from desktop.presenters.undo import UndoPresenter
from desktop.theme import LOW_STOCK, current_scheme

log = logging.getLogger(__name__)

INVENTORY_COLUMNS = ("sku", "name", "quantity", "reorder_point", "unit", "location")


def low_stock(row: dict[str, Any]) -> str | None:
    q, rp = row.get("quantity"), row.get("reorder_point")
    if q is not None and rp is not None and q <= rp:
        return LOW_STOCK[current_scheme()]
    return None


class MainWindow(QMainWindow):
    closing = Signal()

    def __init__(self, session: Any, *, bridge: Any = None, host: Any = None,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.session = session
        self.host = host
        self.undo = UndoPresenter(session, parent=self)
        status_source = host.sync_status if host is not None else None
        self.sync = SyncPresenter(session, status_source, parent=self)
        self.setWindowTitle(f"Structura — {session.site.org_name} · {session.site.site_name}")
        self.resize(1280, 800)

        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.setMaximumWidth(240)
        self.nav.setSpacing(1)
        self.nav.setStyleSheet("QListWidget#nav { padding: 4px; font-size: 10.5pt; }")
        self.stack = QStackedWidget()
        self.pages: dict[str, QWidget] = {}
        self._factories: dict[str, Callable[[], QWidget]] = {}
        self._build_nav()
        splitter = QSplitter()
        splitter.addWidget(self.nav)
        splitter.addWidget(self.stack)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([200, 1080])
        self.setCentralWidget(splitter)

        self.sync_label = QLabel()
        self.sync_label.setObjectName("syncLabel")
        self.lan_label = QLabel(host.url if host is not None and host.url else "")
        self.statusBar().addPermanentWidget(self.sync_label)
        self.statusBar().addPermanentWidget(self.lan_label)
        self._actions()
        self.nav.currentItemChanged.connect(self._navigate)
        self.undo.message.connect(lambda m: self.statusBar().showMessage(m, 4000))
        if bridge is not None:
            bridge.changed.connect(self.apply_changes)
        self.nav.setCurrentRow(self._first_page_row())
        self.refresh_sync_label()
        # The agent starts after the window and its state changes without any write
        # here (the central server stops answering): the status bar follows it, like
        # the Sync page, instead of saying "not enrolled" until the next change.
        self._sync_timer = QTimer(self)
        self._sync_timer.setInterval(3000)
        self._sync_timer.timeout.connect(self.refresh_sync_label)
        if host is not None:
            self._sync_timer.start()
        # The host starts its services in a thread; show its address once it is up.
        self._host_timer = QTimer(self)
        self._host_timer.setInterval(250)
        self._host_timer.timeout.connect(self._watch_host)
        if host is not None:
            self._host_timer.start()

    def _watch_host(self) -> None:
        url = self.host.url if self.host is not None else None
        self.lan_label.setText(url or "")
        if self.host is None or not self.host.starting:
            self._host_timer.stop()
            tablets = self.pages.get("tablets")
            if tablets is not None:
                from desktop.views.tablets import TabletsPage  # imported when it was built

                if isinstance(tablets, TabletsPage):
                    tablets.refresh()

    # -- navigation ------------------------------------------------------------------------

    def _section(self, text: str) -> None:
        item = QListWidgetItem(text.upper())
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        font = item.font()
        font.setBold(True)
        item.setFont(font)
        self.nav.addItem(item)

    def _add(self, key: str, text: str, factory: Callable[[], QWidget]) -> None:
        item = QListWidgetItem(text)
        item.setData(Qt.ItemDataRole.UserRole, key)
        self.nav.addItem(item)
        self._factories[key] = factory

    def _entity(self, name: str, **kwargs: Any) -> Callable[[], QWidget]:
        def make() -> QWidget:
            from desktop.views.entity_page import EntityPage

            return EntityPage(self.session, name, undo=self.undo, **kwargs)

        return make

    def _build_nav(self) -> None:
        # Each page's module is imported when the page is first opened (QtCharts, the
        # QR code, the calendar...), not before the window shows: start-up costs the
        # first page only.
        reg = registry()
        s = self.session

        def page(module: str, cls: str, *args: Any, **kwargs: Any) -> Callable[[], QWidget]:
            def make() -> QWidget:
                from importlib import import_module

                made: QWidget = getattr(import_module(f"desktop.views.{module}"), cls)(
                    *args, **kwargs
                )
                return made

            return make

        if s.has("factory"):
            self._section(tr("Factory"))
            self._add("board", tr("Board"), page("board", "BoardPage", s))
            self._add(
                "jobs", entity_label(reg["jobs"]), page("jobs", "JobsPage", s, undo=self.undo)
            )
            for name in ("machines", "projects", "clients"):
                self._add(name, entity_label(reg[name]), self._entity(name))
            self._add("inventory", entity_label(reg["inventory"]),
                      self._entity("inventory", columns=INVENTORY_COLUMNS,
                                   highlighter=low_stock))  # fmt: skip
            for name in ("alerts", "downtimes", "events"):
                self._add(name, entity_label(reg[name]), self._entity(name))
        if s.has("tour"):
            self._section(tr("Tour"))
            self._add("shows", entity_label(reg["shows"]), page("shows", "ShowsPage", s,
                                                                undo=self.undo))  # fmt: skip
            for name in ("show_costs", "travel", "calendar_entries"):
                self._add(name, entity_label(reg[name]), self._entity(name))
            self._add("finance", tr("Finance"), page("finance", "FinancePage", s))

        self._section("Structura")
        self._add("messages", entity_label(reg["messages"]), self._entity("messages"))
        self._add("charts", tr("Charts"), page("finance", "ChartsPage", s))
        # sync_now: the agent as it is when the page opens (it starts after the window).
        self._add("sync", tr("Sync"), lambda: page("sync_panel", "SyncPage", self.sync,
                                                   sync_now=self._sync_now())())  # fmt: skip
        self._add("tablets", tr("Tablets"), page("tablets", "TabletsPage", self.host, session=s))
        self._add("users", tr("Users and PINs"), page("users", "UsersPage", s, undo=self.undo))
        self._add("trash", tr("Trash"), page("trash", "TrashPage", s, undo=self.undo))

    def _sync_now(self) -> Any:
        agent = getattr(self.host, "agent", None)
        return getattr(agent, "sync_once", None) if agent is not None else None

    def _first_page_row(self) -> int:
        for i in range(self.nav.count()):
            if self.nav.item(i).data(Qt.ItemDataRole.UserRole):
                return i
        return 0

    def _navigate(self, item: QListWidgetItem | None, _prev: Any = None) -> None:
        key = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if key:
            self.stack.setCurrentWidget(self.page(key))

    def page(self, key: str) -> Any:
        """The page for ``key``, built on first use."""
        if key not in self.pages:
            page = self._factories[key]()
            if hasattr(page, "open_record"):
                page.open_record.connect(self.open_record)
            if hasattr(page, "status"):
                page.status.connect(lambda m: self.statusBar().showMessage(m, 5000))
            self.pages[key] = page
            self.stack.addWidget(page)
        return self.pages[key]

    def open(self, key: str) -> Any:
        for i in range(self.nav.count()):
            if self.nav.item(i).data(Qt.ItemDataRole.UserRole) == key:
                self.nav.setCurrentRow(i)
                break
        return self.page(key)

    def open_record(self, entity: str, row_id: str) -> bool:
        """Show one record in its own page (calendar items, a show's costs and travel)."""
        if not row_id or entity not in self._factories:
            return False
        page = self.open(entity)
        fn = getattr(page, "show_record", None)
        return bool(fn(row_id)) if callable(fn) else False

    def current_page(self) -> Any:
        return self.stack.currentWidget()

    # -- shortcuts ------------------------------------------------------------------------

    def _actions(self) -> None:
        specs = [
            ("search", tr("Search"), QKeySequence(QKeySequence.StandardKey.Find), "focus_search"),
            ("new", tr("New"), QKeySequence(QKeySequence.StandardKey.New), "new_record"),
            ("save", tr("Save"), QKeySequence(QKeySequence.StandardKey.Save), "save"),
            ("export", tr("Export"), QKeySequence("Ctrl+E"), "export"),
        ]
        self.actions_: dict[str, QAction] = {}
        for key, text, seq, method in specs:
            action = QAction(text, self)
            action.setShortcut(seq)
            action.triggered.connect(lambda _c=False, m=method: self._to_page(m))
            self.addAction(action)
            self.actions_[key] = action
        undo = QAction(tr("Undo"), self)
        undo.setShortcut(QKeySequence(QKeySequence.StandardKey.Undo))
        # Ctrl+Z in a text field undoes typing there; the window's undo applies elsewhere.
        undo.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        undo.triggered.connect(self.undo_last)
        self.addAction(undo)
        self.actions_["undo"] = undo
        dark = QAction(tr("Dark mode"), self)
        dark.setObjectName("darkMode")
        dark.setCheckable(True)
        dark.setChecked(current_scheme() == "dark")
        dark.toggled.connect(self.set_dark)
        self.actions_["dark"] = dark
        view = self.menuBar().addMenu(tr("View"))
        view.addAction(dark)
        bar = self.addToolBar("main")
        bar.setObjectName("toolbar")
        bar.setMovable(False)
        for key in ("new", "save", "undo", "search", "export"):
            bar.addAction(self.actions_[key])

    def set_dark(self, on: bool) -> None:
        from PySide6.QtWidgets import QApplication

        from desktop.theme import choose_scheme

        app = QApplication.instance()
        if isinstance(app, QApplication):
            choose_scheme(app, "dark" if on else "light")
        for page in self.pages.values():  # colours drawn by the pages follow the palette
            page.update()

    def _to_page(self, method: str) -> Any:
        page = self.current_page()
        fn = getattr(page, method, None)
        return fn() if callable(fn) else None

    def undo_last(self) -> bool:
        try:
            return self.undo.undo()
        except DomainError as exc:
            msg = user_message(exc)
            self.statusBar().showMessage(f"{msg.title} {msg.text}", 8000)
            return False

    # -- live changes -----------------------------------------------------------------------

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        for page in list(self.pages.values()):
            fn = getattr(page, "apply_changes", None)
            if fn is None:
                continue
            try:
                fn(changes)
            except Exception:  # one page failing to refresh must not break the others
                log.exception("page %s failed to apply changes", page.objectName())
        self.refresh_sync_label()

    def refresh_sync_label(self) -> None:
        st = self.sync.status()
        from desktop.views.sync_panel import describe

        text = f"{describe(st)} · {tr('Pending changes')}: {st.pending}"
        if st.conflicts:
            text += f" · {tr('Open conflicts')}: {st.conflicts}"
        self.sync_label.setText(text)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.closing.emit()
        super().closeEvent(event)
