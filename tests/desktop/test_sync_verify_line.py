"""The desktop's sync panel says what the last comparison with the central copy found
(a difference is never silent), in English and Spanish."""

from __future__ import annotations

import pytest

from desktop import i18n
from desktop.views.sync_panel import describe_verify


@pytest.fixture
def spanish():
    i18n.set_language("es")
    yield
    i18n.set_language("en")


def test_not_checked_in_step_and_differences():
    assert describe_verify(None) == "not checked yet"
    ok = {"at": "2026-12-01T05:00:00+00:00", "differences": 0, "repaired": 0}
    assert describe_verify(ok) == "in step with the central copy (2026-12-01 05:00)"
    bad = {"at": "2026-12-01T05:00:00+00:00", "differences": 4, "repaired": 3}
    assert describe_verify(bad) == "4 rows differed, 3 repaired (2026-12-01 05:00)"


def test_in_spanish(spanish):
    bad = {"at": "2026-12-01T05:00:00+00:00", "differences": 4, "repaired": 3}
    assert describe_verify(bad) == "4 filas diferían, 3 reparadas (2026-12-01 05:00)"
