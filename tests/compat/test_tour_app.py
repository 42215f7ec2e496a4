"""The tour app's own client code (apiClient with refresh-on-401 and ShowStore, ported to
JavaScript) against a real site: accounts, shows, batch, the sync trio with a replayed
flush; what it wrote is read back through the native API."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.compat.conftest import CompatSite, run_node
from tests.compat.test_factory_app import audit_and_outbox


# slow: the old app's client under Node against a real site serve; tests/api/test_compat.py covers
# the routes in-process
@pytest.mark.slow
def test_tour_app_client_works_unchanged(compat_site: CompatSite) -> None:
    report = run_node(
        "tour_flow.mjs",
        {
            "VITE_API_URL": f"{compat_site.url}/compat/tour/api",
            "EXPIRED_TOKEN": compat_site.expired_token(),
        },
    )
    token = compat_site.native_token()
    (show_id,) = report["shows"]
    row = compat_site.native(f"/api/shows/{show_id}", token).json()
    assert row["city"] == "Bilbao" and row["currency"] == "EUR"
    assert Decimal(row["fee"]) == 9999 and row["venue"] == "Bizkaia Arena"
    assert row["notes"] == "offline edit" and row["status"] == "confirmed"
    costs = compat_site.native(f"/api/show_costs?show_id={show_id}", token).json()["items"]
    assert [(c["type"], Decimal(c["amount"])) for c in costs] == [("light", Decimal("450.5"))]
    for gone in report["deleted"]:
        assert compat_site.native(f"/api/shows/{gone}", token).status_code == 404
    user = compat_site.native(f"/api/users/{report['user']}", token).json()
    assert user["role"] == "office" and user["name"] == "Tour Manager"
    # Each write was one write-path write: create, update, batch update, flush, resolve.
    audit, outbox = audit_and_outbox(compat_site, "shows", show_id)
    assert [a.kind for a in audit] == ["create", "update", "update", "update", "update"]
    assert len(outbox) == len(audit)
    # The replayed flush applied nothing twice: one audit entry carries the offline note.
    assert [a.changes.get("notes") for a in audit[1:]].count([None, "offline edit"]) == 1
