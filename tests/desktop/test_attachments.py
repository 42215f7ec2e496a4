"""The Files tab with real widgets offscreen: a dropped file becomes a row and a blob, a
pasted screenshot a PNG, a file whose bytes are not here yet says so and comes back
with a retry, Save as copies the original bytes under their name, Delete goes to the
trash and Ctrl+Z brings it back."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication
from sqlalchemy import select

from core.attachments.models import Attachment
from desktop.presenters.undo import UndoPresenter
from desktop.views.attachments import AttachmentsPanel

pytestmark = pytest.mark.qt


def jpeg(path: Path, w: int = 640, h: int = 480, colour: str = "#0b5cad") -> bytes:
    image = QImage(w, h, QImage.Format.Format_RGB32)
    image.fill(QColor(colour))
    assert image.save(str(path), quality=90)  # the format from the suffix
    return path.read_bytes()


@pytest.fixture
def job(session: Any, demo: Any) -> str:
    return str(demo["jobs"][0])


@pytest.fixture
def panel(session: Any, job: str, qtbot: Any) -> AttachmentsPanel:
    p = AttachmentsPanel(session, undo=UndoPresenter(session))
    p.confirm_delete = lambda: True
    qtbot.addWidget(p)
    p.resize(520, 640)
    p.show()
    p.show_for("jobs", job)
    return p


def wait(qtbot: Any, panel: AttachmentsPanel) -> None:
    qtbot.waitUntil(panel.idle, timeout=10000)


def rows(session: Any, job: str, *, deleted: bool = False) -> list[Attachment]:
    with session.read() as s:
        q = select(Attachment).where(Attachment.owner_id == job)
        if not deleted:
            q = q.where(Attachment.deleted_at.is_(None))
        out = list(s.scalars(q))
        s.expunge_all()
        return out


def drop(panel: AttachmentsPanel, paths: list[Path]) -> bool:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    with warnings.catch_warnings():
        # PySide6 marks the only QDragEnterEvent constructor deprecated (Qt keeps it).
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier)  # fmt: skip
    QApplication.sendEvent(panel, enter)
    if not enter.isAccepted():
        return False
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)  # fmt: skip
    QApplication.sendEvent(panel, event)
    return event.isAccepted()


def test_dropped_file_becomes_a_row_and_a_blob(panel, session, job, qtbot, tmp_path) -> None:
    data = jpeg(tmp_path / "Plano corte.jpg")
    panel.caption.setText("Cara A")
    assert drop(panel, [tmp_path / "Plano corte.jpg"])
    wait(qtbot, panel)
    [row] = rows(session, job)
    assert row.filename == "Plano corte.jpg" and row.media_type == "image/jpeg"
    assert row.sha256 == hashlib.sha256(data).hexdigest() and row.size == len(data)
    assert row.caption == "Cara A" and row.owner_entity == "jobs"
    assert panel.blobs.path(row.sha256).read_bytes() == data
    assert panel.list.count() == 1 and "Plano corte.jpg" in panel.list.item(0).text()
    assert panel.caption.text() == ""  # the caption went with that drop
    # Its thumbnail is decoded in a worker and replaces the placeholder.
    qtbot.waitUntil(lambda: panel.list.item(0).icon().pixmap(72, 72).toImage()
                    .pixelColor(36, 36).name() == "#0b5cad", timeout=10000)  # fmt: skip


def test_the_same_bytes_twice_are_two_rows_and_one_blob(panel, session, job, qtbot,
                                                         tmp_path) -> None:  # fmt: skip
    jpeg(tmp_path / "a.jpg")
    (tmp_path / "b.jpg").write_bytes((tmp_path / "a.jpg").read_bytes())
    assert drop(panel, [tmp_path / "a.jpg", tmp_path / "b.jpg"])
    wait(qtbot, panel)
    made = rows(session, job)
    assert sorted(r.filename for r in made) == ["a.jpg", "b.jpg"]
    assert len({r.sha256 for r in made}) == 1
    assert len([p for p in panel.blobs.root.rglob("*") if p.is_file()]) == 1


def test_a_folder_or_nothing_to_attach_is_not_accepted(panel, qtbot, tmp_path) -> None:
    assert not drop(panel, [tmp_path])
    panel.show_for(None, None)
    jpeg(tmp_path / "x.jpg")
    assert not drop(panel, [tmp_path / "x.jpg"])


def test_pasted_screenshot_is_attached_as_png(panel, session, job, qtbot) -> None:
    shot = QImage(300, 200, QImage.Format.Format_ARGB32)
    shot.fill(QColor("#c2410c"))
    QApplication.clipboard().setImage(shot)
    panel.list.setFocus()
    qtbot.keyClick(panel.list, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: bool(rows(session, job)), timeout=10000)
    wait(qtbot, panel)
    [row] = rows(session, job)
    assert row.media_type == "image/png" and row.filename.endswith(".png")
    assert row.filename.startswith("screenshot-")
    back = QImage()
    assert back.loadFromData(panel.blobs.path(row.sha256).read_bytes(), "PNG")
    assert (back.width(), back.height()) == (300, 200)


def test_paste_without_an_image_says_so(panel, session, job) -> None:
    mime = QMimeData()
    mime.setText("just words")
    assert panel.paste(mime) is None
    assert "no image" in panel.message.text()
    assert not rows(session, job)


def test_missing_blob_shows_not_here_yet_and_retry_finds_it(panel, session, job, qtbot,
                                                            tmp_path) -> None:  # fmt: skip
    data = jpeg(tmp_path / "rebaba.jpg")
    assert drop(panel, [tmp_path / "rebaba.jpg"])
    wait(qtbot, panel)
    [row] = rows(session, job)
    blob = panel.blobs.path(row.sha256)
    kept = tmp_path / "kept"
    blob.rename(kept)  # as if the row had come by sync and its bytes not yet
    panel.refresh()
    panel.list.setCurrentRow(0)
    assert "Not here yet" in panel.list.item(0).text()
    assert panel.preview.currentWidget() is panel.missing_page and panel.missing_label.isVisible()
    assert not panel.view_button.isEnabled() and not panel.save_button.isEnabled()
    assert panel.view() is False  # nothing opens, nothing raises
    panel.grab().save(str(tmp_path / "not-here.png"))

    kept.rename(blob)  # the bytes arrive
    qtbot.mouseClick(panel.retry_button, Qt.MouseButton.LeftButton)
    wait(qtbot, panel)
    assert "Not here yet" not in panel.list.item(0).text()
    assert panel.view_button.isEnabled()
    assert data == blob.read_bytes()


def test_view_shows_images_inline_and_pdfs_in_the_system_viewer(panel, job, qtbot,
                                                                tmp_path) -> None:  # fmt: skip
    jpeg(tmp_path / "foto.jpg", 1600, 1200)
    pdf = tmp_path / "plano.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
                    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n"
                    b"%%EOF\n")  # fmt: skip
    assert drop(panel, [tmp_path / "foto.jpg", pdf])
    wait(qtbot, panel)
    shown: list[tuple[str, QImage]] = []
    opened: list[QUrl] = []
    panel.show_image = lambda title, image: shown.append((title, image))
    panel.open_url = opened.append
    by_name = {panel.items[panel.list.item(i).data(Qt.ItemDataRole.UserRole)].filename: i
               for i in range(panel.list.count())}  # fmt: skip
    panel.list.setCurrentRow(by_name["foto.jpg"])
    assert panel.view()
    qtbot.waitUntil(lambda: bool(shown), timeout=10000)
    assert shown[0][0] == "foto.jpg" and shown[0][1].width() == 1600
    panel.list.setCurrentRow(by_name["plano.pdf"])
    assert panel.view()
    qtbot.waitUntil(lambda: bool(opened), timeout=10000)
    copy = Path(opened[0].toLocalFile())
    assert copy.name == "plano.pdf" and copy.read_bytes() == pdf.read_bytes()


def test_save_as_copies_the_original_bytes(panel, qtbot, tmp_path) -> None:
    data = jpeg(tmp_path / "orig.jpg")
    assert drop(panel, [tmp_path / "orig.jpg"])
    wait(qtbot, panel)
    panel.list.setCurrentRow(0)
    target = tmp_path / "out" / "copia.jpg"
    target.parent.mkdir()
    assert panel.save_as(str(target)) is not None
    wait(qtbot, panel)
    assert target.read_bytes() == data
    assert not list(target.parent.glob("*.part"))


def test_delete_goes_to_the_trash_and_undo_brings_it_back(panel, session, job, qtbot,
                                                          tmp_path) -> None:  # fmt: skip
    jpeg(tmp_path / "borrar.jpg")
    assert drop(panel, [tmp_path / "borrar.jpg"])
    wait(qtbot, panel)
    panel.list.setCurrentRow(0)
    assert panel.delete()
    assert panel.list.count() == 0 and not rows(session, job)
    [gone] = rows(session, job, deleted=True)
    assert gone.deleted_at is not None
    assert panel.undo.undo()
    wait(qtbot, panel)
    assert panel.list.count() == 1 and len(rows(session, job)) == 1


def test_undo_of_a_drop_takes_all_its_files_back(panel, session, job, qtbot, tmp_path) -> None:
    jpeg(tmp_path / "1.jpg", colour="#111111")
    jpeg(tmp_path / "2.jpg", colour="#222222")
    assert drop(panel, [tmp_path / "1.jpg", tmp_path / "2.jpg"])
    wait(qtbot, panel)
    assert len(rows(session, job)) == 2
    assert panel.undo.undo()
    assert not rows(session, job) and panel.list.count() == 0


def test_refused_file_is_worded_and_leaves_no_row(panel, session, job, qtbot, tmp_path) -> None:
    bad = tmp_path / "programa.exe"
    bad.write_bytes(b"MZ\x90\x00" + b"\x00" * 200)
    assert drop(panel, [bad])
    wait(qtbot, panel)
    assert not rows(session, job)
    text = panel.message.text()
    assert "programa.exe" in text and "cannot be attached" in text
    assert "attachment_" not in text  # worded, never the code


def test_files_tab_on_jobs_shows_and_travel(session, demo, qtbot) -> None:
    from desktop.views.main_window import MainWindow

    w = MainWindow(session)
    qtbot.addWidget(w)
    for key in ("jobs", "shows", "travel"):
        page = w.open(key)
        entity = page.all if key == "jobs" else page.list if key == "shows" else page
        assert entity.files is not None
        assert entity.side_tabs.indexOf(entity.files) >= 0
    shows = w.open("shows")
    assert shows.tabs.indexOf(shows.files) >= 0
