"""The site services hosted by the desktop process, started and stopped in order.

Start: local API on the LAN (uvicorn in a thread) → zeroconf announcement → sync agent.
Stop, in reverse: unannounce → stop the agent → stop the server and join its thread →
dispose the engine. Announcing only once HTTP answers means a tablet never finds a
name that does not answer yet; unannouncing first means none is sent to a server that
is going away (architecture example 5).

Writes are committed synchronously by the write path, so stopping never has a write
in flight to lose: the server is only asked to exit after it has answered its requests.

Each service is optional: a piece another package has not delivered yet (or that
fails to start, e.g. the port is taken) is logged and skipped, and the window still
opens on the store.
"""

from __future__ import annotations

import gc
import inspect
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.db import Store
from core.settings import Settings
from core.site import SiteInfo, get_state

if TYPE_CHECKING:
    from sync_agent.agent import SyncAgent

log = logging.getLogger(__name__)

SERVICE_TYPE = "_structura._tcp.local."
IDENTITY_KEY = "device"  # sync_agent.agent.IDENTITY_KEY (not imported: optional package)


@dataclass
class Step:
    name: str
    state: str  # started | skipped | failed | stopped
    detail: str = ""
    code: str = ""  # port_in_use | store_locked | … for the window to explain


def failure_code(exc: BaseException) -> str:
    """What kind of start-up problem ``exc`` is, for a message a person can act on."""
    import errno
    import sqlite3

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.EADDRINUSE:
            return "port_in_use"
        if isinstance(seen, OSError) and seen.errno in (errno.EACCES, errno.EPERM):
            return "port_denied"
        if isinstance(seen, sqlite3.OperationalError) and "locked" in str(seen):
            return "store_locked"
        if isinstance(seen, (ConnectionError, TimeoutError)):
            return "central_unreachable"
        seen = seen.__cause__ or seen.__context__
    return "failed"


