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


# The quick loop (``scripts/dev quick``: ``-m "not slow and not browser"``) is the unit
# layer: a test is ``slow`` when it needs something beyond its own process and a real
# SQLite file. The rule is applied here from what the test asks for, so nobody has to
# remember it: PostgreSQL (the cluster fixture), Qt widgets (pytest-qt's application),
# mDNS on loopback; and the modules below, whose tests start another process or server
# or import the legacy sample with its PIN hashing. A test marked ``pg`` is slow too.
SLOW_FIXTURES = {"pg_server_url": "pg", "qapp": "qt"}
SLOW_MODULES = {
    "tests/test_legacy_import.py": "the legacy sample, 1,000 PINs hashed",
    "tests/test_legacy_export.py": "the legacy sample, 1,000 PINs hashed",
    "tests/test_demo.py": "structura demo in a subprocess",
    "tests/test_live.py": "uvicorn servers with SSE clients",
    "tests/test_migrate_fast.py": "fresh interpreters opening a store",
    "tests/desktop/test_host.py": "the site services: uvicorn, agent, backups",
    "tests/hardening/test_central_attacks.py": "the legacy sample, a central server",
    "tests/api/test_wire.py": "uvicorn servers in threads",
    "tests/api/test_schema.py": "schemathesis against a uvicorn server",
    "tests/ops/test_metrics.py": "site serve and central workers",
    "tests/ops/test_backup.py": "a second process holding the store",
    "tests/attachments/test_s3.py": "an S3 server (moto)",
    "tests/attachments/test_serve.py": "structura site serve",
    "tests/compat/test_settings_cli.py": "structura site serve",
    "tests/hardening/test_attacks.py": "structura site serve",
    "tests/hardening/test_bad_input.py": "structura site serve, structura import",
    "tests/hardening/test_domains.py": "structura site serve",
    "tests/hardening/test_small_findings.py": "structura site serve",
    "tests/hardening/test_tls.py": "structura site serve over HTTPS",
    "tests/hardening/test_transport.py": "structura site serve over HTTPS",
    "tests/hardening/test_secrets_at_rest.py": "structura site serve under a umask",
}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by these marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gone = [m for m in SLOW_MODULES if not (config.rootpath / m).is_file()]
    if gone:
        raise pytest.UsageError(f"SLOW_MODULES names files that do not exist: {gone}")
    for item in items:
        names = getattr(item, "fixturenames", ())
        needs = [mark for fixture, mark in SLOW_FIXTURES.items() if fixture in names]
        module = item.nodeid.split("::", 1)[0]
        if (
            needs
            or module in SLOW_MODULES
            or item.get_closest_marker("pg")
            or xdist_group(item.nodeid) == "zeroconf"
        ):
            item.add_marker(pytest.mark.slow)
        for mark in needs:
            item.add_marker(getattr(pytest.mark, mark))
    # The browser group is found by path; a browser test elsewhere would start its own
    # server and Chromium on every worker.
    stray = [
        item.nodeid
        for item in items
        if item.get_closest_marker("browser") and xdist_group(item.nodeid) != "browser"
    ]
    if stray:
        raise pytest.UsageError(f"browser tests must live under tests/web/: {stray}")
    # The groups first: each runs on one worker, one test after another (the browser
    # group about two minutes), so started last it left the other worker idle at the end
    # of the run; started first, the other tests fill both workers around it. (Stable:
    # the order within and outside the groups is kept; every worker sorts alike.)
    first = {"browser": 0, "zeroconf": 1}
    items.sort(key=lambda item: first.get(xdist_group(item.nodeid) or "", 2))
