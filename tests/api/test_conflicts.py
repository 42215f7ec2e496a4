"""The site's conflict records over the local API: list, read, resolve (server, mine,
values), and the errors (401/403, 404, 409 resolved or deleted row, 422)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core import writes
from core.clock import utcnow, uuid7
from core.db import Store
from core.models import ConflictRecord, OutboxEntry
from core.site import SiteInfo
from core.sync import reasons
from tests.api.client import ASGIClient

URL = "/api/sync/conflicts"


def _client_row(store: Store, site: SiteInfo, name: str = "Ana") -> str:
    with store.write() as s:
        actor = writes.Actor.system(site.org_id)
        return writes.create(s, actor=actor, entity="clients", data={"name": name}).id


def _conflict(store: Store, site: SiteInfo, entity_id: str, **kw: Any) -> str:
    """A record as the agent stores it when the central server answers 'conflict'
    (sync_agent.inbound._conflict_copy): this site's value lost to the central one."""
    cid = uuid7()
    values = dict(
        id=cid, org_id=site.org_id, entity="clients", entity_id=entity_id, kind="field",
        op_id=uuid7(), device_id="dev-a", rule="last_arrival", fields=["name"],
        losing_values={"name": "Mine"}, winning_values={"name": "Theirs"},
        reason=reasons.encode(reasons.KEPT_LATER, base=1), created_at=utcnow(),
    )  # fmt: skip
    values.update(kw)
    with store.write() as s:
        s.add(ConflictRecord(**values))
    return cid


def _outbox(store: Store, entity_id: str) -> list[tuple[str, str, dict]]:
    with store.read() as s:
        ops = s.scalars(
            select(OutboxEntry).where(OutboxEntry.entity_id == entity_id).order_by(OutboxEntry.seq)
        )
        return [(o.kind, o.status, dict(o.fields or {})) for o in ops]


@pytest.fixture
def conflicted(store: Store, site: SiteInfo) -> dict[str, str]:
    row = _client_row(store, site)
    return {"row": row, "conflict": _conflict(store, site, row)}


def test_list_and_get_show_losing_and_winning_values(
    admin: ASGIClient, conflicted: dict[str, str]
) -> None:
    page = admin.get(URL).json()
    assert page["total"] == 1
    [c] = page["items"]
    assert c["id"] == conflicted["conflict"] and c["entity_id"] == conflicted["row"]
    assert (c["entity"], c["kind"], c["rule"], c["fields"]) == (
        "clients", "field", "last_arrival", ["name"])  # fmt: skip
    assert c["losing_values"] == {"name": "Mine"} and c["winning_values"] == {"name": "Theirs"}
    assert c["reason"] and c["created_at"] and c["resolved_at"] is None
    # Why, as a code and its parameters for the client to word in its reader's language.
    assert (c["reason_code"], c["reason_params"]) == ("kept_later", {"base": 1})
    one = admin.get(f"{URL}/{c['id']}")
    assert one.status_code == 200 and one.json() == c
    assert admin.get(URL, params={"status": "resolved"}).json() == {"items": [], "total": 0}


