"""Bytes a site was asked for and does not have yet: the content route notes the hash,
the sync agent fetches it on its next round (``sync_agent.blobs``). Kept in the store's
``sync_state`` so that it survives a restart and needs no channel between them."""

from __future__ import annotations

from typing import Any

from core.models import SyncState

KEY = "blobs_wanted"
MAX_WANTED = 1000  # oldest dropped past this: they will be asked for again


def ask_for(store: Any, sha256: str) -> None:
    with store.write() as s:
        row = s.get(SyncState, KEY)
        wanted = list(row.value) if row is not None and isinstance(row.value, list) else []
        if sha256 in wanted:
            return
        wanted = [*wanted, sha256][-MAX_WANTED:]
        if row is None:
            s.add(SyncState(key=KEY, value=wanted))
        else:
            row.value = wanted


def wanted(store: Any) -> list[str]:
    with store.read() as s:
        row = s.get(SyncState, KEY)
        return list(row.value) if row is not None and isinstance(row.value, list) else []


def forget(store: Any, done: set[str]) -> None:
    if not done:
        return
    with store.write() as s:
        row = s.get(SyncState, KEY)
        if row is not None and isinstance(row.value, list):
            row.value = [h for h in row.value if h not in done]
