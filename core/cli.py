"""The ``structura`` command.

Each package contributes its subcommands through the ``structura.commands`` entry-point
group (a ``register(subparsers)`` function), so ``core`` stays free of imports from the
packages that build on it. A package whose optional dependencies are missing (the
desktop without PySide6) simply contributes nothing, and says why when asked for help.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from core.settings import Settings, SettingsError

log = logging.getLogger("structura")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="structura",
        description="Structura: offline-first factory and tour management.",
    )
    parser.add_argument("--data-dir", help="where the site store lives")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING, ERROR")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    unavailable: list[str] = []
    for ep in sorted(entry_points(group="structura.commands"), key=lambda e: e.name):
        try:
            register = ep.load()
        except ImportError as exc:  # optional extra not installed
            unavailable.append(f"{ep.name} ({exc.name or exc})")
            continue
        register(sub)
    if unavailable:
        parser.epilog = "unavailable here (missing optional packages): " + ", ".join(unavailable)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    return Settings.load(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except SettingsError as exc:
        # One clear line, not a traceback: the operator fixes the variable and retries.
        print(f"structura: error: {exc}", file=sys.stderr)
        return 2
    level = (args.log_level or settings.log_level).upper()
    # Text for a person at a terminal; JSON lines with request ids when
    # STRUCTURA_LOG_FORMAT=json (the service units and the container image set it).
    from core.logging_setup import configure

    configure(level)
    result = args.func(args, settings)
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
