"""Ops tests reuse the sync tests' central fixtures (PostgreSQL through ``pg_head_url``, the
in-process central app, enrolled sites) instead of growing a copy of them."""

from tests.sync.conftest import central, hub, org_id  # noqa: F401
