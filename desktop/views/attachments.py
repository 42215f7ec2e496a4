"""The Files tab of a record: its attachments with thumbnails; files dropped on it or
pasted (a screenshot with Ctrl+V) are attached; images are shown inline, PDF drawings
in the system's viewer; Save as... copies out with the original name; Delete sends an
attachment to the trash (Ctrl+Z brings it back). A file whose bytes have not reached
this computer yet says so, with a retry, instead of failing.

Bytes are read, hashed, decoded and copied in worker threads; the UI thread only lists
rows and shows what the workers hand back.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QIODevice,
    QMimeData,
    QSize,
    Qt,
    QThread,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QIcon,
    QImage,
    QImageReader,
    QKeySequence,
    QPixmap,
    QShortcut,
)
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.i18n import tr
from desktop.models.formatting import cell_text
from desktop.presenters import attachments as files
from desktop.presenters.errors import user_message
from desktop.views.long_work import LongWork

THUMB = 72
ID_ROLE = Qt.ItemDataRole.UserRole


# One decode at a time across the decoder threads. Two QImageReaders at once deadlocked
# (seen in CI): one thread holds Qt's image-plugin mutex and calls back into Python
# (the QBuffer made here is a Python wrapper, so Qt asks it for overrides, which needs
# the GIL), while another holds the GIL inside QImageReader.size(), waiting for that
# mutex; the window's thread then waits for the GIL forever. Waiting on this lock
# releases the GIL, so the cycle cannot form.
_DECODE_LOCK = threading.Lock()


def _decode(blobs: Any, sha256: str, box: QSize | None) -> QImage:
    """An image from the blob store, decoded at (about) ``box`` size: QImageReader
    scales while decoding, so a 12 MP photo never becomes a 48 MB bitmap for a thumb."""
    with files.open_blob(blobs, sha256) as fh:
        data = QByteArray(fh.read())
    with _DECODE_LOCK:
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        reader = QImageReader(buffer)
        reader.setAutoTransform(True)  # EXIF orientation: upright as the camera saw it
        if box is not None and reader.size().isValid():
            reader.setScaledSize(reader.size().scaled(box, Qt.AspectRatioMode.KeepAspectRatio))
        return reader.read()


class _Decoder(QThread):
    """Decodes images off the UI thread; ``ready`` carries (id, QImage) per image."""

    ready = Signal(str, QImage)

    def __init__(self, blobs: Any, jobs: list[tuple[str, str]], box: QSize | None,
                 parent: Any = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.blobs, self.jobs, self.box = blobs, jobs, box

    def run(self) -> None:
        # Not niced, like LongWork: a niced thread holding the GIL keeps the window
        # waiting (desktop/views/long_work.py).
        for id_, sha in self.jobs:
            if self.isInterruptionRequested():
                return
            try:
                image = _decode(self.blobs, sha, self.box)
            except OSError:
                continue  # gone meanwhile (collected, not here): the row says so
            if not image.isNull():
                self.ready.emit(id_, image)


def _placeholder(text: str, colour: str = "#e8ecf0") -> QIcon:
    pix = QPixmap(THUMB, THUMB)
    pix.fill(QColor(colour))
    from PySide6.QtGui import QPainter

    p = QPainter(pix)
    p.setPen(QColor("#1a1f24"))
    f = p.font()
    f.setBold(True)
    p.setFont(f)
    p.drawText(pix.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)
    p.end()
    return QIcon(pix)


class ImageViewer(QDialog):
    """An image at the window's size (fit, never enlarged past 100 %)."""

    def __init__(self, title: str, image: QImage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("imageViewer")
        self.pixmap = QPixmap.fromImage(image)
        self.label = QLabel()
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setWidget(self.label)
        close = QPushButton(tr("Close"))
        close.clicked.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(area, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)
        self.resize(900, 700)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        box = self.label.size()
        if self.pixmap.width() > box.width() or self.pixmap.height() > box.height():
            self.label.setPixmap(self.pixmap.scaled(
                box, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation))  # fmt: skip
        else:
            self.label.setPixmap(self.pixmap)


class AttachmentsPanel(QWidget):
    """The files of one record. ``show_for(entity, id)`` switches the record."""

    changed = Signal()  # after files were added or deleted here
    status = Signal(str)

    def __init__(self, session: Any, *, undo: Any = None, blobs: Any = None,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.setObjectName("attachments")
        self.session = session
        self.undo = undo
        self._blobs = blobs
        self.owner: tuple[str, str] | None = None
        self.items: dict[str, files.FileItem] = {}
        self.work: LongWork | None = None  # the running add / save (tests wait on it)
        self._decoders: list[_Decoder] = []
        self._views = Path(tempfile.mkdtemp(prefix="structura-files-"))
        # Replaced in tests: the system's viewer for PDFs, the confirmation, the dialogs.
        self.open_url: Callable[[QUrl], Any] = QDesktopServices.openUrl
        self.confirm_delete = self._confirm_delete
        self.ask_save_path = self._ask_save_path
        self.ask_open_paths = self._ask_open_paths
        self.show_image = self._show_image
        self._stale = True
        self.setAcceptDrops(True)

        self.hint = QLabel(tr("Drop files here, or paste a screenshot (Ctrl+V)."))
        self.hint.setObjectName("filesHint")
        self.hint.setWordWrap(True)
        self.caption = QLineEdit()
        self.caption.setObjectName("filesCaption")
        self.caption.setPlaceholderText(tr("Caption for the next files (optional)"))
        self.caption.setAccessibleName(tr("Caption for the next files (optional)"))
        self.caption.setMaxLength(500)
        self.list = QListWidget()
        self.list.setObjectName("filesList")
        self.list.setAccessibleName(tr("Files"))
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setUniformItemSizes(True)
        self.list.setSpacing(2)
        self.list.setWordWrap(True)
        self.list.currentItemChanged.connect(lambda *_: self._preview())
        self.list.itemActivated.connect(lambda _i: self.view())
        self.empty = QLabel(tr("No files yet."))
        self.empty.setObjectName("filesEmpty")

        self.preview_image = QLabel()
        self.preview_image.setObjectName("filesPreview")
        self.preview_image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_image.setMinimumHeight(160)
        self.preview_image.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.preview_text = QLabel()
        self.preview_text.setObjectName("filesInfo")
        self.preview_text.setWordWrap(True)
        self.preview_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        missing = QWidget()
        mv = QVBoxLayout(missing)
        self.missing_label = QLabel(tr("Not here yet: this file has not reached this computer. "
                                       "It comes with the next sync."))  # fmt: skip
        self.missing_label.setObjectName("notHere")
        self.missing_label.setWordWrap(True)
        self.missing_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.retry_button = QPushButton(tr("Try again"))
        self.retry_button.setObjectName("retry")
        self.retry_button.clicked.connect(self.refresh)
        mv.addStretch(1)
        mv.addWidget(self.missing_label)
        mv.addWidget(self.retry_button, 0, Qt.AlignmentFlag.AlignCenter)
        mv.addStretch(1)
        self.preview = QStackedWidget()
        self.preview.setObjectName("filesPreviewStack")
        for w in (self.preview_text, self.preview_image, missing):
            self.preview.addWidget(w)
        self.missing_page = missing

        self.add_button = QPushButton(tr("Add files…"))
        self.add_button.setObjectName("addFiles")
        self.add_button.clicked.connect(lambda: self.add_chosen())
        self.view_button = QPushButton(tr("View"))
        self.view_button.setObjectName("viewFile")
        self.view_button.clicked.connect(lambda: self.view())
        self.save_button = QPushButton(tr("Save as…"))
        self.save_button.setObjectName("saveFile")
        self.save_button.clicked.connect(lambda: self.save_as())
        self.delete_button = QPushButton(tr("Delete file"))
        self.delete_button.setObjectName("deleteFile")
        self.delete_button.clicked.connect(lambda: self.delete())
        self.message = QLabel()
        self.message.setObjectName("filesMessage")
        self.message.setWordWrap(True)

        buttons = QHBoxLayout()
        for b in (self.add_button, self.view_button, self.save_button, self.delete_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addWidget(self.caption)
        layout.addWidget(self.empty)
        layout.addWidget(self.list, 3)
        layout.addWidget(self.preview, 2)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        paste = QShortcut(QKeySequence.StandardKey.Paste, self)
        paste.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        paste.activated.connect(lambda: self.paste())
        if undo is not None:
            undo.undone.connect(self._undone)
        self.show_for(None, None)

    # -- data ----------------------------------------------------------------------------

    @property
    def blobs(self) -> Any:
        if self._blobs is None:
            self._blobs = files.blob_store(self.session)
        return self._blobs

    def show_for(self, entity: str | None, row_id: str | None) -> None:
        owner = (entity, row_id) if entity and row_id else None
        if owner == self.owner and not self._stale:
            return
        self.owner = owner
        self.message.clear()
        self.refresh()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def refresh(self) -> None:
        # A hidden tab only notes that it is out of date: browsing records in the table
        # must not read files for a tab nobody is looking at.
        self._stale = not self.isVisible()
        if self._stale:
            return
        current = self.current_id()
        self._stop_decoders()
        self.list.clear()
        self.items = {}
        owner = self.owner
        enabled = owner is not None and self._may_write()
        self.setAcceptDrops(enabled)
        for w in (self.add_button, self.caption):
            w.setEnabled(enabled)
        if owner is None:
            self.empty.setText(tr("Choose a record to see its files."))
            self.empty.show()
            self._preview()
            return
        rows = files.list_files(self.session, self.blobs, owner[0], owner[1])
        thumbs = []
        for f in rows:
            self.items[f.id] = f
            item = QListWidgetItem(self._item_text(f))
            item.setData(ID_ROLE, f.id)
            item.setToolTip(f.filename)
            if not f.here:
                item.setIcon(_placeholder(tr("Not here yet"), "#fff1d6"))
            elif f.is_image:
                item.setIcon(_placeholder("…"))
                thumbs.append((f.id, f.sha256))
            else:
                item.setIcon(_placeholder("PDF" if f.is_pdf else tr("File")))
            self.list.addItem(item)
        self.empty.setText(tr("No files yet."))
        self.empty.setVisible(not rows)
        if thumbs:
            self._decode(thumbs, QSize(THUMB * 2, THUMB * 2), self._set_thumb)
        self._select(current)
        self._preview()

    def _may_write(self) -> bool:
        from core.registry import registry

        spec = registry().get("attachments")
        return spec is None or self.session.actor.role in spec.write_roles

    @staticmethod
    def _item_text(f: files.FileItem) -> str:
        when = cell_text(f.created_at) if isinstance(f.created_at, datetime) else ""
        facts = " · ".join(x for x in (files.size_text(f.size), f.created_by, when) if x)
        lines = [f.filename, *([f.caption] if f.caption else []), facts]
        if not f.here:
            lines.append(tr("Not here yet"))
        return "\n".join(lines)

    def current_id(self) -> str | None:
        item = self.list.currentItem()
        return str(item.data(ID_ROLE)) if item is not None else None

    def current(self) -> files.FileItem | None:
        id_ = self.current_id()
        return self.items.get(id_) if id_ else None

    def _select(self, id_: str | None) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(ID_ROLE) == id_:
                self.list.setCurrentRow(i)
                return

    def _item(self, id_: str) -> QListWidgetItem | None:
        for i in range(self.list.count()):
            if self.list.item(i).data(ID_ROLE) == id_:
                return self.list.item(i)
        return None

    # -- decoding off the UI thread ---------------------------------------------------------

    def _decode(self, jobs: list[tuple[str, str]], box: QSize | None,
                slot: Callable[[str, QImage], None]) -> _Decoder:  # fmt: skip
        decoder = _Decoder(self.blobs, jobs, box, self)
        decoder.ready.connect(slot)
        decoder.finished.connect(lambda: self._forget(decoder))
        self._decoders.append(decoder)
        decoder.start()
        return decoder

    def _forget(self, decoder: _Decoder) -> None:
        if decoder in self._decoders:
            self._decoders.remove(decoder)
        decoder.deleteLater()

    def _stop_decoders(self) -> None:
        for d in list(self._decoders):
            d.requestInterruption()
            d.ready.disconnect()
            d.wait()
        self._decoders.clear()

    def idle(self) -> bool:
        """No worker running (tests wait for this)."""
        return not self._decoders and (self.work is None or self.work.finished)

    def _set_thumb(self, id_: str, image: QImage) -> None:
        item = self._item(id_)
        if item is not None:
            item.setIcon(QIcon(QPixmap.fromImage(image)))

    def _preview(self) -> None:
        f = self.current()
        for b in (self.view_button, self.save_button):
            b.setEnabled(f is not None and f.here)
        self.delete_button.setEnabled(f is not None and self._may_write())
        if f is None:
            self.preview_text.setText("")
            self.preview.setCurrentWidget(self.preview_text)
        elif not f.here:
            self.preview.setCurrentWidget(self.missing_page)
        elif f.is_image:
            self.preview_image.setText(tr("Loading…"))
            self.preview.setCurrentWidget(self.preview_image)
            box = self.preview_image.size().expandedTo(QSize(320, 200))
            self._decode([(f.id, f.sha256)], box, self._set_preview)
        else:
            kind = tr("PDF drawing") if f.is_pdf else tr("File")
            self.preview_text.setText(f"{kind}: {f.filename}\n{tr('Press View to open it.')}")
            self.preview.setCurrentWidget(self.preview_text)

    def _set_preview(self, id_: str, image: QImage) -> None:
        if id_ != self.current_id():
            return
        pix = QPixmap.fromImage(image)
        box = self.preview_image.size()
        if pix.width() > box.width() or pix.height() > box.height():
            pix = pix.scaled(box, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)  # fmt: skip
        self.preview_image.setPixmap(pix)

    # -- adding ----------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        # Only offer to take what can be attached: files (a folder is refused here).
        if self.owner is not None and files.incoming_paths(self._local_paths(event.mimeData())):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:
        if self.owner is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = self._local_paths(event.mimeData())
        if self.owner is None or not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.add_paths(paths)

    @staticmethod
    def _local_paths(mime: QMimeData) -> list[str]:
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []

    def paste(self, mime: QMimeData | None = None) -> LongWork | None:
        """Ctrl+V: an image on the clipboard (a screenshot) becomes a PNG file; copied
        files are attached as they are."""
        if self.owner is None:
            return None
        mime = mime or QApplication.clipboard().mimeData()
        if mime is None:
            return None
        paths = self._local_paths(mime)
        if paths:
            return self.add_paths(paths)
        if mime.hasImage():
            image = QImage(mime.imageData())
            if image.isNull():
                return None
            data = QByteArray()
            with _DECODE_LOCK:  # the image plugins again (see _DECODE_LOCK)
                buffer = QBuffer(data)
                buffer.open(QIODevice.OpenModeFlag.WriteOnly)
                # The stubs say bytes; PySide6 takes a str format at run time.
                image.save(buffer, "PNG")  # type: ignore[call-overload]
            name = f"{tr('screenshot')}-{datetime.now():%Y-%m-%d-%H%M%S}.png"
            return self._add([files.Incoming(name, data=bytes(data.data()))])
        self.message.setText(tr("There is no image or file to paste."))
        return None

    def add_chosen(self) -> LongWork | None:
        paths = self.ask_open_paths()
        return self.add_paths(paths) if paths else None

    def _ask_open_paths(self) -> list[str]:
        paths, _ = QFileDialog.getOpenFileNames(self, tr("Add files…"), "",
                                                tr("Photos and PDF (*.jpg *.jpeg *.png *.webp "
                                                   "*.pdf);;All files (*)"))  # fmt: skip
        return list(paths)

    def add_paths(self, paths: list[str]) -> LongWork | None:
        incoming = files.incoming_paths(paths)
        if not incoming:
            self.message.setText(tr("Only files can be attached, not folders."))
            return None
        return self._add(incoming)

    def _add(self, incoming: list[files.Incoming]) -> LongWork | None:
        if self.owner is None:
            return None
        owner, blobs = self.owner, self.blobs
        caption = self.caption.text().strip() or None

        def work(progress: Any, cancelled: Any) -> Any:
            return files.add_files(self.session, blobs, owner[0], owner[1], incoming,
                                   caption=caption, progress=progress,
                                   cancelled=cancelled)  # fmt: skip

        job = LongWork(self, tr("Attaching files…"), work)
        job.done.connect(self._added)
        self.work = job.start()
        return job

    def _added(self, result: Any, error: Any) -> None:
        if error is not None:
            self._fail(error)
            return
        made, refused = result
        if made:
            self.caption.clear()
            if self.undo is not None:
                from desktop.presenters.undo import Undoable

                # One Ctrl+Z takes the whole drop back (to the trash).
                self.undo.record_step([Undoable("attachments", r["id"], "create", {},
                                                int(r["version"]), r["filename"])
                                       for r in made])  # fmt: skip
        texts = [tr("1 file attached") if len(made) == 1
                 else tr("{n} files attached", n=len(made))] if made else []  # fmt: skip
        for name, exc in refused:
            texts.append(f"{name}: {self._why(exc)}")
        self.message.setStyleSheet("color: #8c1010;" if refused else "")
        self.message.setText("\n".join(texts))
        self.status.emit(texts[0] if texts else "")
        self.refresh()
        if made:
            self._select(made[-1]["id"])
            self.changed.emit()

    @staticmethod
    def _why(exc: BaseException) -> str:
        if isinstance(exc, files.TooLarge):
            return tr("too large to attach ({size})", size=files.size_text(exc.size))
        if isinstance(exc, OSError):
            return tr("could not be read ({error})", error=exc.strerror or str(exc))
        msg = user_message(exc)
        return msg.text or msg.title

    def _fail(self, error: BaseException) -> None:
        msg = user_message(error)
        self.message.setStyleSheet("color: #8c1010;")
        self.message.setText(f"{msg.title}\n{msg.text}".strip())

    # -- viewing, saving, deleting -------------------------------------------------------------

    def view(self) -> bool:
        f = self.current()
        if f is None:
            return False
        if not self.blobs.has(f.sha256):
            self.refresh()  # shows the not-here state
            return False
        if f.is_image:
            self._decode([(f.id, f.sha256)], None,
                         lambda _id, image: self.show_image(f.filename, image))  # fmt: skip
            return True

        # PDF drawings and other files: the system's viewer, on a copy with the real name.
        def work(progress: Any, cancelled: Any) -> Path:
            return files.viewable_copy(self.blobs, f, self._views / f.id)

        job = LongWork(self, tr("Opening…"), work)
        job.done.connect(lambda path, err: self._fail(err) if err is not None
                         else self.open_url(QUrl.fromLocalFile(str(path))))  # fmt: skip
        self.work = job.start()
        return True

    def _show_image(self, title: str, image: QImage) -> None:
        viewer = ImageViewer(title, image, self)
        viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        viewer.show()

    def _ask_save_path(self, suggested: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self, tr("Save as…"), suggested)
        return path

    def save_as(self, path: str | None = None) -> LongWork | None:
        f = self.current()
        if f is None or not f.here:
            return None
        target = path or self.ask_save_path(f.filename)
        if not target:
            return None

        def work(progress: Any, cancelled: Any) -> Path:
            return files.save_copy(self.blobs, f, target)

        job = LongWork(self, tr("Saving…"), work)
        job.done.connect(self._saved)
        self.work = job.start()
        return job

    def _saved(self, out: Any, error: Any) -> None:
        if error is not None:
            self._fail(error)
        else:
            self.message.setStyleSheet("")
            self.message.setText(tr("Saved to {path}", path=str(out)))

    def _confirm_delete(self) -> bool:
        text = f"{tr('Delete this file?')}\n{tr('It goes to the Trash, where it can be restored.')}"
        return QMessageBox.question(self, tr("Delete"), text) == QMessageBox.StandardButton.Yes

    def delete(self) -> bool:
        f = self.current()
        if f is None or not self.confirm_delete():
            return False
        try:
            files.delete_file(self.session, f, self.undo)
        except Exception as exc:  # a domain error or a moved-on version: worded
            self._fail(exc)
            return False
        self.message.setStyleSheet("")
        self.message.setText(tr("Deleted — it can be restored from the Trash"))
        self.refresh()
        self.changed.emit()
        return True

    def _undone(self, rows: list[tuple[str, str]]) -> None:
        if any(entity == "attachments" for entity, _ in rows):
            self.refresh()

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        """Rows arriving by sync (or from a tablet through the site's API)."""
        if self.owner is not None and any(c.get("entity") == "attachments" for c in changes):
            self.refresh()

    def closeEvent(self, event: Any) -> None:
        self._stop_decoders()
        super().closeEvent(event)
