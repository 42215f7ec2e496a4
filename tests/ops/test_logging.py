"""JSON log lines with the request id from the context variable."""

from __future__ import annotations

import io
import json
import logging
import threading

from core import logging_setup as ls


def test_json_lines_carry_request_id_extras_and_exceptions():
    stream = io.StringIO()
    handler = ls.configure("DEBUG", "json", stream=stream)
    try:
        log = logging.getLogger("structura.test")
        token = ls.set_request_id("req-1")
        try:
            log.info("hello %s", "world", extra={"org_id": "o1"})
            # Threads started with a copied context (as Starlette's threadpool does)
            # see it too; a plain thread does not.
            seen: list[str | None] = []
            t = threading.Thread(target=lambda: seen.append(ls.request_id.get()))
            t.start()
            t.join()
        finally:
            ls.reset_request_id(token)
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["msg"] == "hello world" and first["request_id"] == "req-1"
    assert first["org_id"] == "o1" and first["level"] == "INFO" and first["ts"].endswith("+00:00")
    assert "request_id" not in second and "ValueError: boom" in second["exc"]
    assert seen == [None]


def test_request_ids_from_clients_are_checked():
    assert ls.accept_request_id("abc-123") == "abc-123"
    for bad in (None, "", "a b", 'x"y', "x" * 200, "line\nbreak"):
        made = ls.accept_request_id(bad)
        assert made != bad and len(made) == 32


def test_configure_replaces_its_own_handler_only():
    root = logging.getLogger()
    before = list(root.handlers)
    a = ls.configure("INFO", "text", stream=io.StringIO())
    b = ls.configure("INFO", "json", stream=io.StringIO())
    try:
        assert a not in root.handlers and b in root.handlers
        assert [h for h in root.handlers if h is not b] == before
    finally:
        root.removeHandler(b)
