"""First run: where the store lives, which organisation and modules, optionally legacy
exports to import and a central server to enrol with."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from desktop.i18n import tr
from desktop.setup import SetupChoice


class FirstRunDialog(QDialog):
    def __init__(self, data_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRun")
        self.setWindowTitle(tr("Welcome to Structura"))
        self.resize(560, 0)
        self.data_dir = QLineEdit(str(data_dir))
        browse = QPushButton(tr("Browse…"))
        browse.clicked.connect(self._browse_dir)
        row = QHBoxLayout()
        row.addWidget(self.data_dir, 1)
        row.addWidget(browse)
        self.org = QLineEdit()
        self.org.setObjectName("org")
        self.site = QLineEdit("Office")
        self.factory = QCheckBox(tr("Factory"))
        self.factory.setChecked(True)
        self.tour = QCheckBox(tr("Tour"))
        self.tour.setChecked(True)
        modules = QHBoxLayout()
        modules.addWidget(self.factory)
        modules.addWidget(self.tour)
        self.legacy = QLineEdit()
        self.legacy.setPlaceholderText("structura-export.json; ontour-shows.json")
        pick = QPushButton(tr("Browse…"))
        pick.clicked.connect(self._browse_exports)
        legacy_row = QHBoxLayout()
        legacy_row.addWidget(self.legacy, 1)
        legacy_row.addWidget(pick)
        self.central = QLineEdit()
        self.central.setPlaceholderText("https://central.example.com")
        self.code = QLineEdit()
        # How to begin: an empty site, or example records to look around with first.
        self.start_empty = QRadioButton(tr("Start empty"))
        self.start_empty.setChecked(True)
        self.start_demo = QRadioButton(tr("Start with demo data"))
        self.start_demo.setObjectName("startDemo")
        start = QHBoxLayout()
        start.addWidget(self.start_empty)
        start.addWidget(self.start_demo)
        form = QFormLayout()
        form.addRow(QLabel(tr("Where should this site keep its data?")))
        form.addRow("", row)
        form.addRow(tr("Organisation"), self.org)
        form.addRow(tr("Site name"), self.site)
        form.addRow(tr("Modules"), modules)
        form.addRow(tr("Begin with"), start)
        form.addRow(tr("Import legacy exports (optional)"), legacy_row)
        form.addRow(tr("Central server URL (optional)"), self.central)
        form.addRow(tr("Enrolment code"), self.code)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        self.error = QLabel()
        self.error.setStyleSheet("color: #d64545;")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def _browse_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, tr("Browse…"), self.data_dir.text())
        if path:
            self.data_dir.setText(path)

    def _browse_exports(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, tr("Browse…"), "", "JSON (*.json)")
        if paths:
            self.legacy.setText("; ".join(paths))

    def choice(self) -> SetupChoice:
        modules = tuple(m for m, box in (("factory", self.factory), ("tour", self.tour))
                        if box.isChecked())  # fmt: skip
        return SetupChoice(
            data_dir=Path(self.data_dir.text().strip()).expanduser(),
            org_name=self.org.text().strip(),
            site_name=self.site.text().strip() or "Office",
            modules=modules,
            legacy_files=[Path(p.strip()) for p in self.legacy.text().split(";") if p.strip()],
            central_url=self.central.text().strip(),
            enrolment_code=self.code.text().strip(),
            demo_data=self.start_demo.isChecked(),
        )

    def _accept(self) -> None:
        problem = self.choice().problem()
        if problem:
            self.error.setText(problem)
            return
        self.accept()
