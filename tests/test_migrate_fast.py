"""Opening a store that is already up to date does not import Alembic (most of the
cost of a desktop start), and the shortcut's idea of the head is Alembic's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from core.migrate import _history_at_a_glance, head_revision

ROOT = Path(__file__).resolve().parent.parent


def test_the_shortcut_reads_the_same_head_as_alembic() -> None:
    known, head = _history_at_a_glance()
    assert head == head_revision() and head in known and "0001" in known


def test_an_up_to_date_store_opens_without_alembic(tmp_path: Path) -> None:
    from core.db import sqlite_url
    from core.site import open_store

    url = sqlite_url(tmp_path / "s.sqlite3")
    open_store(url).dispose()  # made and migrated (Alembic runs here)
    code = (
        "import sys; from core.site import open_store; "
        f"open_store({url!r}).dispose(); "
        "print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": str(ROOT)})  # fmt: skip
    assert out.stdout.strip() == "False"
