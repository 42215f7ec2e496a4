"""The old factory app (``apiRepository`` and ``authService`` of its backend plan).

Its repository reads whole collections and single rows and writes rows of nine
collections; its login is a PIN and nothing else, answered with ``{token, user}``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from core.db import Store
from core.errors import NotFound
from core.identity import auth, pin_only
from core.legacy.present import to_legacy
from core.models import User
from core.registry import EntitySpec, spec_for

# URL segment -> entity (the app's collection names are ours).
ENTITIES = (
    "machines",
    "jobs",
    "projects",
    "users",
    "clients",
    "inventory",
    "alerts",
    "messages",
    "events",
)


def spec(collection: str) -> EntitySpec:
    if collection not in ENTITIES:
        raise NotFound(f"no collection '{collection}'")
    return spec_for(collection)


def user_json(user: User) -> dict[str, Any]:
    return to_legacy(spec_for("users"), user, meta=True)


def login(
    store: Store,
    policy: auth.TokenPolicy,
    *,
    org_id: str,
    pin: str,
    user_id: str | None,
    device_id: str | None,
    hours: int,
) -> dict[str, Any]:
    """``{token, user}``: by PIN alone when the site allows it, or by user and PIN (the
    keypad). The app has no refresh: its access token lasts ``hours`` (a shift); a
    logout or a deactivated user still ends it at once."""
    policy = dataclasses.replace(policy, access_minutes=hours * 60)
    if user_id:
        pair = auth.login_pin(
            store, policy, org_id=org_id, user_id=user_id, pin=pin, device_id=device_id
        )
    else:
        pair = pin_only.login(store, policy, org_id=org_id, pin=pin, device_id=device_id)
    with store.read() as s:
        user = s.get(User, (org_id, pair.user.id))
        assert user is not None
        return {"token": pair.access_token, "user": user_json(user)}
