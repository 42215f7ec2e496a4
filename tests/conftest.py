"""Test-suite plugins and how the tests are shared out among pytest-xdist workers.

``scripts/dev test`` runs the suite on pytest-xdist workers. Each test is a unit of work
on its own, except the tests that share something outside their process, which run on
one worker, one after the other:

- ``browser`` (everything under tests/web/): one ``structura site serve`` and one
  Chromium per worker (session fixtures in tests/web/conftest.py), started once rather
  than once per worker.
- ``zeroconf`` (tests/test_announce.py, tests/test_site_serve.py): mDNS on loopback is
  one network for every process, so two announcing tests at once would see each other's
  services (other ``site serve`` processes of the tests run with announcing off).

xdist's own ``--dist loadgroup`` would do this from ``xdist_group`` marks, but
pytest-xdist 3.8 renames items through ``Item._nodeid``, which pytest 9 no longer reads,
so the groups never form; the scheduler below groups by path instead (the same
``LoadScopeScheduling._split_scope`` extension point loadgroup itself uses).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

pytest_plugins = ["tests.pg_fixture", "tests.store_fixture"]

# The site serves HTTPS by default (issue 20). Most tests talk plain HTTP to servers on
# 127.0.0.1: they opt out here, explicitly, with the operator's own setting; subprocess
# servers (and xdist workers, which import this file) inherit it. Tests of the default
# remove it (tests/hardening/test_transport.py).
os.environ.setdefault("STRUCTURA_HTTPS", "0")

# nodeid prefix -> the group of the tests whose id starts with it
GROUPS = {
    "tests/web/": "browser",
    "tests/test_announce.py::": "zeroconf",
    "tests/test_site_serve.py::": "zeroconf",
}


def xdist_group(nodeid: str) -> str | None:
    return next((g for prefix, g in GROUPS.items() if nodeid.startswith(prefix)), None)


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # before xdist's own choice
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None  # the caller asked for another distribution: theirs
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        """Every test its own unit of work, except the groups above."""

        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid) or nodeid

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The browser group is found by path; a browser test elsewhere would start its own
    # server and Chromium on every worker.
    stray = [
        item.nodeid
        for item in items
        if item.get_closest_marker("browser") and xdist_group(item.nodeid) != "browser"
    ]
    if stray:
        raise pytest.UsageError(f"browser tests must live under tests/web/: {stray}")
