"""Logs as JSON lines, each carrying the id of the request that caused it.

Operators feed these lines to journald, Loki or Elasticsearch, which index JSON fields;
a request id in every line ties the access line, the warnings and the traceback of one
request together (also across the load balancer, which may set ``X-Request-ID``).

The request id lives in a ``ContextVar``: the API middleware
(``apikit.observe.ObservabilityMiddleware``) sets it per request, and both asyncio
tasks and the threads Starlette runs sync endpoints in copy the context, so a log call
deep in a service sees the right id without anyone passing it down.

Nothing here imports a web framework: core stays free of FastAPI.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import uuid
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any, TextIO

request_id: ContextVar[str | None] = ContextVar("structura_request_id", default=None)

# What a client may send as X-Request-ID: short, printable, no spaces or quotes, so it can
# neither forge log fields nor blow up a line.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")

# LogRecord attributes that are not "extra" fields given by the caller.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

FORMATS = ("json", "text")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """The client's id when it is well formed, else a fresh one."""
    if value and _VALID_ID.match(value):
        return value
    return new_request_id()


def set_request_id(value: str | None) -> Token[str | None]:
    return request_id.set(value)


def reset_request_id(token: Token[str | None]) -> None:
    request_id.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid:
            out["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in out and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The human format of a terminal, with the request id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = request_id.get()
        return f"{line} [req {rid}]" if rid else line


def log_format(explicit: str | None = None) -> str:
    """``STRUCTURA_LOG_FORMAT`` (json|text) decides; text by default, for a person at a
    terminal. The service units and the container image set ``json``."""
    value = (explicit or os.environ.get("STRUCTURA_LOG_FORMAT") or "").lower()
    return value if value in FORMATS else "text"


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is *now*: a handler that kept the stream of
    the moment it was made writes into a closed file once that stream is swapped (a
    test harness's capture, a daemon that redirects its output)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure(level: str | int = "INFO", fmt: str | None = None,
              stream: TextIO | None = None) -> logging.Handler:  # fmt: skip
    """Install one handler on the root logger (replacing any earlier one of ours)."""
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format(fmt) == "json" else TextFormatter())
    handler.set_name("structura")
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "structura":
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # uvicorn's own loggers propagate to the root when started with log_config=None.
    return handler
