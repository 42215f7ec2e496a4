"""Fixtures for the sync tests: a central store on a fresh PostgreSQL database (the
``pg_url`` fixture) with the feed recorder, organisations with enrolled devices, and
site stores on their own SQLite files."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from central.enroll import create_org, create_site, enroll, make_enrollment_code
from central.feed import FeedRecorder
from central.push import DeviceCtx
from core.db import Store, sqlite_url
from core.services.sync_apply import SCHEMA_VERSION
from core.site import open_store


@dataclass
class Enrolled:
    org_id: str
    site_id: str
    device_id: str
    secret: str
    data: dict

    @property
    def ctx(self) -> DeviceCtx:
        return DeviceCtx(org_id=self.org_id, device_id=self.device_id)


def open_central(url: str) -> Store:
    return open_store(url, recorder_factory=FeedRecorder)


@pytest.fixture
def central(pg_url: str) -> Iterator[Store]:
    store = open_central(pg_url)
    yield store
    store.dispose()


def new_org(central: Store, name: str = "Acme", modules=("factory", "tour")) -> str:
    with central.write() as s:
        return create_org(s, name=name, modules=list(modules)).id


def enroll_device(central: Store, org_id: str, site_name: str = "Plant") -> Enrolled:
    with central.write() as s:
        site = create_site(s, org_id=org_id, name=site_name)
        code, _ = make_enrollment_code(s, org_id=org_id, site_id=site.id)
    with central.write() as s:
        data = enroll(s, code=code, device_name=site_name, schema_version=SCHEMA_VERSION)
    return Enrolled(org_id, site.id, data["device_id"], data["device_secret"], data)


@pytest.fixture
def org_id(central: Store) -> str:
    return new_org(central)


@pytest.fixture
def device(central: Store, org_id: str) -> Enrolled:
    return enroll_device(central, org_id)


@pytest.fixture
def site_path(tmp_path: Path):
    def make(name: str) -> str:
        return sqlite_url(tmp_path / f"{name}.sqlite3")

    return make
