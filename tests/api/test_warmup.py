"""The app is warmed up in process before the site is announced (local_api.warmup): its
requests go through the whole middleware (the host allowlist included) to the pages and
the API routers, and a failure never stops the server."""

from __future__ import annotations

from typing import Any

from local_api.warmup import PATHS, served_url, warm_up


def test_warm_up_reaches_the_pages_and_the_routers(app: Any) -> None:
    answers = warm_up(app, "http://testserver")
    assert set(answers) == set(PATHS)
    assert answers["/app/"] == 200 and answers["/app/login"] == 200
    assert answers["/api/health"] == 200
    assert answers["/api/board"] == 401 and answers["/api/me/jobs"] == 401  # routed, refused


def test_a_failing_warm_up_is_logged_not_raised(caplog: Any) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("broken app")

    assert warm_up(broken, "http://testserver") == {}
    assert "warming the app up failed" in caplog.text


def test_every_address_is_warmed_up_through_loopback() -> None:
    assert served_url("https://0.0.0.0:8470") == "https://127.0.0.1:8470"
    assert served_url("http://[::]:8470") == "http://127.0.0.1:8470"
    assert served_url("https://192.168.1.20:8470") == "https://192.168.1.20:8470"
