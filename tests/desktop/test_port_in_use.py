"""A LAN port already in use: the Tablets page says so and offers a free port; one log
line, no traceback flood; choosing the offered port brings the API up."""

from __future__ import annotations

import logging
import socket
from typing import Any

import httpx
import pytest

from core.settings import Settings
from desktop.host import SiteHost
from desktop.i18n import set_language
from desktop.views.main_window import MainWindow

pytestmark = pytest.mark.qt


def test_port_in_use_is_explained_and_another_port_offered(
    session: Any, settings: Settings, qtbot: Any, caplog: Any
) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    host = SiteHost(settings, session.store, session.site, host="127.0.0.1", port=port,
                    announce=False)  # fmt: skip
    try:
        with caplog.at_level(logging.WARNING):
            host.start()
            window = MainWindow(session, host=host)
            qtbot.addWidget(window)
            window.show()
            qtbot.wait(800)  # the host watcher ticks every 250 ms
        assert host.step("local API").code == "port_in_use"
        assert not [r for r in caplog.records if r.exc_info]  # no traceback
        assert len([r for r in caplog.records if "port_in_use" in r.getMessage()]) == 1
        page = window.open("tablets")
        assert page.problem.isVisibleTo(page)
        assert f"{port} is already in use" in page.problem.text()
        assert page.other_port.isVisibleTo(page)
        set_language("es")
        page.refresh()
        assert f"El puerto de red {port} ya está en uso" in page.problem.text()
        assert page.other_port.text().startswith("Usar el puerto")
        assert page.use_other_port()
        assert not page.problem.isVisibleTo(page)
        assert page.address.text() == host.url
        assert httpx.get(f"{host.server.url}/api/health", timeout=5).status_code == 200
    finally:
        host.stop()
        taken.close()
