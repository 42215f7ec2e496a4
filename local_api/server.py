"""uvicorn in a thread: how the desktop app, ``structura site serve`` and the wire
tests run the API. ``start()`` returns once the server accepts connections (or raises);
``stop()`` asks it to finish open requests and joins the thread."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from typing import Any

import uvicorn

log = logging.getLogger(__name__)


class ServerError(RuntimeError):
    pass


_SECRET_QUERY = re.compile(
    r"\b((?:access_|refresh_)?token|secret|code|pin|password)=[^&\s\"]*", re.I
)


class RedactQuery(logging.Filter):
    """uvicorn's access log prints the full path with its query string, and the live
    stream takes ``?access_token=`` (EventSource cannot send headers): blank such
    values so ``--access-log`` never writes a usable token to disk."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], _SECRET_QUERY.sub(r"\1=***", args[2]), *args[3:])
        return True


def redact_access_log() -> None:
    """Idempotent: install ``RedactQuery`` on uvicorn's access logger."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQuery) for f in access.filters):
        access.addFilter(RedactQuery())


class EmbeddedServer:
    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str = "warning",
        access_log: bool = False,
        **config: Any,
    ) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self._config_kwargs = {"log_level": log_level, "access_log": access_log, **config}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._error: BaseException | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise ServerError("server not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        # ssl_certfile/ssl_keyfile in **config (core.tls.uvicorn_ssl) serve HTTPS.
        scheme = "https" if self._config_kwargs.get("ssl_certfile") else "http"
        return f"{scheme}://{host}:{self.port}"

    def _bind(self) -> socket.socket:
        # Binding here (not in uvicorn's thread) makes "port in use" an error of start()
        # and lets port=0 pick a free port we can read back.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.requested_port))
        except OSError as exc:
            sock.close()
            raise ServerError(f"cannot listen on {self.host}:{self.requested_port}: {exc}") from exc
        sock.listen(2048)
        sock.set_inheritable(True)
        return sock

    def start(self, timeout: float = 15.0) -> EmbeddedServer:
        if self._thread is not None:
            raise ServerError("already started")
        self._sock = self._bind()
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,
            lifespan="on",
            server_header=False,
            **self._config_kwargs,
        )
        self._server = uvicorn.Server(config)
        redact_access_log()
        sock = self._sock

        def run() -> None:
            try:
                assert self._server is not None
                self._server.run(sockets=[sock])
            except BaseException as exc:  # reported by start() / stop()
                self._error = exc
                log.exception("embedded server stopped with an error")

        self._thread = threading.Thread(target=run, name=f"uvicorn-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                self._cleanup()
                raise ServerError(f"server failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"server did not start within {timeout} s")
            time.sleep(0.01)
        log.info("API listening on %s", self.url)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                # Open streaming responses keep a graceful exit waiting; cut them.
                assert self._server is not None
                self._server.force_exit = True
                self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("embedded server thread did not stop")
        self._cleanup()
        log.info("API stopped")

    def _cleanup(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._thread = None

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
