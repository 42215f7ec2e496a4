"""Every page of the window in Spanish: no English source string, no raw code left.

The walk collects what a person reads from the widgets themselves (labels, buttons,
tabs, table headers, menus and toolbar actions, placeholders, filter choices, group
titles and table cells of enum columns) and compares it with the English source strings
(the keys of the translation tables, the English field and entity labels and the English
words for enum values).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QTabWidget,
    QWidget,
)

from apikit.words import field_words
from core.registry import registry
from desktop import i18n
from desktop.bridge import ChangeBridge
from desktop.labels import CHOICES, UI_ES
from desktop.presenters.fields import field_specs
from desktop.views.main_window import MainWindow

pytestmark = pytest.mark.qt

# Words that are the same in both languages (or names), so seeing them is no finding.
SAME = {"Error", "OEE", "SKU", "PIN", "Management", "Structura", "Hotel", "Catering",
        "Office",  # the office user's stored name (data, not a label)
        "Backline", "Material", "Normal", "Manual", "Total", "Color", "Sonido", "kg", "m²",
        "General", "Local", "Email", "Fax", "Web", "Online", "Ok", "OK", "Gira", "URL"}  # fmt: skip


def english_sources() -> set[str]:
    """Every English text the window can show for a label or a code."""
    i18n.set_language("en")
    out = set(i18n.ES) | set(UI_ES) | {en for en, _ in CHOICES.values()}
    for spec in registry().values():
        out.add(i18n.entity_label(spec))
        for name in spec.stored_fields:
            out.add(i18n.field_label(name))
        for f in field_specs(spec):
            out.add(f.label)
    out |= set(field_words("en").values())
    return {t for t in out if t and not t.isdigit()} - SAME


def raw_codes() -> set[str]:
    return {c for c in CHOICES if re.search(r"[A-Z]{2}|_", c)}


def _view_texts(view: QAbstractItemView) -> list[str]:
    model = view.model()
    if model is None:
        return []
    out = []
    try:
        cols = model.columnCount(QModelIndex())
    except TypeError:  # a list model's columnCount is private in the bindings
        cols = 1
    for c in range(cols):
        out.append(str(model.headerData(c, Qt.Orientation.Horizontal) or ""))
    for r in range(min(model.rowCount(QModelIndex()), 30)):
        for c in range(cols):
            value = model.data(model.index(r, c))
            if isinstance(value, str):
                out.append(value)
    return out


def visible_texts(root: QWidget) -> list[str]:
    texts: list[str] = [root.windowTitle()]
    for w in [root, *root.findChildren(QWidget)]:
        if isinstance(w, (QLabel, QAbstractButton)):
            texts.append(w.text())
        elif isinstance(w, QLineEdit):
            texts.append(w.placeholderText())
        elif isinstance(w, QGroupBox):
            texts.append(w.title())
        elif isinstance(w, QTabWidget):
            texts += [w.tabText(i) for i in range(w.count())]
        elif isinstance(w, QComboBox) and w.objectName() == "filter":
            texts += [w.itemText(i) for i in range(w.count())]
        if isinstance(w, QAbstractItemView):
            texts += _view_texts(w)
        texts += [a.text() for a in w.actions()]
    out = []
    for t in texts:
        # A form label is "Name *" or "Name:"; a status line may carry several parts.
        for part in re.split(r"\n| · |: ", t):
            part = part.strip().rstrip("*:").strip()
            if part:
                out.append(part)
    return out


def walk(window: MainWindow) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key in list(window._factories):
        page = window.open(key)
        tabs = page.findChildren(QTabWidget)
        texts = visible_texts(page)
        for tab in tabs:  # pages inside tabs build lazily in some views
            for i in range(tab.count()):
                tab.setCurrentIndex(i)
                texts += visible_texts(tab.widget(i))
        found[key] = texts
    found["window"] = visible_texts(window.nav) + [a.text() for a in window.actions()]
    return found


def test_every_page_in_spanish_has_no_english_string_or_raw_code(
    session: Any, demo: Any, qtbot: Any
) -> None:
    english = english_sources()
    codes = raw_codes()
    i18n.set_language("es")
    bridge = ChangeBridge(session.store)
    window = MainWindow(session, bridge=bridge)
    qtbot.addWidget(window)
    window.show()
    problems: dict[str, set[str]] = {}
    for page, texts in walk(window).items():
        bad = {t for t in texts if (t in english and i18n.tr(t) != t) or t in codes}
        bad |= {t for t in texts if t in english and t not in i18n.ES.values()
                and t not in UI_ES.values() and t not in {es for _, es in CHOICES.values()}
                and t not in SAME}  # fmt: skip
        if bad:
            problems[page] = bad
    assert not problems, repr(problems)


def test_the_walk_finds_an_english_string(session: Any, demo: Any, qtbot: Any) -> None:
    """The check itself can fail: the English window is full of findings."""
    english = english_sources()
    window = MainWindow(session)
    qtbot.addWidget(window)
    texts = walk(window)["jobs"]
    assert english & set(texts)
    assert {"In progress", "Search…"} & set(texts)
