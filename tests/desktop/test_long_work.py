"""Long work off the UI thread: export in a worker with progress and cancel, names in
the file, search by related names after a pause in typing."""

from __future__ import annotations

import csv
import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from desktop.bridge import ChangeBridge
from desktop.models.entity_table import EntityTableModel
from desktop.presenters.export import (
    PROCESS_FROM_ROWS,
    Cancelled,
    export_rows,
    sanitize_cell,
)
from desktop.views.main_window import MainWindow

pytestmark = pytest.mark.qt


def test_export_holds_names_not_ids(session: Any, demo: Any, tmp_path: Path) -> None:
    model = EntityTableModel(session, "jobs")
    path = tmp_path / "jobs.csv"
    n = export_rows(session, model.spec, model.columns, model.query_args(), path)
    with path.open(encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    assert n == len(rows) - 1 > 0
    header = rows[0]
    machine = [r[header.index("Machine")] for r in rows[1:]]
    assert "Conformadora" in " ".join(machine)
    assert not any(len(v) == 36 and v.count("-") == 4 for r in rows[1:] for v in r)  # no UUID
    assert "In progress" in [r[header.index("Status")] for r in rows[1:]]


def test_cancelled_export_leaves_no_file(session: Any, demo: Any, tmp_path: Path) -> None:
    from desktop.demo import bulk_jobs

    bulk_jobs(session.store, session.site, 1200)
    model = EntityTableModel(session, "jobs")
    path = tmp_path / "jobs.xlsx"
    seen: list[int] = []
    with pytest.raises(Cancelled):
        export_rows(session, model.spec, model.columns, model.query_args(), path,
                    progress=lambda d, t: seen.append(d), cancelled=lambda: bool(seen))  # fmt: skip
    assert not path.exists() and not list(tmp_path.glob("*.xlsx*"))


def test_formula_cells_are_neutralised() -> None:
    assert sanitize_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert sanitize_cell("Madrid") == "Madrid" and sanitize_cell(3) == 3


def test_export_runs_in_a_worker_while_the_window_answers(
    session: Any, demo: Any, qtbot: Any, tmp_path: Path
) -> None:
    from desktop.demo import bulk_jobs

    bulk_jobs(session.store, session.site, 6000)
    window = MainWindow(session, bridge=ChangeBridge(session.store))
    qtbot.addWidget(window)
    page = window.open("jobs")
    # At once, before the table's count has arrived: the export counts for itself (and
    # 6,000 rows >= PROCESS_FROM_ROWS: it runs in its own process).
    assert not page.all.model.counted and PROCESS_FROM_ROWS <= 6000
    job = page.export(str(tmp_path / "all.csv"))
    assert not job.finished  # returned at once; the work is in the thread
    ticks: list[float] = []
    while not job.finished:
        ticks.append(time.perf_counter())
        qtbot.wait(5)
    assert job.error is None and job.result == page.all.model.total
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    # The window keeps answering during the export (it used to freeze for the whole
    # 159 s). The bound is loose because the suite shares 2 cores with other workers;
    # bench/bench_desktop.py measures the real stall on a quiet machine.
    assert len(ticks) > 3 and max(gaps) < 3.0
    with (tmp_path / "all.csv").open(encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == job.result + 1 and "Bench job" in " ".join(rows[1])
    # Cancel kills the export process and leaves neither the file nor its .part.
    job = page.export(str(tmp_path / "gone.xlsx"))
    qtbot.waitUntil(lambda: job.dialog.value() > 0, timeout=30_000)  # it is writing
    job.cancel()
    job.wait()
    assert isinstance(job.error, Cancelled)
    assert not [p for p in tmp_path.iterdir() if "gone" in p.name]


def test_search_finds_jobs_by_machine_project_and_client_after_a_pause(
    session: Any, demo: Any, qtbot: Any
) -> None:
    model = EntityTableModel(session, "jobs")
    everything = model.total
    model.set_search("Conformadora")
    assert model.known_total == everything  # not yet: waits for the typing to pause
    qtbot.waitUntil(lambda: model.known_total < everything, timeout=2000)
    col = model.columns.index("machine_id")
    assert {model.data(model.index(r, col)) for r in range(model.rowCount())} == {
        "Conformadora"
    } or all("Conformadora" in str(model.data(model.index(r, col)))
             for r in range(model.rowCount()))  # fmt: skip
    model.search_now("Agro Sur")  # a client: through the job's project
    assert model.total > 0


LEGACY = Path("/work/shared/data/legacy-exports")


def test_printing_runs_in_a_worker_and_cancel_leaves_no_file(
    session: Any, demo: Any, qtbot: Any, tmp_path: Path
) -> None:
    import threading

    from desktop.views import long_work
    from desktop.views.jobs import JobsPage

    page = JobsPage(session)
    qtbot.addWidget(page)
    page.queue.table.selectRow(0)
    threads: list[str] = []

    job = page.queue.print_ticket(str(tmp_path / "t.pdf"))
    assert job is not None and not job.finished  # the window is free at once
    job.wait()
    assert job.error is None and job.result.read_bytes().startswith(b"%PDF")
    # The HTML is gathered in the worker too: a build that looks at its thread.
    built = long_work.write_in_background(
        page, "x", lambda: threads.append(threading.current_thread().name) or "<p>x</p>",
        lambda html, part: part.write_text(html), tmp_path / "x.html", wait=True,
    )  # fmt: skip
    assert built.error is None and threads and threads[0] != "MainThread"
    # Cancel: pressed while the build runs; neither the file nor its .part remain.
    gate = threading.Event()
    slow = long_work.write_in_background(
        page, "x", lambda: gate.wait(5) and "<p>x</p>",
        lambda html, part: part.write_text(html), tmp_path / "c.html",
    )  # fmt: skip
    from PySide6.QtWidgets import QPushButton

    slow.dialog.findChild(QPushButton).click()  # the dialog's Cancel button
    gate.set()
    slow.wait()
    assert isinstance(slow.error, long_work.Cancelled)
    assert not list(tmp_path.glob("c.html*")) and not list(tmp_path.glob(".c.html*"))


@pytest.mark.skipif(not LEGACY.is_dir(), reason="legacy sample exports not available")
def test_import_runs_in_a_worker_and_cancel_imports_nothing(
    settings: Any, qtbot: Any, tmp_path: Path
) -> None:
    from sqlalchemy import func, select

    from core.models import Job
    from desktop.app import import_in_background
    from desktop.setup import SetupChoice, create_site
    from desktop.views.long_work import Cancelled

    files = sorted(p for p in LEGACY.glob("*.json") if p.name != "expected.json")
    store, site = create_site(settings, SetupChoice(data_dir=tmp_path / "s", org_name="Old"))
    try:
        job = import_in_background(None, store, site, files)
        job.cancel()  # at the first progress step: the one transaction rolls back
        job.wait()
        assert isinstance(job.error, Cancelled)
        with store.read() as s:
            assert s.scalar(select(func.count()).select_from(Job)) == 0
        job = import_in_background(None, store, site, files)
        ticks = 0
        while not job.finished:
            ticks += 1
            qtbot.wait(5)
        assert job.error is None and job.result.total_imported > 0 and ticks > 1
    finally:
        store.dispose()


def test_the_progress_window_shows_even_before_any_progress(qtbot: Any) -> None:
    """Work that says nothing for a while (an export process starting up) still gets
    its window with Cancel after a moment, not a silent wait."""
    from PySide6.QtWidgets import QWidget

    from desktop.views.long_work import LongWork

    parent = QWidget()
    qtbot.addWidget(parent)
    parent.show()
    job = LongWork(parent, "Exporting…", lambda progress, cancelled: time.sleep(1.5)).start()
    qtbot.waitUntil(job.dialog.isVisible, timeout=1200)
    job.wait()
    assert not job.dialog.isVisible()
    quick = LongWork(parent, "Printing…", lambda progress, cancelled: None).start()
    quick.wait()
    qtbot.wait(700)  # past the dialog's minimum duration: it must not pop up now
    assert not quick.dialog.isVisible()
