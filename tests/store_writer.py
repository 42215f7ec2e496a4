"""Child process of the kill -9 test in ``tests/test_store.py``.

``python -m tests.store_writer PATH ORG_ID`` writes clients through the one write path
until killed, printing each row id only after its transaction committed: every printed
id is a write the store acknowledged, and must survive the kill.
"""

from __future__ import annotations

import sys

from core import writes
from core.db import Store, sqlite_url
from core.writes import Actor


def main(argv: list[str]) -> int:
    path, org_id = argv
    store = Store(sqlite_url(path))
    actor = Actor(org_id=org_id, user_id=None, role="admin")
    n = 0
    while True:
        with store.write() as s:
            row = writes.create(s, actor=actor, entity="clients", data={"name": f"client {n}"})
            row_id = row.id
        print(row_id, flush=True)
        n += 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
