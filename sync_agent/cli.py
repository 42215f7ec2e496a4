"""``structura sync ...``: enrol this site, sync once or continuously, show state and
conflicts."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from typing import Any

from core.private import private_dir
from core.settings import Settings


def _store(settings: Settings) -> Any:
    from core.site import open_store

    private_dir(settings.data_dir)
    return open_store(settings.store_url())


def _enroll_rest(args: argparse.Namespace) -> tuple[str, str, str | None]:
    """The code, name and fingerprint from what follows the URL.

    A one-time code is URL-safe base64 and may start with ``-`` (older central servers
    made such codes about once in 64): argparse would take ``-Xyz`` for an unknown
    option, so everything after the URL is read here, where whatever is not one of the
    options is the code. ``--code=CODE`` and ``-- CODE`` work as well."""
    rest = list(args.rest or ())
    tail = argparse.ArgumentParser(prog="structura sync enroll", allow_abbrev=False)
    tail.add_argument("--name", default=args.name)
    tail.add_argument("--fingerprint", default=args.fingerprint)
    tail.add_argument("--code", dest="code_opt", default=args.code_opt)
    if "--" in rest:  # everything after "--" is positional
        cut = rest.index("--")
        known, extra = tail.parse_known_args(rest[:cut])
        extra += rest[cut + 1 :]
    else:
        known, extra = tail.parse_known_args(rest)
    codes = ([known.code_opt] if known.code_opt else []) + extra
    if len(codes) != 1:
        tail.error("give exactly one enrolment code (CODE, -- CODE or --code=CODE)")
    return codes[0], known.name, known.fingerprint


def _enroll(args: argparse.Namespace, settings: Settings) -> int:
    from sync_agent.agent import enroll_site

    code, name, fingerprint = _enroll_rest(args)
    store = _store(settings)
    try:
        data = enroll_site(store, args.url, code, device_name=name, fingerprint=fingerprint)
    finally:
        store.dispose()
    print(f"enrolled as device {data['device_id']} of {data['org']['name']} / "
          f"{data['site']['name']}")  # fmt: skip
    return 0


def _agent(settings: Settings) -> Any:
    from sync_agent.agent import SyncAgent

    store = _store(settings)
    return store, SyncAgent(store)


def _once(args: argparse.Namespace, settings: Settings) -> int:
    from sync_agent.client import SyncError

    store, agent = _agent(settings)
    try:
        print(json.dumps(agent.sync_once()))
        return 0
    except SyncError as exc:
        print(f"sync failed: {exc}")
        return 1
    finally:
        print(json.dumps(agent.status()))
        agent.client.close()
        store.dispose()


def _run(args: argparse.Namespace, settings: Settings) -> int:
    store, agent = _agent(settings)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    agent.start()
    try:
        while not done.wait(1.0):
            pass
    finally:
        agent.stop()
        store.dispose()
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    store, agent = _agent(settings)
    try:
        print(json.dumps(agent.status(), indent=2))
    finally:
        store.dispose()
    return 0


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    from sync_agent.client import SyncError

    store, agent = _agent(settings)
    try:
        report = agent.verify(repair=not args.no_repair)
        print(json.dumps(report, indent=2))
        return 0 if report["differences"] == 0 else 3
    except SyncError as exc:
        print(f"verify failed: {exc}")
        return 1
    finally:
        agent.client.close()
        store.dispose()


def _conflicts(args: argparse.Namespace, settings: Settings) -> int:
    from core.site import site_info
    from core.sync.conflicts import list_conflicts, resolve_conflict
    from core.writes import Actor

    store = _store(settings)
    try:
        info = site_info(store)
        if info is None:
            print("this store belongs to no site")
            return 1
        if args.resolve:
            actor = Actor(org_id=info.org_id, user_id=None, role="admin")
            values = json.loads(args.values) if args.values else None
            with store.write() as s:
                out = resolve_conflict(s, actor=actor, conflict_id=args.resolve,
                                       choice=args.choice, values=values)  # fmt: skip
            print(json.dumps(out, indent=2))
        else:
            with store.read() as s:
                print(json.dumps(list_conflicts(s, info.org_id), indent=2))
    finally:
        store.dispose()
    return 0


def register(sub: Any) -> None:
    """Add this package's subcommands to the structura command."""
    sync = sub.add_parser("sync", help="sync this site with the central server")
    ssub = sync.add_subparsers(dest="sync_command", required=True)
    p = ssub.add_parser("enroll", help="enrol this site with a one-time code")
    p.add_argument("url")
    p.add_argument("--name", default="site")
    p.add_argument(
        "--fingerprint",
        help="SHA-256 fingerprint of the central server's certificate to pin (from the "
        "admin); without it an https server's current certificate is pinned",
    )
    p.add_argument("--code", dest="code_opt", metavar="CODE", help="the one-time code "
                   "(this form, or `-- CODE`, also takes a code that starts with -)")  # fmt: skip
    # Read by _enroll_rest: a code may start with "-", which argparse alone would refuse.
    p.add_argument("rest", nargs=argparse.REMAINDER, metavar="CODE [--name N]")
    p.set_defaults(func=_enroll)
    ssub.add_parser("once", help="push, then pull, once").set_defaults(func=_once)
    ssub.add_parser("run", help="sync continuously until stopped").set_defaults(func=_run)
    ssub.add_parser("status", help="sync state as JSON").set_defaults(func=_status)
    p = ssub.add_parser("verify", help="compare this site's copy with the central copy by "
                        "checksums; repair differences from the central rows (exit 3 if "
                        "any were found)")  # fmt: skip
    p.add_argument("--no-repair", action="store_true", help="only report")
    p.set_defaults(func=_verify)
    p = ssub.add_parser("conflicts", help="list conflicts, or resolve one")
    p.add_argument("--resolve", metavar="ID")
    p.add_argument("--choice", default="server",
                   choices=("server", "mine", "values", "rename", "merge", "discard"))  # fmt: skip
    p.add_argument("--values", help="JSON object (with --choice values)")
    p.set_defaults(func=_conflicts)
