"""Screenshots of the tour's times and settlements, to check by eye that every view
shows the venue's time (the laptop is put in New York on purpose).

    xvfb-run -a python -m desktop.tour_screenshots [OUT_DIR]

Writes ``shows``, ``calendar``, ``settlement``, ``finance`` and ``day-sheet`` PNGs at 1280x800
(default ``artifacts/screenshots/desktop/``)."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

from core.settings import Settings

SIZE = (1280, 800)


def _seed(session: Any) -> dict[str, str]:
    from core import writes
    from core.tour.timezones import to_instant

    shows = [
        ("València", "ES", "Roig Arena", datetime(2026, 3, 29, 21, 30), "Europe/Madrid", "EUR"),
        ("Tokyo", "JP", "Zepp Haneda", datetime(2026, 3, 31, 1, 0), "Asia/Tokyo", "EUR"),
        ("New York", "US", "Brooklyn Steel", datetime(2026, 3, 8, 20, 0), "America/New_York",
         "USD"),
        ("Lisboa", "PT", "Coliseu", datetime(2026, 10, 25, 21, 0), "Europe/Lisbon", "EUR"),
    ]  # fmt: skip
    ids: dict[str, str] = {}
    with session.write() as s:
        for city, country, venue, wall, tz, cur in shows:
            row = writes.create(s, actor=session.actor, entity="shows",
                                data={"city": city, "country": country, "venue": venue,
                                      "starts_at": to_instant(wall, tz), "tz": tz,
                                      "fee": "10000", "currency": cur, "wht_pct": "20",
                                      "booking_pct": "10", "mgmt_pct": "15",
                                      "status": "confirmed", "tour": "Spring 26"})  # fmt: skip
            ids[city] = row.id
        writes.create(s, actor=session.actor, entity="show_costs",
                      data={"show_id": ids["Tokyo"], "type": "hotel", "amount": "500",
                            "currency": "USD", "description": "Hotel Shinagawa"})  # fmt: skip
        writes.create(s, actor=session.actor, entity="show_costs",
                      data={"show_id": ids["Tokyo"], "type": "sound", "amount": "800",
                            "currency": "EUR"})  # fmt: skip
        writes.create(
            s,
            actor=session.actor,
            entity="calendar_entries",
            data={"kind": "day_off", "title": "Day off", "starts_on": "2026-03-30"},
        )
    return ids


def shoot(out: Path) -> list[Path]:
    from PySide6.QtCore import QSizeF
    from PySide6.QtGui import QColor, QImage, QPainter, QTextDocument
    from PySide6.QtWidgets import QApplication

    from desktop.app import qt_app, start
    from desktop.presenters.printing import day_sheet_html

    os.environ["TZ"] = "America/New_York"  # the laptop's zone must not leak into a show
    time.tzset()
    out.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="structura-tour-shots-"))
    settings = Settings(data_dir=data, port=0, announce=False, site_name="Gira")
    app = qt_app()
    running = start(settings, interactive=False, port=0, announce=False)
    assert running is not None
    session, win = running.session, running.window
    ids = _seed(session)
    win.resize(*SIZE)
    saved: list[Path] = []

    def snap(name: str, widget: Any = None) -> None:
        for _ in range(5):
            app.processEvents()
        path = out / f"tour-{name}.png"
        (widget or win).grab().save(str(path))
        saved.append(path)

    shows = win.open("shows")
    shows.list.model.refresh()
    shows.list.table.selectRow(shows.list.model.row_of(ids["València"]))
    snap("shows")
    shows.list.table.selectRow(shows.list.model.row_of(ids["Tokyo"]))
    shows.tabs.setCurrentWidget(shows.settlement)
    snap("settlement")
    shows.tabs.setCurrentWidget(shows.calendar)
    shows.calendar.go_to(date(2026, 3, 1))
    snap("calendar")
    win.open("finance")
    snap("finance")
    # The day sheet as printed: the same HTML the PDF is made from, drawn on a page.
    for day in (date(2026, 3, 29), date(2026, 3, 31)):
        doc = QTextDocument()
        doc.setHtml(day_sheet_html(session, day))
        doc.setPageSize(QSizeF(SIZE[0] - 80, SIZE[1]))
        image = QImage(*SIZE, QImage.Format.Format_RGB32)
        image.fill(QColor("white"))
        painter = QPainter(image)
        painter.translate(40, 40)
        doc.drawContents(painter)
        painter.end()
        path = out / f"tour-day-sheet-{day}.png"
        image.save(str(path))
        saved.append(path)
    win.close()
    running.shutdown()
    QApplication.processEvents()
    return saved


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path("artifacts/screenshots/desktop")
    for p in shoot(out):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
