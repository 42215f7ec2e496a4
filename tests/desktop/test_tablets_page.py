"""Tablets page: pairing a tablet lists it, and the office unpairs a lost one (its key
stops working at once), in English and in Spanish."""

from __future__ import annotations

from typing import Any

import pytest

from core.identity.devices import complete_pairing, is_paired
from desktop.i18n import set_language
from desktop.views.tablets import TabletsPage

pytestmark = pytest.mark.qt


def _texts(page: TabletsPage) -> list[str]:
    return [page.devices.item(i).text() for i in range(page.devices.count())]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_pair_list_and_unpair_a_tablet(session: Any, qtbot: Any, lang: str) -> None:
    set_language(lang)
    try:
        page = TabletsPage(None, session=session)
        qtbot.addWidget(page)
        empty = "No tablet paired yet" if lang == "en" else "Todavía no hay tabletas emparejadas"
        assert _texts(page) == [empty]
        assert not page.unpair_button.isEnabled()

        page.pair()
        assert page.code is not None
        waiting = "waiting for its code" if lang == "en" else "esperando su código"
        assert len(_texts(page)) == 1 and _texts(page)[0].endswith(waiting)

        cred = complete_pairing(session.store, org_id=session.org_id, code=page.code)
        page.load_devices()
        paired = "paired" if lang == "en" else "emparejada"
        assert _texts(page)[0].endswith(paired)
        with session.read() as s:
            assert is_paired(s, session.org_id, cred.device_id, cred.device_key)

        page.devices.setCurrentRow(0)
        assert page.unpair_button.isEnabled()
        page.unpair(confirm=False)
        unpaired = "unpaired" if lang == "en" else "desemparejada"
        assert _texts(page)[0].endswith(unpaired)
        page.devices.setCurrentRow(0)
        assert not page.unpair_button.isEnabled()  # nothing left to unpair on that row
        with session.read() as s:
            assert not is_paired(s, session.org_id, cred.device_id, cred.device_key)
    finally:
        set_language("en")
