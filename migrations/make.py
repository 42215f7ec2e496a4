"""Write a new revision by autogenerate: ``python -m migrations.make "add machine notes"``.

The models are compared with a scratch database brought to the current head (SQLite by
default; ``--url`` to compare with a PostgreSQL database instead). ``--initial`` replaces
the whole history with one fresh initial revision: allowed only while nothing is released.

Autogenerate is a draft. Review every revision by hand before committing it (see README).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from migrations import HERE, alembic_config

VERSIONS = HERE / "versions"


def _next_id() -> str:
    numbers = [int(p.name[:4]) for p in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py")]
    return f"{max(numbers, default=0) + 1:04d}"


def _tidy(paths: list[str]) -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        print("ruff not found: format the new revision yourself", file=sys.stderr)
        return
    # Format first: most of what check would flag is line length that format fixes.
    subprocess.run([ruff, "format", "--quiet", *paths], check=False)
    subprocess.run([ruff, "check", "--fix", "--quiet", *paths], check=False)
    subprocess.run([ruff, "format", "--quiet", *paths], check=False)


def make(message: str, *, url: str | None = None, initial: bool = False) -> Path:
    from core.db import Store, sqlite_url
    from core.migrate import upgrade

    if initial:
        for old in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"):
            old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(url or sqlite_url(Path(tmp) / "scratch.db"))
        try:
            if not initial:
                upgrade(store)
            with store.engine.connect() as conn:
                script = command.revision(
                    alembic_config(connection=conn),
                    message=message,
                    autogenerate=True,
                    rev_id="0001" if initial else _next_id(),
                )
        finally:
            store.dispose()
    assert script is not None and not isinstance(script, list)
    path = Path(script.path)
    _tidy([str(path)])
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m migrations.make", description=__doc__)
    parser.add_argument("message")
    parser.add_argument("--url", help="compare with this database (already at head)")
    parser.add_argument("--initial", action="store_true", help="replace the whole history")
    args = parser.parse_args(argv)
    path = make(args.message, url=args.url, initial=args.initial)
    print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    print("now review it by hand: see migrations/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
