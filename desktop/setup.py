"""Setting up a site store (first run), without widgets: the dialog only collects a
SetupChoice, and this makes the store, imports legacy exports and records enrolment."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.db import Store
from core.private import private_dir
from core.settings import Settings
from core.site import SiteInfo, ensure_site, open_store, set_state, site_info

log = logging.getLogger(__name__)


@dataclass
class SetupChoice:
    data_dir: Path
    org_name: str
    site_name: str = "Office"
    modules: tuple[str, ...] = ("factory", "tour")
    legacy_files: list[Path] = field(default_factory=list)
    central_url: str = ""
    enrolment_code: str = ""
    demo_data: bool = False  # start with example records to try things out

    def problem(self) -> str:
        if not self.org_name:
            return "Organisation: required"
        if not self.modules:
            return "Modules: choose at least one"
        missing = [str(p) for p in self.legacy_files if not p.is_file()]
        if missing:
            return "Not found: " + ", ".join(missing)
        if self.central_url and not self.central_url.startswith(("http://", "https://")):
            return "Central server URL: must start with http:// or https://"
        return ""


def open_existing(settings: Settings) -> tuple[Store, SiteInfo] | None:
    """The store of a site already set up, or None (first run)."""
    if not settings.database_url and not settings.store_path.exists():
        return None
    store = open_store(settings.store_url())
    info = site_info(store)
    if info is None:
        store.dispose()
        return None
    return store, info


def create_site(settings: Settings, choice: SetupChoice) -> tuple[Store, SiteInfo]:
    """A new site store. With a central URL and an enrolment code the organisation and
    site come from the central server (enrolment makes them); otherwise from the choice."""
    private_dir(choice.data_dir)
    settings.data_dir = choice.data_dir
    store = open_store(settings.store_url())
    info = None
    if choice.central_url and choice.enrolment_code:
        try:
            enrol(store, choice.central_url, choice.enrolment_code, device_name=choice.site_name)
            info = site_info(store)
        except Exception:
            store.dispose()
            raise
    if info is None:
        info = ensure_site(store, org_name=choice.org_name, site_name=choice.site_name,
                           modules=choice.modules)  # fmt: skip
    if choice.demo_data and not choice.enrolment_code:
        from desktop.demo import seed
        from desktop.session import office_user

        seed(store, info, office_user(store, info))  # through the write path
    log.info("site %s of %s set up in %s", info.site_name, info.org_name, choice.data_dir)
    return store, info


def import_legacy(
    store: Store,
    site: SiteInfo,
    files: list[Path],
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> Any:
    """Import the old apps' exports through ``core.legacy``. Returns its report."""
    from core.legacy import read_export, run_import

    exports = [read_export(p) for p in files]

    def report(p: Any) -> None:
        if progress is not None:
            progress(p.stage, p.done, p.total)

    return run_import(store, exports, org_id=site.org_id, progress=report)


def enrol(store: Store, central_url: str, code: str, *, device_name: str = "site") -> str:
    """Turn an enrolment code into this store's device identity (the sync agent's
    ``enroll_site``). Without the sync agent installed the URL is remembered (the one-time
    code is a credential and is not kept) and enrolment can be done later."""
    try:
        from sync_agent.agent import enroll_site
    except ImportError:
        set_state(store, "central_url", central_url)
        return "pending"
    enroll_site(store, central_url, code, device_name=device_name)
    return "enrolled"
