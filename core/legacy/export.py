"""The way back: the store written out as the old browser apps' localStorage exports.

``structura export --legacy DIR`` writes ``structura-export.json`` (the factory app's
``structura_erp_factory_data_v3``) and ``ontour-shows.json`` (the tour app's ``shows``,
costs nested), the same files ``structura import`` reads, with the rows as
``core.legacy.present`` shapes them. Switching an app back to localStorage then loses
no work done on the site since; importing the files again gives the same rows.

What cannot go back: PINs and passwords (the site keeps only their hashes; the old
factory app's users need their PIN set again there), deleted rows (the old apps had no
tombstones) and what the old apps had no field for (it stays on the site).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import Store
from core.legacy.files import FACTORY_TABLES
from core.legacy.present import legacy_value, to_legacy
from core.registry import spec_for

FACTORY_FILE = "structura-export.json"
TOUR_FILE = "ontour-shows.json"
FACTORY_KEY = "structura_erp_factory_data_v3"


@dataclass
class ExportReport:
    files: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def render(self) -> str:
        lines = [f"wrote {f}" for f in self.files]
        lines += [f"  {k}: {v}" for k, v in self.counts.items()]
        return "\n".join(lines)


def _live(session: Session, entity: str, org_id: str) -> list[Any]:
    model = spec_for(entity).model
    stmt = (
        select(model)
        .where(model.org_id == org_id, model.deleted_at.is_(None))
        .order_by(model.created_at, model.id)
    )
    return list(session.scalars(stmt))


def factory_export(session: Session, org_id: str, org_name: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": 3,
        "exportedAt": legacy_value(datetime.now(UTC)),
        "orgName": org_name,
    }
    for entity in FACTORY_TABLES:
        spec = spec_for(entity)
        body[entity] = [to_legacy(spec, row) for row in _live(session, entity, org_id)]
    return {FACTORY_KEY: body}


def tour_export(session: Session, org_id: str, org_name: str) -> dict[str, Any]:
    shows_spec, costs_spec = spec_for("shows"), spec_for("show_costs")
    costs: dict[str, list[dict[str, Any]]] = {}
    for cost in _live(session, "show_costs", org_id):
        item = to_legacy(costs_spec, cost)
        item.pop("showId", None)  # the nesting says it
        costs.setdefault(cost.show_id, []).append(item)
    shows = []
    for show in _live(session, "shows", org_id):
        item = to_legacy(shows_spec, show)
        item["costs"] = costs.get(show.id, [])
        shows.append(item)
    return {"shows": shows, "orgName": org_name}


def _write(path: Path, doc: dict[str, Any]) -> None:
    """Whole or not at all (a temporary file renamed over), readable by the owner only:
    the rows name people, e-mail addresses and fees."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, ensure_ascii=False, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_legacy(store: Store, directory: Path, *, org_id: str, org_name: str) -> ExportReport:
    """Both exports of one organisation from one read transaction (a consistent view)."""
    directory.mkdir(parents=True, exist_ok=True)
    report = ExportReport()
    with store.read() as s:
        factory = factory_export(s, org_id, org_name)
        tour = tour_export(s, org_id, org_name)
    for name, doc in ((FACTORY_FILE, factory), (TOUR_FILE, tour)):
        _write(directory / name, doc)
        report.files.append(str(directory / name))
    for entity in FACTORY_TABLES:
        report.counts[entity] = len(factory[FACTORY_KEY][entity])
    report.counts["shows"] = len(tour["shows"])
    report.counts["show_costs"] = sum(len(s["costs"]) for s in tour["shows"])
    return report
