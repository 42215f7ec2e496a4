"""Screenshots of the main views on demo data, for people to look at.

    xvfb-run -a python -m desktop.screenshots [OUT_DIR]

Opens the real window (a real X server under Xvfb, not the offscreen plugin) with the
site services running, walks the main views and saves PNGs (default
``artifacts/screenshots/desktop/``)."""

from __future__ import annotations

import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from core.clock import utcnow, uuid7
from core.settings import Settings


def _conflict(session: Any, entity: str, entity_id: str) -> None:
    from core.models import ConflictRecord
    from core.sync.reasons import KEPT_LATER, encode

    with session.write() as s:
        s.add(ConflictRecord(id=uuid7(), org_id=session.org_id, entity=entity,
                             entity_id=entity_id, kind="field", rule="last_arrival",
                             fields=["phone", "contact"],
                             losing_values={"phone": "+34 600 123 456", "contact": "Eva Ruiz"},
                             winning_values={"phone": "+34 911 222 333", "contact": "Ana García"},
                             reason=encode(KEPT_LATER, base=3),
                             created_at=utcnow()))  # fmt: skip


def _attach_samples(panel: Any, app: Any) -> None:
    """A photo, a PDF drawing and a file whose bytes have not arrived, on the record the
    panel shows (the files are made here: no binary sample in the repository)."""
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QColor, QImage, QPainter, QPen

    folder = Path(tempfile.mkdtemp(prefix="structura-files-"))
    image = QImage(1600, 1000, QImage.Format.Format_RGB32)
    image.fill(QColor("#dfe7ef"))
    p = QPainter(image)
    p.setPen(QPen(QColor("#0b5cad"), 14))
    p.drawRect(QRect(200, 250, 1200, 500))
    p.drawLine(200, 500, 1400, 500)
    p.setPen(QPen(QColor("#8c1010"), 10))
    p.drawEllipse(1150, 420, 160, 160)
    p.end()
    image.save(str(folder / "rebaba-borde.jpg"), quality=88)
    (folder / "plano-C150.pdf").write_bytes(
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )
    image.fill(QColor("#f4e6d4"))
    image.save(str(folder / "etiqueta-lote.jpg"), quality=88)

    def settle() -> None:
        # Wait on the threads, not in a processEvents() loop: PySide6 6.12 on Python 3.11
        # drops a reference to None at every void call, and a spinning loop makes enough
        # of them to crash the interpreter (docs/dev-notes.md).
        while not panel.idle():
            if panel.work is not None and not panel.work.finished:
                panel.work.worker.wait()
            for d in list(panel._decoders):
                d.wait()
            app.processEvents()

    panel.caption.setText("Cara A")
    panel.add_paths([str(folder / "etiqueta-lote.jpg")])
    settle()
    # As if its row had come by sync before its bytes: "not here yet".
    missing = next(iter(panel.items.values()))
    panel.blobs.path(missing.sha256).unlink()
    panel.add_paths([str(folder / "plano-C150.pdf"), str(folder / "rebaba-borde.jpg")])
    settle()
    panel.list.setCurrentRow(0)
    settle()


def shoot(out: Path, *, lang: str = "en", scheme: str | None = None) -> list[Path]:
    from PySide6.QtWidgets import QApplication

    from desktop.app import qt_app, start
    from desktop.demo import seed
    from desktop.i18n import set_language
    from desktop.theme import apply_theme

    out.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="structura-shots-"))
    settings = Settings(data_dir=data, port=0, announce=False, site_name="Aceros del Norte")
    app = qt_app()
    set_language(lang)
    apply_theme(app, scheme)
    running = start(settings, interactive=False, port=0, announce=False)
    assert running is not None
    session, win = running.session, running.window
    ids = seed(session.store, session.site, session.actor)
    _conflict(session, "clients", ids["clients"][0])
    running.host.wait_started()
    win.resize(1366, 820)
    suffix = f"-{lang}" + (f"-{scheme}" if scheme else "")
    saved: list[Path] = []

    def snap(name: str, widget: Any = None) -> None:
        for _ in range(5):
            app.processEvents()
        path = out / f"{name}{suffix}.png"
        (widget or win).grab().save(str(path))
        saved.append(path)

    win.open("board")
    snap("01-board")
    jobs = win.open("jobs")
    jobs.queue.machine.setCurrentIndex(0)
    jobs.queue.table.selectRow(0)
    snap("02-jobs-queue")
    jobs.tabs.setCurrentWidget(jobs.all)
    jobs.all.table.selectRow(2)
    snap("03-jobs-table")
    win.open("inventory")
    snap("04-inventory")
    clients = win.open("clients")
    clients.new_record()
    clients.form.set_text("name", "")
    clients.form.set_text("email", "ventas@")
    clients.save()
    snap("05-client-form-validation")
    shows = win.open("shows")
    shows.list.table.selectRow(3)
    snap("06-shows")
    shows.tabs.setCurrentWidget(shows.calendar)
    shows.calendar.go_to(date.today())
    snap("07-calendar")
    shows.tabs.setCurrentWidget(shows.settlement)
    snap("08-settlement")
    win.open("finance")
    snap("09-finance")
    win.open("charts")
    snap("10-charts")
    sync = win.open("sync")
    sync.refresh()
    snap("11-sync")
    dialog = sync.conflict_dialog(sync.items[0])
    dialog.choose("phone", mine=True)
    dialog.show()
    dialog.adjustSize()
    snap("12-conflict-dialog", dialog)
    dialog.close()
    win.open("tablets")
    snap("13-tablets")
    users = win.open("users")
    users.table.selectRow(0)
    snap("14-users")
    inventory = win.open("inventory")
    inventory.table.selectRow(7)
    inventory.confirm_delete = lambda: True
    inventory.delete_record()
    win.open("trash").refresh()
    snap("15-trash")
    shows = win.open("shows")
    shows.tabs.setCurrentWidget(shows.list)
    shows.list.table.selectRow(0)
    shows.tabs.setCurrentWidget(shows.costs)
    snap("16-show-costs")
    shows.tabs.setCurrentWidget(shows.day_sheet)
    snap("17-show-day-sheet")
    jobs = win.open("jobs")
    jobs.tabs.setCurrentWidget(jobs.all)
    jobs.all.table.selectRow(1)
    jobs.all.side_tabs.setCurrentWidget(jobs.all.files)
    _attach_samples(jobs.all.files, app)
    snap("18-job-files")
    win.close()
    running.shutdown()
    QApplication.processEvents()
    return saved


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path("artifacts/screenshots/desktop")
    paths: list[Path] = []
    for lang in ("en", "es"):
        for scheme in ("light", "dark"):
            paths += shoot(out, lang=lang, scheme=scheme)
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
