"""Opening a store and knowing which organisation and site it belongs to."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.clock import utcnow, uuid7
from core.db import Store
from core.models import Organisation, Site, SyncState

SITE_KEY = "site"


@dataclass(frozen=True)
class SiteInfo:
    org_id: str
    site_id: str
    org_name: str
    site_name: str
    modules: tuple[str, ...] = ("factory", "tour")
    home_currency: str = "EUR"
    extra: dict[str, Any] = field(default_factory=dict)


def open_store(url: str, **kwargs: Any) -> Store:
    """Open a store and bring its schema to the newest migration."""
    from sqlalchemy.engine import make_url

    from core.migrate import upgrade
    from core.private import touch_private

    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        # Private before SQLite opens it: the -wal and -shm it makes take its mode.
        touch_private(Path(u.database))
    store = Store(url, **kwargs)
    try:
        upgrade(store)
    except BaseException:  # newer schema, locked file: nothing stays open behind
        store.dispose()
        raise
    return store


def get_state(store: Store, key: str, default: Any = None) -> Any:
    with store.read() as s:
        row = s.get(SyncState, key)
        return default if row is None else row.value


def set_state(store: Store, key: str, value: Any) -> None:
    with store.write() as s:
        row = s.get(SyncState, key)
        if row is None:
            s.add(SyncState(key=key, value=value))
        else:
            row.value = value


def site_info(store: Store) -> SiteInfo | None:
    data = get_state(store, SITE_KEY)
    if not data:
        return None
    with store.read() as s:
        org = s.get(Organisation, data["org_id"])
        site = s.get(Site, data["site_id"])
        if org is None or site is None:
            return None
        return SiteInfo(
            org_id=org.id,
            site_id=site.id,
            org_name=org.name,
            site_name=site.name,
            modules=tuple(org.modules or ()),
            home_currency=org.home_currency,
        )


def ensure_site(
    store: Store,
    *,
    org_name: str,
    site_name: str,
    modules: tuple[str, ...] = ("factory", "tour"),
    home_currency: str = "EUR",
    org_id: str | None = None,
    site_id: str | None = None,
) -> SiteInfo:
    """Make this store a site of an organisation (once); later calls return it as is."""
    existing = site_info(store)
    if existing is not None:
        return existing
    org_id = org_id or uuid7()
    site_id = site_id or uuid7()
    with store.write() as s:
        if s.get(Organisation, org_id) is None:
            s.add(
                Organisation(
                    id=org_id,
                    name=org_name,
                    modules=list(modules),
                    home_currency=home_currency,
                    created_at=utcnow(),
                )
            )
            s.flush()
        if s.get(Site, site_id) is None:
            s.add(Site(id=site_id, org_id=org_id, name=site_name, created_at=utcnow()))
        state = s.get(SyncState, SITE_KEY)
        value = {"org_id": org_id, "site_id": site_id}
        if state is None:
            s.add(SyncState(key=SITE_KEY, value=value))
        else:
            state.value = value
    info = site_info(store)
    assert info is not None
    return info


def set_site_code(store: Store, code: str | None) -> None:
    """The code the central server gave this site (prefix of its document numbers)."""
    data = get_state(store, SITE_KEY)
    if not code or not data:
        return
    with store.write() as s:
        site = s.get(Site, data["site_id"])
        if site is not None and site.code != code:
            site.code = code
