"""Operations named by the client (Idempotency-Key): the first answer is kept and a
repeat gets it back without a second write."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any


def test_replayed_progress_is_answered_not_applied(
    client: Any, as_: Any, factory: dict[str, Any]
) -> None:
    h = as_("operator")
    job = factory["job"]
    assert client.post(f"/api/jobs/{job['id']}/start", headers=h).status_code == 200
    op = {**h, "Idempotency-Key": str(uuid.uuid4())}
    first = client.post(f"/api/jobs/{job['id']}/progress", json={"produced": "40"}, headers=op)
    assert first.status_code == 200, first.text
    again = client.post(f"/api/jobs/{job['id']}/progress", json={"produced": "40"}, headers=op)
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() and again.headers["etag"] == first.headers["etag"]
    stored = client.get(f"/api/jobs/{job['id']}", headers=h).json()
    assert Decimal(stored["produced_qty"]) == 40
    # A new id is a new report: reports add up.
    op2 = {**h, "Idempotency-Key": str(uuid.uuid4())}
    r = client.post(f"/api/jobs/{job['id']}/progress", json={"produced": "2"}, headers=op2)
    assert Decimal(r.json()["produced_qty"]) == 42


def test_a_refusal_is_kept_too_and_ids_are_per_request(
    client: Any, as_: Any, factory: dict[str, Any]
) -> None:
    h = as_("operator")
    job = factory["job"]
    op = {**h, "Idempotency-Key": "op-" + uuid.uuid4().hex}
    # Progress on a job not started: refused (409), and the refusal is the answer.
    r1 = client.post(f"/api/jobs/{job['id']}/progress", json={"produced": "1"}, headers=op)
    assert r1.status_code == 409
    assert client.post(f"/api/jobs/{job['id']}/start", headers=h).status_code == 200
    r2 = client.post(f"/api/jobs/{job['id']}/progress", json={"produced": "1"}, headers=op)
    assert r2.status_code == 409 and r2.headers["idempotent-replayed"] == "true"
    # The same id on another route is a client bug, said precisely.
    r3 = client.post(f"/api/jobs/{job['id']}/pause", headers=op)
    assert r3.status_code == 422 and r3.json()["code"] == "op_id_reused"
    bad = client.post(f"/api/jobs/{job['id']}/pause", headers={**h, "Idempotency-Key": "x y"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid"


def test_ids_belong_to_their_user(client: Any, as_: Any, factory: dict[str, Any]) -> None:
    job = factory["job"]
    key = str(uuid.uuid4())
    r = client.post(f"/api/jobs/{job['id']}/start", headers={**as_("operator"),
                    "Idempotency-Key": key})  # fmt: skip
    assert r.status_code == 200
    # The same id from someone else is their own operation, not a replay of this one.
    r = client.post(f"/api/jobs/{job['id']}/pause", headers={**as_("admin"),
                    "Idempotency-Key": key})  # fmt: skip
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers
