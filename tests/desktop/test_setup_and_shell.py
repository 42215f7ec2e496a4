"""First-run setup without the dialog, legacy import, theme, shortcuts and the QR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QKeySequence, QPalette

from core.settings import Settings
from desktop.setup import SetupChoice, create_site, import_legacy, open_existing

pytestmark = pytest.mark.qt

LEGACY = Path("/work/shared/data/legacy-exports")


def test_first_run_creates_the_site_then_finds_it(settings: Settings, tmp_path: Path) -> None:
    assert open_existing(settings) is None
    choice = SetupChoice(data_dir=tmp_path / "site", org_name="Aceros", modules=("factory",))
    assert choice.problem() == ""
    store, site = create_site(settings, choice)
    store.dispose()
    assert site.modules == ("factory",) and settings.data_dir == tmp_path / "site"
    again = open_existing(settings)
    assert again is not None and again[1].org_id == site.org_id
    again[0].dispose()
    assert SetupChoice(data_dir=tmp_path, org_name="").problem()
    assert "http" in SetupChoice(data_dir=tmp_path, org_name="x", central_url="ftp://x").problem()


@pytest.mark.skipif(not LEGACY.is_dir(), reason="legacy sample exports not available")
@pytest.mark.slow  # imports the whole legacy sample
def test_legacy_import_reports_progress(settings: Settings, tmp_path: Path) -> None:
    files = sorted(p for p in LEGACY.glob("*.json") if p.name != "expected.json")
    store, site = create_site(settings, SetupChoice(data_dir=tmp_path / "s", org_name="Old"))
    seen: list[tuple[str, int, int]] = []
    try:
        report = import_legacy(store, site, files, progress=lambda *a: seen.append(a))
    finally:
        store.dispose()
    assert report.total_imported > 0 and seen
    assert seen[-1][1] <= seen[-1][2]


def test_dark_and_light_palettes(qapp: Any) -> None:
    from desktop.theme import apply_theme, current_scheme

    assert apply_theme(qapp, "dark") == "dark" and current_scheme() == "dark"
    assert qapp.palette().color(QPalette.ColorRole.Window).lightness() < 128
    apply_theme(qapp, "light")
    assert qapp.palette().color(QPalette.ColorRole.Window).lightness() > 128


def test_qr_code_is_dark_on_light(qapp: Any) -> None:
    from desktop.qr import qr_image

    img = qr_image("http://192.168.1.20:8470/", scale=4)
    assert img.width() == img.height() > 80
    assert img.pixelColor(0, 0).lightness() == 255  # quiet zone
    assert img.pixelColor(4 * 2 + 1, 4 * 2 + 1).lightness() == 0  # finder pattern


def test_shortcuts_reach_the_page(session: Any, demo: Any, qtbot: Any, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from PySide6.QtWidgets import QFileDialog

    from desktop.views.main_window import MainWindow

    win = MainWindow(session)
    qtbot.addWidget(win)
    win.show()
    page = win.open("clients")
    target = tmp_path / "clients.xlsx"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    win.actions_["export"].trigger()  # Ctrl+E: the export runs in a worker thread
    qtbot.waitUntil(lambda: page._export_job.finished, timeout=10000)
    assert target.exists()
    assert win.actions_["export"].shortcut().toString() == "Ctrl+E"
    page.table.selectRow(0)
    win.actions_["new"].trigger()  # Ctrl+N
    assert page.presenter.is_new
    page.form.set_text("name", "Nuevo cliente")
    win.actions_["save"].trigger()  # Ctrl+S
    assert page.presenter.row_id is not None
    win.actions_["undo"].trigger()  # Ctrl+Z: the create is undone (a delete)
    assert not win.undo.can_undo
    assert win.actions_["search"].shortcut() == QKeySequence(QKeySequence.StandardKey.Find)


def test_first_run_with_demo_data_and_empty_state_hints(
    settings: Any, qtbot: Any, tmp_path: Path
) -> None:
    from desktop.session import Session, office_user
    from desktop.setup import SetupChoice, create_site
    from desktop.views.main_window import MainWindow

    store, site = create_site(settings, SetupChoice(data_dir=tmp_path / "demo", org_name="D",
                                                    demo_data=True))  # fmt: skip
    session = Session(store, site, office_user(store, site))
    win = MainWindow(session)
    qtbot.addWidget(win)
    assert win.open("clients").model.total > 0
    assert not win.open("clients").empty_hint.isVisibleTo(win.open("clients"))
    store.dispose()

    settings2 = type(settings)(data_dir=tmp_path / "empty", port=0, announce=False)
    store, site = create_site(settings2, SetupChoice(data_dir=tmp_path / "empty",
                                                     org_name="E"))  # fmt: skip
    session = Session(store, site, office_user(store, site))
    win = MainWindow(session)
    qtbot.addWidget(win)
    win.show()
    page = win.open("clients")
    assert page.model.total == 0
    assert page.empty_hint.isVisibleTo(win) and "New (Ctrl+N)" in page.empty_hint.text()
    store.dispose()
