"""Subcommands that need only the core: ``db upgrade``, ``import``, ``demo``, ``backup``."""

from __future__ import annotations

import argparse
from typing import Any

from core.private import private_dir
from core.settings import Settings


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from core.site import open_store

    url = args.url or settings.store_url()
    private_dir(settings.data_dir)
    store = open_store(url)
    store.dispose()
    print(f"database at {url.split('@')[-1]} is up to date")
    return 0


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from core.legacy.command import run

    return run(args, settings)


def _export(args: argparse.Namespace, settings: Settings) -> int:
    import sys
    from pathlib import Path

    from core.legacy.export import export_legacy
    from core.site import open_store, site_info

    if not settings.database_url and not settings.store_path.exists():
        print(f"structura export: error: no site store at {settings.store_path}", file=sys.stderr)
        return 2
    store = open_store(settings.store_url())
    try:
        site = site_info(store)
        if site is None:
            print("structura export: error: the store belongs to no site yet", file=sys.stderr)
            return 2
        report = export_legacy(store, Path(args.legacy), org_id=site.org_id, org_name=site.org_name)
    finally:
        store.dispose()
    print(report.render())
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from core.demo import command

    return command(args, settings)


def _attachments(args: argparse.Namespace, settings: Settings) -> int:
    from core.attachments.blobs import site_blob_store
    from core.attachments.service import collect_garbage
    from core.site import open_store

    store = open_store(settings.store_url())
    blobs = site_blob_store(settings.data_dir)
    try:
        temp = blobs.clean_temp()
        removed = collect_garbage(store, blobs, grace_seconds=args.grace_hours * 3600)
    finally:
        store.dispose()
    print(f"removed {removed} unneeded blobs and {temp} leftover temporary files")
    return 0


def register(sub: Any) -> None:
    db = sub.add_parser("db", help="database maintenance")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    up = dbsub.add_parser("upgrade", help="apply all migrations to the store (or --url)")
    up.add_argument("--url", help="SQLAlchemy URL (default: the site store)")
    up.set_defaults(func=_db_upgrade)

    from core.legacy.command import add_parser as add_import

    add_import(sub, _import)
    export = sub.add_parser(
        "export",
        help="write the store as the old browser apps' localStorage exports (the way back)",
        description="Write structura-export.json (factory app) and ontour-shows.json (tour "
        "app) into DIR, in the formats `structura import` reads. PINs and passwords are not "
        "written (only their hashes are kept); deleted rows are left out.",
    )
    export.add_argument("--legacy", required=True, metavar="DIR", help="folder to write into")
    export.set_defaults(func=_export)
    demo = sub.add_parser(
        "demo",
        help="create or refresh a local store with demo data (factory and tour)",
        description="Fill the site store with realistic demo data for both domains. "
        "Running it again refreshes the same rows; it never duplicates them.",
    )
    demo.add_argument("--admin-password", help="set the admin password (default: random)")
    demo.set_defaults(func=_demo)

    att = sub.add_parser("attachments", help="the site's attachment bytes (DATA_DIR/blobs)")
    attsub = att.add_subparsers(dest="attachments_command", required=True)
    collect = attsub.add_parser(
        "collect",
        help="remove bytes no live attachment needs (deletes already pushed) and leftovers",
    )
    collect.add_argument("--grace-hours", type=float, default=1.0,
                         help="keep blobs written within this many hours (default 1)")  # fmt: skip
    collect.set_defaults(func=_attachments)

    from core.backup import register as add_backup

    add_backup(sub)