def test_resolve_mine_is_a_normal_write_that_syncs(
    store: Store, admin: ASGIClient, conflicted: dict[str, str]
) -> None:
    row_id, cid = conflicted["row"], conflicted["conflict"]
    before = admin.get(f"/api/clients/{row_id}").json()
    resp = admin.post(f"{URL}/{cid}/resolve", json={"choice": "mine"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["resolved_at"] and body["resolution"]["choice"] == "mine"
    assert body["resolved_by"] is not None
    after = admin.get(f"/api/clients/{row_id}").json()
    assert after["name"] == "Mine" and after["version"] == before["version"] + 1
    # Through the one write path: an outbox entry the agent will push.
    assert _outbox(store, row_id)[-1] == ("update", "pending", {"name": "Mine"})
    assert admin.get(URL).json()["total"] == 0
    assert [c["id"] for c in admin.get(URL, params={"status": "resolved"}).json()["items"]] == [cid]
    # A second resolution is refused: the first one won.
    again = admin.post(f"{URL}/{cid}/resolve", json={"choice": "server"})
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["code"] == "conflict"


def test_resolve_server_only_closes(
    store: Store, admin: ASGIClient, conflicted: dict[str, str]
) -> None:
    row_id = conflicted["row"]
    ops = _outbox(store, row_id)
    resp = admin.post(f"{URL}/{conflicted['conflict']}/resolve", json={"choice": "server"})
    assert resp.status_code == 200
    assert resp.json()["resolution"] == {"choice": "server", "row": None}
    assert _outbox(store, row_id) == ops  # nothing written
    assert admin.get(f"/api/clients/{row_id}").json()["name"] == "Ana"


def test_resolve_values_writes_the_given_values(
    store: Store, admin: ASGIClient, conflicted: dict[str, str]
) -> None:
    resp = admin.post(
        f"{URL}/{conflicted['conflict']}/resolve",
        json={"choice": "values", "values": {"name": "Both", "phone": "555"}},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["resolution"]["row"]["name"] == "Both"
    row = admin.get(f"/api/clients/{conflicted['row']}").json()
    assert (row["name"], row["phone"]) == ("Both", "555")
    assert _outbox(store, conflicted["row"])[-1][2] == {"name": "Both", "phone": "555"}


@pytest.mark.parametrize(
    "body",
    [
        {"choice": "theirs"},
        {"choice": "values"},
        {"choice": "values", "values": {}},
        {"choice": "values", "values": {"nope": 1}},
        {"choice": "values", "values": {"deleted_at": None}},
        {"choice": "values", "values": {"name": ""}},  # the schema refuses it
        {"choice": "mine", "values": {"name": "x"}},
        {"choice": "server", "extra": 1},
    ],
)
def test_invalid_choice_or_values_is_422_and_changes_nothing(
    store: Store, admin: ASGIClient, conflicted: dict[str, str], body: dict[str, Any]
) -> None:
    ops = _outbox(store, conflicted["row"])
    resp = admin.post(f"{URL}/{conflicted['conflict']}/resolve", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert admin.get(URL).json()["total"] == 1
    assert _outbox(store, conflicted["row"]) == ops


def test_a_deleted_row_is_not_brought_back(
    store: Store, site: SiteInfo, admin: ASGIClient, conflicted: dict[str, str]
) -> None:
    with store.write() as s:
        writes.delete(s, actor=writes.Actor.system(site.org_id), entity="clients",
                      id=conflicted["row"])  # fmt: skip
    resp = admin.post(f"{URL}/{conflicted['conflict']}/resolve", json={"choice": "mine"})
    assert resp.status_code == 409
    assert resp.json()["current"]["deleted_at"] is not None
    assert admin.get(URL).json()["total"] == 1  # still open for a person to decide


def test_unknown_conflict_is_404(admin: ASGIClient, conflicted: dict[str, str]) -> None:
    for resp in (
        admin.get(f"{URL}/nope"),
        admin.post(f"{URL}/nope/resolve", json={"choice": "server"}),
    ):
        assert resp.status_code == 404
        assert resp.headers["content-type"] == "application/problem+json"


def test_other_org_records_are_invisible(
    store: Store, site: SiteInfo, admin: ASGIClient, conflicted: dict[str, str]
) -> None:
    foreign = _conflict(store, site, conflicted["row"], org_id="another-org")
    assert admin.get(f"{URL}/{foreign}").status_code == 404
    assert admin.get(URL, params={"status": "all"}).json()["total"] == 1


def test_only_office_and_admin(client: ASGIClient, as_: Any, conflicted: dict[str, str]) -> None:
    assert client.get(URL).status_code == 401
    assert client.get(URL, headers=as_("office")).status_code == 200
    for role in ("operator", "crew"):
        assert client.get(URL, headers=as_(role)).status_code == 403
        resp = client.post(
            f"{URL}/{conflicted['conflict']}/resolve", json={"choice": "server"},
            headers=as_(role),
        )  # fmt: skip
        assert resp.status_code == 403
    assert client.get(URL, params={"status": "bogus"}, headers=as_("office")).status_code == 422


def test_a_record_from_before_coded_reasons_reads_as_its_text(
    store: Store, site: SiteInfo, admin: ASGIClient
) -> None:
    row = _client_row(store, site, "Old")
    cid = _conflict(store, site, row, reason="changed on both sides since version 1")
    c = admin.get(f"{URL}/{cid}").json()
    assert (c["reason_code"], c["reason_params"]) == (
        "text", {"text": "changed on both sides since version 1"})  # fmt: skip
