"""Subcommands that need only the core: ``db upgrade``, ``import``, ``demo``, ``backup``."""

from __future__ import annotations

import argparse
from typing import Any

from core.settings import Settings


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from core.site import open_store

    url = args.url or settings.store_url()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(url)
    store.dispose()
    print(f"database at {url.split('@')[-1]} is up to date")
    return 0


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from core.legacy.command import run

    return run(args, settings)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from core.demo import command

    return command(args, settings)


def register(sub: Any) -> None:
    db = sub.add_parser("db", help="database maintenance")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    up = dbsub.add_parser("upgrade", help="apply all migrations to the store (or --url)")
    up.add_argument("--url", help="SQLAlchemy URL (default: the site store)")
    up.set_defaults(func=_db_upgrade)

    from core.legacy.command import add_parser as add_import

    add_import(sub, _import)
    demo = sub.add_parser(
        "demo",
        help="create or refresh a local store with demo data (factory and tour)",
        description="Fill the site store with realistic demo data for both domains. "
        "Running it again refreshes the same rows; it never duplicates them.",
    )
    demo.add_argument("--admin-password", help="set the admin password (default: random)")
    demo.set_defaults(func=_demo)

    from core.backup import register as add_backup

    add_backup(sub)
