"""The pytest-xdist workers share one throwaway cluster; the last one out stops it."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.pg_fixture import STATE_FILE, libpq_url, shared_cluster

pytestmark = [pytest.mark.pg, pytest.mark.slow]


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=5) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def test_workers_share_one_cluster_and_the_last_stops_it(tmp_path: Path) -> None:
    state_path = tmp_path / STATE_FILE
    with shared_cluster(tmp_path, "gw0:1") as first:
        root = Path(json.loads(state_path.read_text())["root"])
        assert _answers(first)
        with shared_cluster(tmp_path, "gw1:2") as second:
            assert second == first  # the second worker did not start another cluster
            assert json.loads(state_path.read_text())["users"] == ["gw0:1", "gw1:2"]
        # gw1 left; gw0 still uses the cluster.
        assert _answers(first)
        assert json.loads(state_path.read_text())["users"] == ["gw0:1"]
    assert not state_path.exists()
    assert not root.exists()
    assert not _answers(first)
