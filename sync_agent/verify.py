"""The site's side of divergence detection (guarantee 13, ``core.sync.verify``): compare
the checksums of this site's rows, tombstones included, with the central server's, entity by entity,
descending only into the buckets that differ, and repair by taking the central rows of
the differing sub-buckets (a row changed behind the sync's back on the site, or a central
change the site never applied). A live row only this site has, and no op of its waits,
is one the central server lost (restored from a backup older than the row): it is given
back (``core.writes.give_back``) and pushed; it is also reported.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core import writes
from core.clock import utcnow
from core.models import OutboxEntry
from core.registry import registry
from core.sync import verify, wire
from core.writes import Actor
from sync_agent import inbound

VERIFY_KEY = "last_verify"


def verify_site(agent: Any, *, repair: bool = True) -> dict[str, Any]:
    """Compare every entity with the central server; repair what differs. Returns and
    records (``last_verify``, shown by status) what was found."""
    store, client = agent.store, agent.client
    with store.read() as s:
        waiting = s.execute(
            select(OutboxEntry.entity, OutboxEntry.entity_id).where(
                OutboxEntry.status.in_(inbound.ACTIVE)
            )
        ).all()
    skip: dict[str, set[str]] = {}
    for entity, entity_id in waiting:
        skip.setdefault(entity, set()).add(entity_id)
    exchanges, differences, repaired = 0, [], 0
    site_only: list[tuple[str, str]] = []
    for spec in registry().values():
        with store.read() as s:
            mine = verify.live_digests(s, spec, agent.org_id or "", skip=skip.get(spec.name, ()),
                                       tombstones=True)  # fmt: skip
        theirs = agent._guard(lambda e=spec.name: client.verify(e))
        exchanges += 1
        top_diff = verify.differing(verify.summarise(mine), theirs.buckets or {})
        for top in (int(t) for t in top_diff):
            sub_theirs = agent._guard(lambda e=spec.name, t=top: client.verify(e, t))
            exchanges += 1
            sub_diff = verify.differing(verify.summarise(mine, top), sub_theirs.buckets or {})
            for sub in (int(x) for x in sub_diff):
                leaf = agent._guard(lambda e=spec.name, t=top, x=sub: client.verify(e, t, x))
                exchanges += 1
                ids = verify.differing(verify.ids_in(mine, top, sub), leaf.rows or {})
                ids = [i for i in ids if i not in skip.get(spec.name, ())]
                central = {str(r["id"]): r for r in leaf.data or ()}
                for row_id in ids:
                    side = "site_only" if row_id not in central else "differs"
                    differences.append({"entity": spec.name, "id": row_id, "kind": side})
                    if side == "site_only":
                        site_only.append((spec.name, row_id))
                if repair and ids:
                    repaired += _repair(agent, spec, [central[i] for i in ids if i in central])
    given = _give_back(agent, site_only) if repair else 0
    report = {
        "at": utcnow().isoformat(), "differences": len(differences),
        "repaired": repaired, "given_back": given, "exchanges": exchanges,
        "rows": differences[:100],
    }  # fmt: skip
    with store.write() as s:
        inbound.set_key(s, VERIFY_KEY, report)
    # The central admin API and console show each site's last verify.
    rows = [{k: str(v) for k, v in r.items()} for r in differences[:100]]
    agent._guard(lambda: client.verify_report(wire.VerifyReport(
        differences=len(differences), repaired=repaired, rows=rows)))  # fmt: skip
    return report


def _repair(agent: Any, spec: Any, rows: list[dict[str, Any]]) -> int:
    """Take the central rows as they are (no outbox entry: nothing to push back)."""
    n = 0
    with agent.store.write() as s:
        active = inbound.active_rows(s)
        for row in rows:
            if inbound.apply_row(s, spec, row, active=active, force=True, accept_older=True,
                                 own_device=agent.device_id):  # fmt: skip
                n += 1
    return n


def _give_back(agent: Any, rows: list[tuple[str, str]]) -> int:
    """Offer the central server the rows it lacks (an outbox create each, pushed next)."""
    if not rows:
        return 0
    actor = Actor.system(agent.org_id or "", agent.device_id)
    with agent.store.write() as s:
        return sum(
            writes.give_back(s, actor=actor, entity=entity, id=row_id) is not None
            for entity, row_id in rows
        )
