"""Subcommands that need only the core: ``db upgrade``, ``import``, ``demo``."""

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


def register(sub: Any) -> None:
    db = sub.add_parser("db", help="database maintenance")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    up = dbsub.add_parser("upgrade", help="apply all migrations to the store (or --url)")
    up.add_argument("--url", help="SQLAlchemy URL (default: the site store)")
    up.set_defaults(func=_db_upgrade)
