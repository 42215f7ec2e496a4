"""Benchmark of the legacy import (a script, not a test).

Builds one factory export and one tour export from the samples scaled N times (every
copy gets its own ids, references rewritten consistently, unique fields made unique),
imports both into a fresh SQLite file and prints rows, seconds and rows/s.

    python bench/bench_import.py [--factor 50] [--keep DIR] [--profile]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "legacy-exports"
FACTORY = "structura-export.json"
TOUR = "ontour-shows.json"
# Fields that must stay unique across copies besides the ids.
UNIQUE = {"email", "sku"}


def _ids(value: Any, out: set[str]) -> set[str]:
    if isinstance(value, dict):
        if isinstance(value.get("id"), str):
            out.add(value["id"])
        for v in value.values():
            _ids(v, out)
    elif isinstance(value, list):
        for v in value:
            _ids(v, out)
    return out


def _rewrite(value: Any, ids: set[str], suffix: str) -> Any:
    """Every string that is a known id (an id or a reference to one) gets the suffix."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in UNIQUE and isinstance(v, str):
                out[k] = v.replace("@", f"+{suffix}@") if k == "email" else f"{v}{suffix}"
            else:
                out[k] = _rewrite(v, ids, suffix)
        return out
    if isinstance(value, list):
        return [_rewrite(v, ids, suffix) for v in value]
    if isinstance(value, str) and value in ids:
        return f"{value}{suffix}"
    return value


def scale_export(doc: dict[str, Any], factor: int) -> dict[str, Any]:
    """The export with each row list repeated ``factor`` times, copy k's ids suffixed
    ``-xk`` (copy 0 keeps the original ids)."""
    key = next(iter(doc))
    body = doc[key]
    ids = _ids(body, set())
    if isinstance(body, list):
        rows: list[Any] = []
        for k in range(factor):
            rows += body if k == 0 else _rewrite(body, ids, f"-x{k}")
        return {key: rows}
    out = {k: v for k, v in body.items() if not isinstance(v, list)}
    for name, rows in body.items():
        if not isinstance(rows, list):
            continue
        scaled = copy.deepcopy(rows)
        for k in range(1, factor):
            scaled += _rewrite(rows, ids, f"-x{k}")
        out[name] = scaled
    return {key: out}


def write_scaled(directory: Path, factor: int) -> list[Path]:
    paths = []
    for name in (FACTORY, TOUR):
        doc = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
        path = directory / name.replace(".json", f"-x{factor}.json")
        path.write_text(json.dumps(scale_export(doc, factor)), encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=int, default=50)
    parser.add_argument("--keep", help="directory for the scaled files and the store")
    parser.add_argument("--profile", action="store_true", help="cProfile the import")
    args = parser.parse_args(argv)
    if not SAMPLES.is_dir():
        print(f"samples not found at {SAMPLES}", file=sys.stderr)
        return 2

    from core.db import integrity_check, sqlite_url
    from core.legacy import read_export, run_import
    from core.site import ensure_site, open_store

    work = Path(args.keep or tempfile.mkdtemp(prefix="structura-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    paths = write_scaled(work, args.factor)
    t1 = time.perf_counter()
    db = work / f"bench-{int(time.time())}.sqlite3"
    store = open_store(sqlite_url(db))
    site = ensure_site(store, org_name="bench", site_name="bench")
    exports = [read_export(p) for p in paths]
    t2 = time.perf_counter()
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        report = prof.runcall(run_import, store, exports, org_id=site.org_id)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
    else:
        report = run_import(store, exports, org_id=site.org_id)
    t3 = time.perf_counter()
    rows = report.total_imported
    print(f"factor {args.factor}: files built in {t1 - t0:.1f} s, read in {t2 - t1:.1f} s")
    print(f"imported {rows} rows ({len(report.refused)} refused) in {t3 - t2:.2f} s")
    print(f"{rows / (t3 - t2):.0f} rows/s; integrity_check: {integrity_check(store)}")
    print(f"store: {db}")
    store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
