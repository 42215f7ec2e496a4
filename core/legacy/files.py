"""Reading legacy export files: size limit, JSON, which app wrote it.

Everything here happens before the store is opened, so a file that is too large,
truncated or of an unknown kind stops the import with nothing written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_BYTES = 200 * 1024 * 1024

FACTORY_KEY = re.compile(r"^structura_erp_factory_data(_v\d+)?$")
TOUR_KEY = "shows"

# Collections of the factory export, in the app's own names.
FACTORY_TABLES = (
    "users",
    "clients",
    "projects",
    "machines",
    "jobs",
    "inventory",
    "alerts",
    "messages",
    "events",
)
# Other spellings seen in exports of older app versions.
TABLE_ALIASES = {"workOrders": "jobs", "orders": "jobs", "stock": "inventory"}


class UnreadableExport(Exception):
    """The file cannot be imported at all (exit code 2, nothing written)."""


@dataclass
class Export:
    path: Path
    kind: str  # factory | tour
    org_name: str
    # entity -> raw rows (dicts, or anything else the file held, refused later)
    tables: dict[str, list[Any]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> str:
        return self.kind

    @property
    def rows(self) -> int:
        return sum(len(v) for v in self.tables.values())


def _loads(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableExport(
            f"{what} is not valid JSON (truncated or corrupted?): {exc.msg} at line "
            f"{exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise UnreadableExport(f"{what} nests too deeply to be an export") from None


def _unwrap(value: Any, what: str) -> Any:
    # localStorage holds strings: a tool that dumped it as-is left JSON inside JSON.
    return _loads(value, what) if isinstance(value, str) else value


def _rows(value: Any, what: str) -> list[Any]:
    value = _unwrap(value, what)
    if value is None:
        return []
    if not isinstance(value, list):
        raise UnreadableExport(f"{what} should be a list of rows, found {type(value).__name__}")
    return value


def read_export(path: str | Path, *, max_bytes: int = MAX_BYTES) -> Export:
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnreadableExport(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not path.is_file():
        raise UnreadableExport(f"{path}: not a file")
    if size > max_bytes:
        raise UnreadableExport(
            f"{path}: {size / 1_048_576:.0f} MB is more than the {max_bytes // 1_048_576} MB "
            "an export can be; refusing to load it"
        )
    try:
        # Read at most one byte past the limit: the size on disk may have changed.
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise UnreadableExport(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise UnreadableExport(f"{path}: larger than {max_bytes // 1_048_576} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableExport(f"{path}: not UTF-8 text (corrupted?)") from None
    return parse_export(_loads(text, str(path)), path)


def parse_export(doc: Any, path: Path) -> Export:
    if not isinstance(doc, dict):
        raise UnreadableExport(f"{path}: expected a JSON object at the top level")
    stem = path.stem
    factory_keys = [k for k in doc if FACTORY_KEY.match(k)]
    if factory_keys:
        # Newest version first when an export holds several.
        key = sorted(factory_keys)[-1]
        body = _unwrap(doc[key], f"{path}: {key}")
        if not isinstance(body, dict):
            raise UnreadableExport(f"{path}: {key} should be an object")
        export = Export(path=path, kind="factory", org_name=_org_name(body, stem))
        for name, value in body.items():
            entity = TABLE_ALIASES.get(name, name)
            if entity in FACTORY_TABLES:
                export.tables.setdefault(entity, []).extend(_rows(value, f"{path}: {name}"))
            else:
                export.meta[name] = value
        return export
    if TOUR_KEY in doc:
        shows = _rows(doc[TOUR_KEY], f"{path}: shows")
        export = Export(path=path, kind="tour", org_name=_org_name(doc, stem))
        export.tables["shows"], export.tables["show_costs"] = _split_costs(shows, path)
        export.meta = {k: v for k, v in doc.items() if k != TOUR_KEY}
        return export
    keys = ", ".join(sorted(doc)[:5]) or "none"
    raise UnreadableExport(
        f"{path}: not a known export (expected the key 'structura_erp_factory_data_v3' or "
        f"'shows'; found: {keys})"
    )


def _split_costs(shows: list[Any], path: Path) -> tuple[list[Any], list[Any]]:
    """Costs are nested per show in the tour app; ours are rows pointing at the show."""
    out_shows: list[Any] = []
    costs: list[Any] = []
    for show in shows:
        if not isinstance(show, dict):
            out_shows.append(show)
            continue
        nested = _rows(show.get("costs"), f"{path}: costs of show {show.get('id')}")
        out_shows.append({k: v for k, v in show.items() if k != "costs"})
        for cost in nested:
            if isinstance(cost, dict):
                # The nesting is the reference: it wins over a stale showId in the cost.
                cost = {k: v for k, v in cost.items() if k not in ("showId", "show_id")}
                cost["showId"] = show.get("id")
            costs.append(cost)
    return out_shows, costs


def _org_name(body: dict[str, Any], stem: str) -> str:
    for key in ("orgName", "organisation", "organization", "company", "companyName"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return stem[:200] or "Imported"
