"""``structura site serve``: the API headless on the site store (by default the store
``structura demo`` makes in the data directory), and ``structura site users`` to see who
can log in."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any

from core.runtime import keep_responsive
from core.settings import Settings
from core.site_services import start_services, status_of, stop_services

log = logging.getLogger("structura.site")


def serve(args: argparse.Namespace, settings: Settings) -> int:
    from local_api.app import create_app
    from local_api.context import AppContext
    from local_api.server import EmbeddedServer
    from local_api.warmup import served_url, warm_up

    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    from local_api.context import Limits

    limits = Limits()
    if args.api_rate is not None:
        limits.api_rate = args.api_rate
        limits.api_burst = max(limits.api_burst, args.api_rate * 4)
    try:
        context = AppContext.open(settings, limits=limits)
    except RuntimeError as exc:
        log.error("%s", exc)
        return 2
    broadcaster = _start_broadcaster(context)
    try:
        app = create_app(context)
    except RuntimeError as exc:  # a setting that cannot be served (frontend folder)
        log.error("%s", exc)
        if broadcaster is not None:
            broadcaster.stop()
        context.close()
        context.store.dispose()
        return 2
    ssl_kwargs: dict[str, str] = {}
    from core import tls

    if tls.https_wanted(settings, args.https, plain=args.http):
        # Self-signed on first run; clients pin its fingerprint (QR code, zeroconf fp).
        cert = tls.ensure_site_cert(settings.data_dir, context.site.site_name)
        ssl_kwargs = tls.uvicorn_ssl(cert)
        print(f"certificate fingerprint {cert.fingerprint}", flush=True)
    server = EmbeddedServer(
        app,
        host=host,
        port=port,
        log_level=args.uvicorn_log_level,
        access_log=args.access_log,
        **ssl_kwargs,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server.start()
    except Exception as exc:
        log.error("%s", exc)
        context.store.dispose()
        return 1
    warm_up(app, served_url(server.url))  # before the first tablet, and before the announcement
    # The URL line is what scripts (the benchmark) wait for.
    print(f"serving {context.site.site_name} on {server.url}", flush=True)
    log.info("serving site %s (%s) on %s", context.site.site_name, context.site.site_id, server.url)
    # In order, once HTTP is up: the announcement, then the other site services (sync
    # agent when enrolled, scheduled backups); stopped in reverse before the server.
    announcer = _announce(context, server, settings, args, ssl_kwargs)
    services = start_services(context.store, settings)
    context.sync_status = lambda: status_of(services, "sync") or {"state": "not_enrolled"}
    # What start-up made lives as long as the process, and the event loop shares the
    # GIL with the writers: core.runtime (at 1,000 live streams, full collections were
    # 200-500 ms pauses of the loop several times a minute; bench_connections).
    keep_responsive()
    try:
        stop.wait()
    finally:
        log.info("stopping")
        if announcer is not None:
            announcer.stop()
        stop_services(services)
        if broadcaster is not None:
            broadcaster.stop()
        server.stop()
        context.close()
        context.store.dispose()
    return 0


def _announce(context: Any, server: Any, settings: Settings, args: Any, ssl: dict) -> Any:
    """Announce on the LAN with zeroconf, bound to the served interface when it is a
    specific address. A failure to announce is logged, never fatal: the LAN address can
    still be typed in or scanned from the QR code."""
    if args.no_announce or not settings.announce:
        return None
    from local_api.announce import Announcer, site_properties

    fingerprint = None
    if ssl:
        from core import tls

        fingerprint = tls.ensure_site_cert(settings.data_dir, context.site.site_name).fingerprint
    host = args.host or settings.host
    interfaces = None if host in ("0.0.0.0", "::", "") else [host]
    props = site_properties(context.site, https=bool(ssl), fingerprint=fingerprint)
    announcer = Announcer(context.site.site_name, server.port, props, interfaces=interfaces)

    def start() -> None:
        # Probing the name on the network takes ~2 s: do not hold up serving for it.
        try:
            announcer.start()
            log.info("announced as %s", announcer.name)
        except Exception:
            log.exception("could not announce on the LAN")

    thread = threading.Thread(target=start, name="announce", daemon=True)
    thread.start()
    return _Announcement(announcer, thread)


class _Announcement:
    def __init__(self, announcer: Any, thread: threading.Thread) -> None:
        self.announcer, self.thread = announcer, thread

    def stop(self) -> None:
        self.thread.join(timeout=10)
        self.announcer.stop()


def _start_broadcaster(context: Any) -> Any:
    try:
        from local_api.live import Broadcaster
    except ImportError:
        return None
    broadcaster = Broadcaster(context.store)
    broadcaster.start()
    context.broadcaster = broadcaster
    return broadcaster


def users(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from core.models import User
    from core.site import open_store, site_info

    store = open_store(settings.store_url())
    try:
        info = site_info(store)
        if info is None:
            log.error("this store belongs to no site yet")
            return 2
        with store.read() as s:
            rows = s.scalars(
                select(User)
                .where(User.org_id == info.org_id, User.deleted_at.is_(None))
                .order_by(User.role, User.name)
            )
            for u in rows:
                how = (
                    "+".join(
                        k for k, v in (("pin", u.pin_hash), ("password", u.password_hash)) if v
                    )
                    or "no login"
                )
                state = "active" if u.is_active else "inactive"
                print(f"{u.id}\t{u.role}\t{u.name}\t{u.email or '-'}\t{how}\t{state}")
    finally:
        store.dispose()
    return 0


def register(sub: Any) -> None:
    """Add this package's subcommands to the structura command."""
    site = sub.add_parser("site", help="the site's LAN API")
    ssub = site.add_subparsers(dest="site_command", required=True)
    sv = ssub.add_parser("serve", help="serve the API headless (Ctrl-C to stop)")
    sv.add_argument("--host", help="interface to listen on (default: settings host)")
    sv.add_argument("--port", type=int, help="port (default: settings port; 0 = any free)")
    sv.add_argument("--uvicorn-log-level", default="warning")
    sv.add_argument(
        "--api-rate",
        type=float,
        default=None,
        help="requests per second per user and device (default 50)",
    )
    sv.add_argument("--access-log", action="store_true", help="log every request")
    sv.add_argument(
        "--no-announce",
        action="store_true",
        help="do not announce the server on the LAN (zeroconf); also STRUCTURA_ANNOUNCE=0",
    )
    sv.add_argument(
        "--https",
        action="store_true",
        help="serve TLS even if STRUCTURA_HTTPS=0 says otherwise (HTTPS is the default)",
    )
    sv.add_argument(
        "--http",
        action="store_true",
        help="serve plain HTTP, without TLS (also STRUCTURA_HTTPS=0); only on a trusted LAN",
    )
    sv.set_defaults(func=serve)
    us = ssub.add_parser("users", help="list the users who can log in")
    us.set_defaults(func=users)