def free_port(host: str) -> int:
    """A port nobody listens on now, to offer when the configured one is taken."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class SiteHost:
    settings: Settings
    store: Store
    site: SiteInfo
    host: str | None = None
    port: int | None = None
    announce: bool | None = None
    agent_factory: Any = None  # for tests: a callable (store, central_url) -> agent
    steps: list[Step] = field(default_factory=list)
    context: Any = None
    server: Any = None
    announcer: Any = None
    agent: Any = None
    services: list[Any] = field(default_factory=list)
    fingerprint: str | None = None  # of the site certificate, when serving HTTPS
    broadcaster: Any = None
    _started: bool = False
    _later: threading.Thread | None = None

    # -- start ---------------------------------------------------------------------------

    def start(self, *, background: bool = False) -> None:
        """Start in order: server, then announcement, then agent. With ``background``
        the sequence runs in a helper thread (importing the web stack and the name
        probe take seconds) so the window is usable at once; the order is the same."""
        if self._started:
            return
        self._started = True
        if background:
            self._later = threading.Thread(target=self._start_all, name="site-host-start",
                                           daemon=True)  # fmt: skip
            self._later.start()
        else:
            self._start_all()

    def _start_all(self) -> None:
        self._step("local API", self._start_server)
        if self.server is not None:
            self._step("announcement", self._start_announcer)
        self._step("sync agent", self._start_agent)
        self._step("site services", self._start_services)
        # The web stack and the agent are made now and live as long as the process:
        # out of the collector's sight like the window's (desktop.app's
        # keep_window_responsive), or every full collection walks them with the GIL held.
        gc.freeze()

    @property
    def starting(self) -> bool:
        return self._later is not None and self._later.is_alive()

    def wait_started(self, timeout: float = 30.0) -> None:
        if self._later is not None:
            self._later.join(timeout)

    def _step(self, name: str, fn: Any) -> None:
        try:
            detail = fn()
        except ImportError as exc:
            self.steps.append(Step(name, "skipped", f"not available: {exc.name or exc}"))
            log.warning("%s: not available here (%s); continuing without it", name, exc)
            return
        except Exception as exc:  # a service failing must not keep the office out
            code = failure_code(exc)
            self.steps.append(Step(name, "failed", str(exc), code))
            if code == "failed":
                log.exception("%s: failed to start", name)
            else:  # a known situation the window explains: one line, no traceback
                log.warning("%s: %s (%s)", name, code, exc)
            return
        if detail is None:
            self.steps.append(Step(name, "skipped", "not configured"))
            log.info("%s: not configured", name)
        else:
            self.steps.append(Step(name, "started", str(detail)))
            log.info("%s: started (%s)", name, detail)

    def _make_context(self) -> Any:
        from local_api.context import AppContext, load_signing_key
        from local_api.live import Broadcaster

        self.broadcaster = Broadcaster(self.store)
        self.broadcaster.start()
        params = inspect.signature(AppContext).parameters
        kwargs: dict[str, Any] = {
            "settings": self.settings,
            "store": self.store,
            "site": self.site,
            "jwt_key": load_signing_key(self.settings),
            "broadcaster": self.broadcaster,
        }
        if "sync_status" in params:
            kwargs["sync_status"] = self.sync_status
        return AppContext(**{k: v for k, v in kwargs.items() if k in params})

    def _start_server(self) -> str:
        from core.private import check_site_files
        from local_api.app import create_app
        from local_api.server import EmbeddedServer

        # The API shares this process's store: one engine, and the desktop's listeners
        # hear writes made by LAN browsers.
        check_site_files(self.settings)  # private files whatever the umask (warns)
        self.context = self._make_context()
        app = create_app(self.context)
        host = self.host if self.host is not None else self.settings.host
        port = self.port if self.port is not None else self.settings.port
        ssl: dict[str, Any] = {}  # uvicorn.Config's ssl_* keywords
        from core import tls

        if tls.https_wanted(self.settings):
            # The site certificate is made once; tablets pin its fingerprint from the
            # QR code (pairing_url) or the zeroconf announcement.
            cert = tls.ensure_site_cert(self.settings.data_dir, self.site.site_name)
            self.fingerprint = cert.fingerprint
            ssl = tls.uvicorn_ssl(cert)
        server = EmbeddedServer(app, host, port, **ssl)
        server.start()  # raises when the port is taken; only a started server is kept
        self.server = server
        from local_api.warmup import served_url, warm_up

        warm_up(app, served_url(server.url))  # before the announcement: off the first tablet
        return self.url or f"{host}:{port}"

    def step(self, name: str) -> Step | None:
        """The latest outcome of service ``name``."""
        return next((s for s in reversed(self.steps) if s.name == name), None)

    @property
    def wanted_port(self) -> int:
        return int(self.port if self.port is not None else self.settings.port)

    def retry_server(self, port: int) -> bool:
        """Start the local API on ``port`` after it failed (the user chose another port),
        then the announcement. True once it answers."""
        if self.server is not None:
            return True
        if self.broadcaster is not None:
            self.broadcaster.stop()
            self.broadcaster = None
        self.port = port
        self._step("local API", self._start_server)
        if self.server is not None:
            self._step("announcement", self._start_announcer)
        return self.server is not None

    def _start_announcer(self) -> str | None:
        wanted = self.settings.announce if self.announce is None else self.announce
        if not wanted:
            return None
        from local_api.announce import Announcer, site_properties

        props = site_properties(self.site, https=bool(self.fingerprint),
                                fingerprint=self.fingerprint)  # fmt: skip
        self.announcer = Announcer(self.site.site_name, self.server.port, props)
        self.announcer.start()
        return f"{self.site.site_name} on port {self.server.port}"

    def central_url(self) -> str:
        identity = get_state(self.store, IDENTITY_KEY) or {}
        return (self.settings.central_url or identity.get("central_url")
                or get_state(self.store, "central_url", "") or "")  # fmt: skip

    def enrolled(self) -> bool:
        """The sync agent keeps the device identity enrolment gave it in sync_state."""
        return bool((get_state(self.store, IDENTITY_KEY) or {}).get("device_id"))

    def _start_agent(self) -> str | None:
        url = self.central_url()
        if not url or (self.agent_factory is None and not self.enrolled()):
            return None
        if self.agent_factory is not None:
            self.agent = self.agent_factory(self.store, url)
        else:
            self.agent = _agent_class()(self.store, url)
        self.agent.start()
        return url

    def _start_services(self) -> str | None:
        """Other site services (scheduled backups); the agent above is driven here."""
        from core.site_services import start_services

        self.services = start_services(self.store, self.settings, skip=frozenset({"sync"}))
        return ", ".join(r.name for r in self.services) or None

    # -- what the window shows -------------------------------------------------------------

    @property
    def url(self) -> str | None:
        """Where the API answers, e.g. ``http://192.168.1.20:8470/``."""
        if self.server is None:
            return None
        from desktop.lan import lan_url

        host = self.host if self.host is not None else self.settings.host
        url = lan_url(host, int(self.server.port))
        return url.replace("http://", "https://", 1) if self.fingerprint else url

    @property
    def pairing_url(self) -> str | None:
        """What the QR code encodes: the URL, plus the certificate fingerprint on HTTPS."""
        from core.tls import pairing_url

        return pairing_url(self.url, self.fingerprint) if self.url else None

    def sync_status(self) -> dict[str, Any]:
        if self.agent is not None:
            try:
                status = self.agent.status()
                return dict(status) if isinstance(status, dict) else vars(status)
            except Exception as exc:
                return {"state": "error", "last_error": str(exc)}
        return {"state": "not_enrolled"}

    def state(self, name: str) -> str:
        for step in reversed(self.steps):
            if step.name == name:
                return step.state
        return "stopped"

    # -- stop ------------------------------------------------------------------------------

    def stop(self, *, dispose: bool = True) -> None:
        """Reverse order; each step logged and isolated so one failure never skips the
        rest (the engine is always disposed, so the WAL is checkpointed and closed)."""
        # A start still in progress finishes first, so nothing starts after we stop.
        self.wait_started()
        self._stop_step("announcement", self.announcer, "stop")
        self.announcer = None
        if self.services:
            from core.site_services import stop_services

            stop_services(self.services)
            self.services = []
        self._stop_step("sync agent", self.agent, "stop")
        self.agent = None
        # The live stream is ended before the server: uvicorn waits for open responses
        # and an SSE response only ends when told to.
        self._stop_step("live broadcaster", self.broadcaster, "stop")
        self.broadcaster = None
        self._stop_step("local API", self.server, "stop")
        self.server = None
        if self.context is not None and hasattr(self.context, "close"):
            self._stop_step("API context", self.context, "close")
        self.context = None
        if dispose:
            self._stop_step("database engine", self.store, "dispose")
        self._started = False

    def _stop_step(self, name: str, obj: Any, method: str) -> None:
        if obj is None:
            return
        try:
            getattr(obj, method)()
            self.steps.append(Step(name, "stopped"))
            log.info("%s: stopped", name)
        except Exception:
            self.steps.append(Step(name, "failed", "error while stopping"))
            log.exception("%s: failed to stop cleanly", name)


def _agent_class() -> type[SyncAgent]:
    from sync_agent.agent import SyncAgent

    return SyncAgent
