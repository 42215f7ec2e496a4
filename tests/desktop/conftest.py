"""Desktop tests: real widgets offscreen, real SQLite files (the ``store`` fixture copies
a migrated template per test), real HTTP where the test is about the server."""

from __future__ import annotations

import os

# Before any QApplication exists (pytest-qt makes it on first use of qtbot/qapp).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("STRUCTURA_LANG", "en")

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.db import Store
from core.settings import Settings
from core.site import SiteInfo


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    from desktop.i18n import set_language

    set_language("en")
    yield
    set_language("en")


@pytest.fixture
def session(store: Store, site: SiteInfo, qapp: Any) -> Any:
    from desktop.session import Session, office_user

    return Session(store, site, office_user(store, site))


@pytest.fixture
def demo(session: Any) -> dict[str, list[str]]:
    from desktop.demo import seed

    return seed(session.store, session.site, session.actor)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", port=0, announce=False, host="127.0.0.1")
