"""Sync health of organisations, sites and devices, for the console and ``/metrics``.

A device's lag is counted two ways: in feed positions (the organisation's newest
position minus the cursor the device last pulled after) and in time (how long ago the
oldest entry it has not pulled yet was committed). A site is *silent* when none of its
active devices has been seen for longer than the threshold.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.enroll import CENTRAL_ORG
from core.clock import utcnow
from core.models import (
    AppliedOp,
    ConflictRecord,
    Device,
    EnrollmentCode,
    FeedCounter,
    FeedEntry,
    Organisation,
    Site,
)


@dataclass
class DeviceHealth:
    id: str
    name: str
    site_id: str
    schema_version: int | None
    created_at: datetime
    last_seen_at: datetime | None
    last_cursor: int | None
    revoked_at: datetime | None
    lag: int | None
    lag_seconds: float | None
    silent: bool


@dataclass
class SiteHealth:
    id: str
    name: str
    devices: list[DeviceHealth] = field(default_factory=list)
    open_conflicts: int = 0
    refused_ops: int = 0
    pending_codes: int = 0

    @property
    def active(self) -> list[DeviceHealth]:
        return [d for d in self.devices if d.revoked_at is None]

    @property
    def state(self) -> str:
        """online (a device seen within the threshold), silent, revoked or new."""
        if not self.devices:
            return "new"
        if not self.active:
            return "revoked"
        return "silent" if all(d.silent for d in self.active) else "online"

    @property
    def last_seen_at(self) -> datetime | None:
        seen = [d.last_seen_at for d in self.active if d.last_seen_at is not None]
        return max(seen) if seen else None

    @property
    def lag(self) -> int | None:
        lags = [d.lag for d in self.active if d.lag is not None]
        return min(lags) if lags else None


@dataclass
class OrgHealth:
    id: str
    name: str
    home_currency: str
    modules: list[str]
    feed_head: int
    sites: list[SiteHealth]

    @property
    def silent_sites(self) -> int:
        return sum(1 for s in self.sites if s.state == "silent")

    @property
    def open_conflicts(self) -> int:
        return sum(s.open_conflicts for s in self.sites)

    @property
    def refused_ops(self) -> int:
        return sum(s.refused_ops for s in self.sites)


def organisations(session: Session, only: str | None = None) -> list[Organisation]:
    stmt = select(Organisation).where(Organisation.id != CENTRAL_ORG).order_by(Organisation.name)
    if only is not None:
        stmt = stmt.where(Organisation.id == only)
    return list(session.scalars(stmt))


def _lag_seconds(
    session: Session, org_id: str, cursor: int | None, head: int, now: datetime
) -> float | None:
    if cursor is None:
        return None
    if cursor >= head:
        return 0.0
    oldest = session.scalar(
        select(FeedEntry.committed_at).where(
            FeedEntry.org_id == org_id, FeedEntry.seq == cursor + 1
        )
    )
    return None if oldest is None else max(0.0, (now - oldest).total_seconds())


def org_health(
    session: Session, org: Organisation, *, silent_after: float, now: datetime | None = None
) -> OrgHealth:
    now = now or utcnow()
    head = int(
        session.scalar(select(FeedCounter.last_seq).where(FeedCounter.org_id == org.id)) or 0
    )
    sites = {
        s.id: SiteHealth(id=s.id, name=s.name)
        for s in session.scalars(select(Site).where(Site.org_id == org.id).order_by(Site.name))
    }
    site_of: dict[str, str] = {}
    for d in session.scalars(
        select(Device).where(Device.org_id == org.id).order_by(Device.created_at)
    ):
        site_of[d.id] = d.site_id
        lag = None if d.last_cursor is None else max(0, head - d.last_cursor)
        seen = d.last_seen_at
        silent = seen is None or (now - seen).total_seconds() > silent_after
        sites[d.site_id].devices.append(
            DeviceHealth(
                id=d.id,
                name=d.name,
                site_id=d.site_id,
                schema_version=d.schema_version,
                created_at=d.created_at,
                last_seen_at=seen,
                last_cursor=d.last_cursor,
                revoked_at=d.revoked_at,
                lag=lag,
                lag_seconds=_lag_seconds(session, org.id, d.last_cursor, head, now),
                silent=silent,
            )
        )
    for device_id, n in session.execute(
        select(ConflictRecord.device_id, func.count())
        .where(ConflictRecord.org_id == org.id, ConflictRecord.resolved_at.is_(None))
        .group_by(ConflictRecord.device_id)
    ):
        site = sites.get(site_of.get(device_id or "", ""))
        if site is not None:
            site.open_conflicts += int(n)
    for device_id, n in _refused_counts(session, org.id):
        site = sites.get(site_of.get(device_id or "", ""))
        if site is not None:
            site.refused_ops += int(n)
    for site_id, n in session.execute(
        select(EnrollmentCode.site_id, func.count())
        .where(
            EnrollmentCode.org_id == org.id,
            EnrollmentCode.used_at.is_(None),
            EnrollmentCode.expires_at > now,
        )
        .group_by(EnrollmentCode.site_id)
    ):
        if site_id in sites:
            sites[site_id].pending_codes = int(n)
    return OrgHealth(
        id=org.id,
        name=org.name,
        home_currency=org.home_currency,
        modules=list(org.modules or []),
        feed_head=head,
        sites=list(sites.values()),
    )


def _refused(org_id: str) -> Any:
    return (AppliedOp.org_id == org_id) & (AppliedOp.result["status"].as_string() == "rejected")


def _refused_counts(session: Session, org_id: str) -> list[tuple[str | None, int]]:
    rows = session.execute(
        select(AppliedOp.device_id, func.count())
        .where(_refused(org_id))
        .group_by(AppliedOp.device_id)
    )
    return [(d, int(n)) for d, n in rows]


def refused_ops(session: Session, org_id: str, *, limit: int = 200) -> list[dict[str, Any]]:
    """The newest ops the central server refused, with their reason code and message."""
    names = conflict_sites(session, org_id)
    out = []
    for op in session.scalars(
        select(AppliedOp).where(_refused(org_id)).order_by(AppliedOp.applied_at.desc()).limit(limit)
    ):
        reason = (op.result or {}).get("reason") or {}
        out.append(
            {
                "op_id": op.op_id,
                "site": names.get(op.device_id or "", op.device_id),
                "applied_at": op.applied_at,
                "code": reason.get("code"),
                "message": reason.get("message"),
            }
        )
    return out


def conflict_sites(session: Session, org_id: str) -> dict[str, str]:
    """device id -> site name, to say which site made each conflict."""
    rows = session.execute(
        select(Device.id, Site.name)
        .join(Site, Site.id == Device.site_id)
        .where(Device.org_id == org_id)
    )
    return {d: n for d, n in rows}


def all_health(
    session: Session, *, silent_after: float, only: str | None = None
) -> list[OrgHealth]:
    now = utcnow()
    return [
        org_health(session, o, silent_after=silent_after, now=now)
        for o in organisations(session, only)
    ]


def metric_rows(session: Session, *, silent_after: float) -> dict[str, list[tuple[dict, float]]]:
    """The console's figures as gauge samples (``central.metrics`` exposes them)."""
    out: dict[str, list[tuple[dict, float]]] = defaultdict(list)
    for org in all_health(session, silent_after=silent_after):
        out["silent"].append(({"org_id": org.id}, float(org.silent_sites)))
        for site in org.sites:
            labels = {"org_id": org.id, "site_id": site.id}
            out["conflicts"].append((labels, float(site.open_conflicts)))
            out["refused"].append((labels, float(site.refused_ops)))
    return out
