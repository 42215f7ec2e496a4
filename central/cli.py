"""``structura central ...``: serve the central server and administer it."""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path
from typing import Any

from core.settings import Settings


def _context(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from central.context import CentralContext
    from central.settings import CentralSettings

    overrides = {"database_url": args.database_url} if getattr(args, "database_url", None) else {}
    try:
        settings = CentralSettings(**overrides)
    except ValidationError as exc:  # e.g. production with an example secret: say so, no trace
        reasons = [str(e["msg"]).removeprefix("Value error, ") for e in exc.errors()]
        raise SystemExit("central settings refused: " + "; ".join(reasons)) from None
    return CentralContext.open(settings)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from central.app import create_central_app

    ctx = _context(args)
    host = args.host or ctx.settings.host
    port = args.port if args.port is not None else ctx.settings.port
    workers = args.workers or ctx.settings.workers
    if workers > 1:
        # Each worker process builds its own app from the environment (app_from_env);
        # this process only checked the settings and migrated the database.
        ctx.store.dispose()
        if args.database_url:
            os.environ["DATABASE_URL"] = args.database_url
        # Any worker answers a scrape with the counts of all (prometheus_client's
        # multiprocess mode, set up before the workers start).
        from central.metrics import prepare_multiprocess

        prepare_multiprocess(ctx.settings.metrics_dir)
        uvicorn.run("central.app:app_from_env", factory=True, workers=workers, host=host,
                    port=port, log_config=None, access_log=False, server_header=False)  # fmt: skip
        return 0

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            # Open long polls answer first (the agents simply poll again), so the
            # graceful shutdown does not wait out their waits.
            if ctx.notifier is not None:
                ctx.notifier.release_all()
            await super().shutdown(sockets)

    try:
        # The timeout bounds what is still left (a slow push, a snapshot download).
        config = uvicorn.Config(create_central_app(ctx), host=host, port=port,
                                log_level="warning", access_log=False,
                                timeout_graceful_shutdown=3)  # fmt: skip
        Server(config).run()
    finally:
        ctx.store.dispose()
    return 0


def _with_store(fn: Any) -> Any:
    def run(args: argparse.Namespace, settings: Settings) -> int:
        ctx = _context(args)
        try:
            with ctx.store.write() as s:
                fn(args, s)
        finally:
            ctx.store.dispose()
        return 0

    return run


def _blobs(args: argparse.Namespace, settings: Settings) -> int:
    """Attachment bytes: collect the unheld, back up, restore (central.blobs)."""
    from datetime import timedelta

    ctx = _context(args)
    try:
        if args.central_command == "blobs-gc":
            dropped, deleted = ctx.blobs.collect(ctx.store, grace=timedelta(hours=args.grace_hours))
            print(f"dropped {dropped} holdings no live attachment needs; deleted {deleted} blobs")
        elif args.central_command == "blobs-backup":
            copied, kept = ctx.blobs.backup_to(Path(args.dir))
            print(f"{copied} blobs copied to {args.dir} ({kept} were there already)")
        else:
            restored = ctx.blobs.restore_from(Path(args.dir))
            print(f"{restored} blobs restored from {args.dir}")
    finally:
        ctx.store.dispose()
    return 0


def _create_admin(args: argparse.Namespace, s: Any) -> None:
    from central.enroll import create_admin

    password = os.environ.get("STRUCTURA_ADMIN_PASSWORD") or getpass.getpass("password: ")
    print(create_admin(s, email=args.email, password=password))


def _create_org(args: argparse.Namespace, s: Any) -> None:
    from central.enroll import create_org

    modules = [m for m in args.modules.split(",") if m]
    print(create_org(s, name=args.name, modules=modules).id)


def _create_site(args: argparse.Namespace, s: Any) -> None:
    from central.enroll import create_site, find_org

    print(create_site(s, org_id=find_org(s, args.org).id, name=args.name).id)


def _enrollment_code(args: argparse.Namespace, s: Any) -> None:
    from central.enroll import find_site, make_enrollment_code

    site = find_site(s, args.site)
    code, _ = make_enrollment_code(s, org_id=site.org_id, site_id=site.id, hours=args.hours)
    print(code)


def _revoke(args: argparse.Namespace, s: Any) -> None:
    from central.enroll import revoke_device

    print(revoke_device(s, args.device).revoked_at)


def _set_role(args: argparse.Namespace, s: Any) -> None:
    from sqlalchemy import select

    from central.console.roles import set_role
    from central.enroll import CENTRAL_ORG, find_org
    from core.errors import NotFound
    from core.models import User

    email = args.email.strip().lower()
    user = s.scalars(select(User).where(User.org_id == CENTRAL_ORG, User.email == email)).first()
    if user is None:
        raise NotFound(f"central admin '{args.email}' not found")
    org_id = find_org(s, args.org).id if args.org else None
    set_role(s, user.id, args.role, org_id)
    print(args.role if org_id is None else f"{args.role} of {org_id}")


def _restore_epoch(args: argparse.Namespace, s: Any) -> None:
    from central.epoch import begin_all

    for rec in begin_all(s):
        print(f"{rec.org_id}: epoch {rec.epoch} from feed position {rec.head}")


def register(sub: Any) -> None:
    """Add this package's subcommands to the structura command."""
    central = sub.add_parser("central", help="the central sync server (PostgreSQL)")
    csub = central.add_subparsers(dest="central_command", required=True)

    def add(name: str, help: str, func: Any) -> argparse.ArgumentParser:
        p = csub.add_parser(name, help=help)
        p.add_argument("--database-url", help="PostgreSQL URL (default: DATABASE_URL)")
        p.set_defaults(func=func)
        return p

    p = add("serve", "run the central server", _serve)
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int, help="uvicorn worker processes (default: "
                   "STRUCTURA_CENTRAL_WORKERS or 1)")  # fmt: skip
    p = add("create-admin", "make a central admin (password from STRUCTURA_ADMIN_PASSWORD "
            "or prompted)", _with_store(_create_admin))  # fmt: skip
    p.add_argument("email")
    p = add("set-role", "console role of a central admin: central, org_admin (with --org) or "
            "auditor", _with_store(_set_role))  # fmt: skip
    p.add_argument("email")
    p.add_argument("role", choices=["central", "org_admin", "auditor"])
    p.add_argument("--org", help="the organisation (id or name) of an org_admin")
    p = add("create-org", "make an organisation; prints its id", _with_store(_create_org))
    p.add_argument("name")
    p.add_argument("--modules", default="factory,tour")
    p = add("create-site", "make a site of an organisation (id or name)",
            _with_store(_create_site))  # fmt: skip
    p.add_argument("org")
    p.add_argument("name")
    p = add("enrollment-code", "make a one-time enrolment code for a site (id or name)",
            _with_store(_enrollment_code))  # fmt: skip
    p.add_argument("site")
    p.add_argument("--hours", type=float, default=24.0)
    add(
        "restore-epoch",
        "after restoring the database from a backup: begin a new sync "
        "epoch, so every site gives back what the backup lacks",
        _with_store(_restore_epoch),
    )
    p = add("revoke-device", "refuse a device from now on", _with_store(_revoke))
    p.add_argument("device")
    p = add("blobs-gc", "delete attachment bytes no live attachment row needs", _blobs)
    p.add_argument("--grace-hours", type=float, default=1.0,
                   help="keep what arrived within this many hours (default 1)")  # fmt: skip
    p = add("blobs-backup", "copy every attachment blob into DIR (incremental, verified by "
            "hash; independent of pg_dump)", _blobs)  # fmt: skip
    p.add_argument("dir")
    p = add("blobs-restore", "put back the blobs of a blobs-backup DIR", _blobs)
    p.add_argument("dir")
