"""``structura import FILE...``: the legacy import from the command line.

Exit codes: 0 the import ran (refusals included, they are in the report), 2 a file is
unreadable, too large, corrupted or of an unknown kind (nothing written), 130
interrupted (nothing written: the import is one transaction).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

from core.legacy.files import Export, UnreadableExport, read_export
from core.legacy.report import Progress
from core.private import private_dir
from core.settings import Settings

EXIT_UNREADABLE = 2
EXIT_INTERRUPTED = 130


class ProgressPrinter:
    """One progress line on stderr: rewritten in place on a terminal, else at most one
    line a second (logs and pipes stay short)."""

    def __init__(self, stream: TextIO, *, interval: float = 1.0) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.interval = interval
        self.last = 0.0

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < self.interval:
            return
        self.last = now
        pct = 100 * p.done / p.total if p.total else 100.0
        line = f"importing: {p.stage:<10} {p.done}/{p.total} rows ({pct:3.0f}%)"
        self.stream.write(f"\r{line}" if self.tty else f"{line}\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")
            self.stream.flush()


def add_parser(sub: Any, func: Any) -> None:
    p = sub.add_parser(
        "import",
        help="import localStorage exports of the old apps into the site store",
        description=(
            "Import exports of the old browser apps (structura_erp_factory_data_v3, "
            "shows). Rows keep their legacy ids; a second run adds nothing. The whole "
            "import is one transaction: if it is interrupted, nothing is written."
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="export file(s) (.json)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--org-name", help="organisation name if the store has no site yet")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=func)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from core.legacy.importer import run_import
    from core.site import ensure_site, open_store, site_info

    # Every file is read and checked before the store is touched.
    exports: list[Export] = []
    for name in args.files:
        try:
            exports.append(read_export(name))
        except UnreadableExport as exc:
            print(f"structura import: error: {exc}; nothing was imported", file=sys.stderr)
            return EXIT_UNREADABLE
    url = settings.store_url()
    if not settings.database_url:
        private_dir(settings.data_dir)
    store = open_store(url)
    try:
        modules = tuple(dict.fromkeys(e.module for e in exports))
        site = site_info(store)
        warnings = []
        if site is None:
            site = ensure_site(
                store,
                org_name=args.org_name or exports[0].org_name,
                site_name=settings.site_name,
                modules=modules,
            )
        else:
            missing = [m for m in modules if m not in site.modules]
            if missing:
                warnings.append(
                    f"the organisation '{site.org_name}' does not have the module(s) "
                    f"{', '.join(missing)} enabled; their rows are refused (module_disabled)"
                )
        printer = None if args.quiet else ProgressPrinter(sys.stderr)
        try:
            report = run_import(store, exports, org_id=site.org_id, progress=printer)
        except KeyboardInterrupt:
            print("\nstructura import: interrupted; nothing was imported", file=sys.stderr)
            return EXIT_INTERRUPTED
        finally:
            if printer:
                printer.done()
        report.warnings[:0] = warnings
    finally:
        store.dispose()
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        where = settings.store_path if not settings.database_url else "the database"
        print(f"imported into {where} (organisation '{site.org_name}')")
        print(report.render())
    return 0
