"""The sync agent as a site service (entry-point group ``structura.site_services``):
runs beside the headless site server when the site is enrolled."""

from __future__ import annotations

from typing import Any

from core.site import get_state
from sync_agent.agent import IDENTITY_KEY, SyncAgent


def site_service(store: Any, settings: Any) -> SyncAgent | None:
    identity = get_state(store, IDENTITY_KEY) or {}
    if not identity.get("device_id"):
        return None  # not enrolled: nothing to sync with
    url = settings.central_url or identity.get("central_url") or ""
    if not url:
        return None
    from core.attachments.blobs import site_blob_store

    return SyncAgent(store, url, blobs=site_blob_store(settings.data_dir))
