"""``structura desktop``. PySide6 is imported only when the command runs, so the rest
of the CLI works on machines without it."""

from __future__ import annotations

import argparse
from typing import Any

from core.settings import Settings


def _desktop(args: argparse.Namespace, settings: Settings) -> int:
    from desktop.app import run

    return run(settings, smoke=args.offscreen_smoke)


def register(sub: Any) -> None:
    p = sub.add_parser("desktop", help="open the desktop app (hosts the site's LAN API)")
    p.add_argument(
        "--offscreen-smoke",
        action="store_true",
        help="open every page offscreen, check the API answers, quit (for CI)",
    )
    p.set_defaults(func=_desktop)
