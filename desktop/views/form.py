"""A form built from the entity's fields. It shows what the FormPresenter says and
forwards every edit to it; validation messages appear under each field as you type."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop.i18n import choice_label, field_label, tr
from desktop.presenters.fields import FieldSpec
from desktop.presenters.form import FormPresenter

ERROR_STYLE = "color: #d64545; font-size: 11px;"


class FormWidget(QScrollArea):
    def __init__(self, presenter: FormPresenter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.presenter = presenter
        self.setWidgetResizable(True)
        inner = QWidget()
        outer = QVBoxLayout(inner)
        self.layout_ = QFormLayout()
        outer.addLayout(self.layout_)
        outer.addStretch(1)  # rows keep their height; spare room goes below
        self.layout_.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.layout_.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.editors: dict[str, QWidget] = {}
        self.errors: dict[str, QLabel] = {}
        self._loading = False
        for f in presenter.fields:
            editor = self._make_editor(f)
            error = QLabel()
            error.setStyleSheet(ERROR_STYLE)
            error.setVisible(False)
            error.setWordWrap(True)
            box = QWidget()
            col = QVBoxLayout(box)
            col.setContentsMargins(0, 0, 0, 0)
            col.setSpacing(1)
            col.addWidget(editor)
            col.addWidget(error)
            label = f.label + (" *" if f.required else "")
            self.layout_.addRow(label, box)
            self.editors[f.name] = editor
            self.errors[f.name] = error
        self.setWidget(inner)
        presenter.fieldError.connect(self._show_error)
        presenter.loaded.connect(self._fill)
        self._fill()

    def _make_editor(self, f: FieldSpec) -> QWidget:
        name = f.name
        if f.kind in ("choice", "ref"):
            combo = QComboBox()
            combo.setObjectName(f"field_{name}")
            if not f.required:
                combo.addItem("", None)
            if f.kind == "choice":
                for c in f.choices:
                    combo.addItem(choice_label(c), c)
            combo.currentIndexChanged.connect(lambda _i, n=name, c=combo: self._combo(n, c))
            return combo
        if f.kind == "bool":
            box = QCheckBox()
            box.setObjectName(f"field_{name}")
            box.toggled.connect(lambda on, n=name: self._edit(n, value=on))
            return box
        if f.kind in ("multiline", "json"):
            text = QPlainTextEdit()
            text.setObjectName(f"field_{name}")
            text.setFixedHeight(70)
            text.textChanged.connect(lambda n=name, t=text: self._edit(n, text=t.toPlainText()))
            return text
        line = QLineEdit()
        line.setObjectName(f"field_{name}")
        hint = {"datetime": "YYYY-MM-DD HH:MM", "date": "YYYY-MM-DD",
                "list": "a, b, c"}.get(f.kind, "")  # fmt: skip
        line.setPlaceholderText(tr(hint) if hint else "")
        if name in self.presenter.zones:
            # Typed in the place's time: say which field holds that place's zone.
            zone_label = field_label(self.presenter.zones[name])
            line.setPlaceholderText(tr("YYYY-MM-DD HH:MM, local time ({zone})", zone=zone_label))
            line.setToolTip(tr("Local time of the place, in the zone given in {zone}",
                               zone=zone_label))  # fmt: skip
        line.textEdited.connect(lambda t, n=name: self._edit(n, text=t))
        return line

    def _combo(self, name: str, combo: QComboBox) -> None:
        self._edit(name, value=combo.currentData())

    def _edit(self, name: str, *, text: str | None = None, value: Any = None) -> None:
        if self._loading:
            return
        if text is not None:
            self.presenter.set_text(name, text)
        else:
            self.presenter.set_value(name, value)

    def _show_error(self, name: str, message: str) -> None:
        label = self.errors.get(name)
        if label is not None:
            label.setText(message)
            label.setVisible(bool(message))

    def _fill(self) -> None:
        """Show the presenter's values (after load, new, save)."""
        self._loading = True
        try:
            for f in self.presenter.fields:
                editor = self.editors[f.name]
                value = self.presenter.value(f.name)
                if isinstance(editor, QComboBox):
                    if f.kind == "ref" and editor.property("loaded") is not True:
                        for id_, title in self.presenter.ref_choices(f.ref or ""):
                            editor.addItem(title, id_)
                        editor.setProperty("loaded", True)
                    i = editor.findData(value)
                    editor.setCurrentIndex(max(i, 0) if i >= 0 or f.required else 0)
                    if f.required and i < 0 and editor.count():
                        # Nothing chosen yet: reflect the visible default in the presenter.
                        self.presenter.set_value(f.name, editor.currentData())
                elif isinstance(editor, QCheckBox):
                    editor.setChecked(bool(value))
                elif isinstance(editor, QPlainTextEdit):
                    editor.setPlainText(self.presenter.text(f.name))
                elif isinstance(editor, QLineEdit):
                    editor.setText(self.presenter.text(f.name))
                editor.setEnabled(not self.presenter.read_only)
                self._show_error(f.name, self.presenter.errors.get(f.name, ""))
        finally:
            self._loading = False

    def set_text(self, name: str, text: str) -> None:
        """Type into a field as a user would (tests, shortcuts)."""
        editor = self.editors[name]
        if isinstance(editor, QLineEdit):
            editor.setText(text)
            editor.textEdited.emit(text)
        elif isinstance(editor, QPlainTextEdit):
            editor.setPlainText(text)
        elif isinstance(editor, QComboBox):
            i = editor.findData(text)
            editor.setCurrentIndex(i if i >= 0 else editor.findText(text))
        elif isinstance(editor, QCheckBox):
            editor.setChecked(text.lower() in ("1", "true", "yes"))
