"""Benchmark of the legacy import (a script, not a test).

Builds one factory export and one tour export from the samples scaled N times (every
copy gets its own ids, references rewritten consistently, unique fields made unique),
imports both into a fresh SQLite file and prints rows, seconds and rows/s, the time by
stage, and the figure the target is about (rows/s apart from PIN hashing, >= 20,000)
beside the floor (SQLite executemany of as many rows into one empty table).

    python bench/bench_import.py [--factor 50] [--keep DIR] [--profile]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
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
    from core.legacy.report import Progress
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
    stages: dict[str, float] = {}
    since = [time.perf_counter()]
    stage = ["mapping"]

    def progress(p: Progress) -> None:
        # Time per stage: from the first progress call of a stage to the next stage's.
        now = time.perf_counter()
        if p.stage != stage[0]:
            stages[stage[0]] = stages.get(stage[0], 0.0) + now - since[0]
            since[0], stage[0] = now, p.stage

    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        report = prof.runcall(run_import, store, exports, org_id=site.org_id, progress=progress)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
    else:
        report = run_import(store, exports, org_id=site.org_id, progress=progress)
    t3 = time.perf_counter()
    stages[stage[0]] = stages.get(stage[0], 0.0) + t3 - since[0]
    rows = report.total_imported
    hashing = stages.get("hashing", 0.0)
    rest = t3 - t2 - hashing
    print(f"factor {args.factor}: files built in {t1 - t0:.1f} s, read in {t2 - t1:.1f} s "
          f"({load()})")  # fmt: skip
    print(
        f"imported {rows} rows ({len(report.refused)} refused) in {t3 - t2:.2f} s; "
        f"{rows / (t3 - t2):.0f} rows/s; integrity_check: {integrity_check(store)}"
    )
    print("  by stage (s): " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))
    floor = executemany_floor(work, rows)
    print(
        f"apart from PIN hashing ({hashing:.2f} s): {rest:.2f} s, {rows / rest:,.0f} rows/s "
        f"(target >= 20,000 rows/s: {'met' if rows / rest >= 20_000 else 'NOT met'}); "
        f"floor, SQLite executemany of as many rows into one empty table: {floor:.2f} s, "
        f"{rows / floor:,.0f} rows/s; import = {rest / floor:.0f}x the floor ({load()})"
    )
    print(f"store: {db}")
    store.dispose()
    return 0


def executemany_floor(work: Path, rows: int) -> float:
    """The least such a write could cost here: ``rows`` tuples shaped like an event row
    (14 columns, a JSON payload as text) into an empty table, one commit."""
    import sqlite3

    db = sqlite3.connect(work / "floor.sqlite3")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE ev (org_id, id, type, user_id, payload, at, version, sync_version, "
               "field_versions, created_at, updated_at, updated_by, deleted_at, extra, "
               "PRIMARY KEY (org_id, id))")  # fmt: skip
    stamp = "2026-06-04 12:11:00.000000"
    data = [("org", f"e-{i}", "MACHINE_STATUS", "u-1", '{"note":"auto"}', stamp, 1, 0, "{}",
             stamp, stamp, None, None, None) for i in range(rows)]  # fmt: skip
    t0 = time.perf_counter()
    with db:
        db.executemany(f"INSERT INTO ev VALUES ({', '.join('?' * 14)})", data)
    took = time.perf_counter() - t0
    db.close()
    return took


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


if __name__ == "__main__":
    sys.exit(main())
