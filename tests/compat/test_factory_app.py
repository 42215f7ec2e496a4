"""The factory app's own client code (ported to JavaScript) against a real site: every
repository method of every collection, PIN login/logout/me; what it wrote is read back
through the native API."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.db import sqlite_url
from core.models import AuditEntry, OutboxEntry
from core.site import open_store
from tests.compat.conftest import ADMIN_PIN, OFFICE_PIN, CompatSite, run_node

NATIVE = {
    "clients": ("phone", "+34 600 000 000"),
    "projects": ("status", "ON_HOLD"),
    "machines": ("status", "RUNNING"),
    "jobs": ("status", "IN_PROGRESS"),
    "inventory": ("reorder_point", "30.000"),
    "users": ("role", "office"),
    "events": ("type", "MACHINE_STATUS"),
}


# slow: the old app's client under Node against a real site serve; tests/api/test_compat.py covers
# the routes in-process
@pytest.mark.slow
def test_factory_app_client_works_unchanged(compat_site: CompatSite) -> None:
    report = run_node(
        "factory_flow.mjs",
        {
            "VITE_API_URL": f"{compat_site.url}/compat/factory",
            "FACTORY_PIN": ADMIN_PIN,
            "FACTORY_OTHER_PIN": OFFICE_PIN,
        },
    )
    kept = report["kept"]
    assert set(kept) == {"clients", "projects", "machines", "jobs", "inventory", "alerts",
                         "messages", "events", "users"}  # fmt: skip
    token = compat_site.native_token()
    for entity, row_id in kept.items():
        r = compat_site.native(f"/api/{entity}/{row_id}", token)
        assert r.status_code == 200, (entity, r.text)
        row = r.json()
        if entity in NATIVE:
            field, value = NATIVE[entity]
            assert row[field] == value, (entity, row)
    alert = compat_site.native(f"/api/alerts/{kept['alerts']}", token).json()
    assert alert["dismissed_at"] is not None  # dismissed: true, as a time
    message = compat_site.native(f"/api/messages/{kept['messages']}", token).json()
    assert message["read_at"] is not None
    # The update without a version went through the write path: audited with what it
    # replaced, and in the outbox for sync.
    audit, outbox = audit_and_outbox(compat_site, "machines", kept["machines"])
    assert [a.kind for a in audit] == ["create", "update", "update"]
    assert audit[1].changes["status"] == ["IDLE", "RUNNING"]
    assert audit[1].actor_id == compat_site.ids["ana"]
    # Then the app started a job on it: the write path's rules made it the machine's
    # current job (as the system, whoever started the job).
    assert audit[2].changes["current_job_id"] == [None, kept["jobs"]]
    assert audit[2].actor_id is None
    assert [o.kind for o in outbox] == ["create", "update", "update"]


def audit_and_outbox(site: CompatSite, entity: str, row_id: str) -> tuple[list, list]:
    store = open_store(sqlite_url(site.data_dir / "site.sqlite3"))
    try:
        with store.read() as s:
            audit = list(
                s.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.entity == entity, AuditEntry.entity_id == row_id)
                    .order_by(AuditEntry.seq)
                )
            )
            outbox = list(
                s.scalars(
                    select(OutboxEntry)
                    .where(OutboxEntry.entity == entity, OutboxEntry.entity_id == row_id)
                    .order_by(OutboxEntry.seq)
                )
            )
            s.expunge_all()
        return audit, outbox
    finally:
        store.dispose()
