"""API fixtures: a context and app on the per-test ``store`` (tests/store_fixture.py),
users of every role, and clients logged in as each of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core import writes
from core.db import Store, sqlite_url
from core.identity import auth
from core.identity.security import hash_secret
from core.models import User
from core.settings import Settings
from core.site import SiteInfo, ensure_site
from local_api.app import create_app
from local_api.context import AppContext, Limits
from tests.api.client import ASGIClient, asgi_client
from tests.store_fixture import copy_sqlite

PASSWORD = "correct horse battery"
ALLOWED_ORIGIN = "http://office.example"
ROLES = ("admin", "office", "operator", "crew")
# PIN per user key; every user of the fixture has one.
PINS = {
    "admin": "1000",
    "office": "2000",
    "operator": "3000",
    "operator2": "3100",
    "crew": "4000",
    "inactive": "5000",
}


@pytest.fixture(scope="session")
def secret_hashes() -> dict[str, str]:
    # Argon2 is slow on purpose; hash each secret once per test session.
    return {s: hash_secret(s) for s in {*PINS.values(), PASSWORD}}


@dataclass
class People:
    ids: dict[str, str] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> str:
        return self.ids[key]


@pytest.fixture
def people(store: Store, site: SiteInfo, secret_hashes: dict[str, str]) -> People:
    out = People()
    system = writes.Actor.system(site.org_id)
    with store.write() as s:
        for key, pin in PINS.items():
            role = key.rstrip("2") if key != "inactive" else "operator"
            email = f"{key}@example.com"
            hashed = {"pin": secret_hashes[pin]}
            if role in ("admin", "office"):
                hashed["password"] = secret_hashes[PASSWORD]
            row = writes.create(
                s,
                actor=system,
                entity="users",
                data={
                    "name": key.title(),
                    "role": role,
                    "email": email,
                    "is_active": key != "inactive",
                    "language": "en",
                },
                hashed_secrets=hashed,
            )
            out.ids[key] = row.id
            out.emails[key] = email
    return out


@pytest.fixture(scope="session")
def api_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("api-data"),
        allowed_hosts=["127.0.0.1", "localhost", "testserver"],
        cors_origins=[ALLOWED_ORIGIN],
        max_body_bytes=64 * 1024,
    )


def generous_limits() -> Limits:
    # Ordinary tests never meet the limits; the rate-limit tests make their own app.
    return Limits(
        api_rate=1000,
        api_burst=1000,
        login_rate=100,
        login_burst=100,
        login_global_rate=1000,
        login_global_burst=1000,
    )


@pytest.fixture
def make_context(
    store: Store, site: SiteInfo, api_settings: Settings
) -> Iterator[Callable[..., AppContext]]:
    """A context of its own on this test's store (for tests that need their own app)."""
    made: list[AppContext] = []

    def make(**kwargs: Any) -> AppContext:
        kwargs.setdefault("jwt_key", auth.SigningKey(b"k" * 64))
        kwargs.setdefault("limits", generous_limits())
        ctx = AppContext(
            settings=kwargs.pop("settings", api_settings), store=store, site=site, **kwargs
        )
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


def boot_app(
    tmp_dir: Path, template: Path, settings: Settings, **app_kwargs: Any
) -> tuple[AppContext, Any]:
    """An app on a throwaway store, to be rebound to each test's store with ``rebind``
    (building the routes of every entity takes a second; a store per test is cheap)."""
    boot = Store(sqlite_url(copy_sqlite(template, tmp_dir / "boot.db")))
    site = ensure_site(boot, org_name="boot", site_name="boot")
    ctx = AppContext(
        settings=settings,
        store=boot,
        site=site,
        jwt_key=auth.SigningKey(b"k" * 64),
        limits=generous_limits(),
    )
    return ctx, create_app(ctx, **app_kwargs)


def rebind(ctx: AppContext, app: Any, store: Store, site: SiteInfo) -> None:
    ctx.close()
    # The routes' subscribers (the board's shared read) follow the app to the new store;
    # whatever they cached belongs to the previous one (an empty batch invalidates).
    for fn in ctx.store.changes.hand_over(store.changes):
        fn([])
    ctx.store, ctx.site = store, site
    store.changes.subscribe(ctx._on_changes)
    ctx.sessions.clear()
    ctx.broadcaster = None
    ctx.sync_status = None
    app.state.throttles.reset()


@pytest.fixture(scope="session")
def _shared_app(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, api_settings: Settings
) -> Iterator[tuple[AppContext, Any]]:
    ctx, app = boot_app(tmp_path_factory.mktemp("shared"), sqlite_template, api_settings)
    boot = ctx.store
    yield ctx, app
    ctx.close()
    boot.dispose()


@pytest.fixture
def context(
    _shared_app: tuple[AppContext, Any], store: Store, site: SiteInfo
) -> Iterator[AppContext]:
    ctx, app = _shared_app
    rebind(ctx, app, store, site)
    yield ctx
    ctx.close()


@pytest.fixture
def app(_shared_app: tuple[AppContext, Any], context: AppContext) -> Any:
    return _shared_app[1]


@pytest.fixture
def client(app: Any) -> Iterator[ASGIClient]:
    with asgi_client(app, base_url="http://testserver") as c:
        yield c


def pin_login(client: ASGIClient, user_id: str, pin: str, device: str | None = None) -> Any:
    headers = {"X-Device-Id": device} if device else {}
    return client.post("/api/auth/pin", json={"user_id": user_id, "pin": pin}, headers=headers)


@pytest.fixture
def tokens(context: AppContext, people: People) -> Callable[[str], dict[str, Any]]:
    """Tokens of a fixture user, minted directly (no argon2 per test; the login routes
    have their own tests)."""
    cache: dict[str, dict[str, Any]] = {}

    def get(key: str) -> dict[str, Any]:
        if key not in cache:
            with context.store.write() as s:
                user = s.get(User, (context.site.org_id, people[key]))
                pair = auth.issue_tokens(s, context.token_policy, user, None)
            cache[key] = {"access_token": pair.access_token, "refresh_token": pair.refresh_token}
        return cache[key]

    return get


@pytest.fixture
def as_(tokens: Callable[[str], dict[str, Any]]) -> Callable[[str], dict[str, str]]:
    """``as_("operator")``: Authorization headers of that fixture user."""
    return lambda key: {"Authorization": f"Bearer {tokens(key)['access_token']}"}


@pytest.fixture
def admin(app: Any, as_: Callable[[str], dict[str, str]]) -> Iterator[ASGIClient]:
    """A second client that sends the admin's token with every request."""
    with asgi_client(app, base_url="http://testserver") as c:
        c.headers.update(as_("admin"))
        yield c


@pytest.fixture
def factory(admin: ASGIClient, people: People) -> dict[str, Any]:
    """A machine with two jobs, one assigned to ``operator``."""
    m = admin.post(
        "/api/machines", json={"name": "Roll former", "type": "CONFORMADORA", "ideal_rate": "40"}
    ).json()
    j1 = admin.post(
        "/api/jobs",
        json={
            "title": "Panel A",
            "machine_id": m["id"],
            "quantity": "1000",
            "sequence": 1,
            "operator_ids": [people["operator"]],
        },
    ).json()
    j2 = admin.post(
        "/api/jobs",
        json={
            "title": "Panel B",
            "machine_id": m["id"],
            "quantity": "500",
            "sequence": 2,
            "operator_ids": [people["operator2"]],
        },
    ).json()
    return {"machine": m, "job": j1, "other_job": j2}
