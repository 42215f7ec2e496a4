"""Fault suite, long form: prints figures (the short form is tests/hardening/test_faults.py).

    python bench/bench_faults.py site-kill --kills 200
    python bench/bench_faults.py central-kill --kills 50      # needs PostgreSQL
    python bench/bench_faults.py link --rounds 200           # needs PostgreSQL

site-kill: ``structura site serve`` subprocesses SIGKILLed at random moments while three
client threads create and update rows over HTTP; after each kill the store file is
checked: every 2xx-acknowledged write present at its acknowledged version or later,
its outbox entries present, ``PRAGMA integrity_check`` ok.

central-kill: ``structura central serve`` (PostgreSQL) SIGKILLed while a site's agent
pushes batches; the central server is restarted and the agent retries. Afterwards
every site row is on the central server exactly once, at the site's version, and no
op was applied twice (the feed holds one entry per op).

link: the agent talks to the central server through a proxy on 127.0.0.1 that drops
replies after forwarding requests and sends requests twice; the same checks.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def site_kill(args: argparse.Namespace) -> int:
    from bench.harness.killing import kill_rounds
    from bench.harness.sites import make_site

    with tempfile.TemporaryDirectory() as tmp:
        data = make_site(Path(tmp) / "site")
        t0 = time.monotonic()
        fig = kill_rounds(data, args.kills, seed=args.seed, progress=True)
        took = time.monotonic() - t0
    print("\n== kill -9 of the site during API writes ==")
    print(f"kills                       {fig.kills}")
    print(f"acknowledged writes         {fig.acked_writes}")
    print(f"acknowledged writes lost    {fig.lost}")
    print(f"rows behind acked version   {fig.behind}")
    print(f"acked writes not in outbox  {fig.outbox_missing}")
    print(f"integrity_check failures    {fig.integrity_failures}")
    print(
        f"restart to serving (s)      median {statistics.median(fig.restart_seconds):.2f}, "
        f"max {max(fig.restart_seconds):.2f}"
    )
    print(f"wall time (s)               {took:.0f}")
    for d in fig.details[:20]:
        print("  ", d)
    bad = fig.lost + fig.behind + fig.outbox_missing + fig.integrity_failures
    return 1 if bad else 0


@contextmanager
def _pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database: on STRUCTURA_TEST_PG_URL or a throwaway cluster."""
    from bench.harness.pg import fresh_database, server_from_env

    with server_from_env() as server, fresh_database(server, "bench_faults") as url:
        yield url


def central_kill(args: argparse.Namespace) -> int:
    from bench.harness.central_faults import central_kill_rounds

    with _pg_url() as url, tempfile.TemporaryDirectory() as tmp:
        fig = central_kill_rounds(url, Path(tmp), args.kills, seed=args.seed, progress=True)
    print("\n== kill -9 of the central server during pushes ==")
    for k, v in fig.as_rows():
        print(f"{k:<28}{v}")
    for d in fig.details[:20]:
        print("  ", d)
    return 1 if fig.bad() else 0


def link(args: argparse.Namespace) -> int:
    from bench.harness.central_faults import link_fault_rounds

    with _pg_url() as url, tempfile.TemporaryDirectory() as tmp:
        fig = link_fault_rounds(url, Path(tmp), args.rounds, seed=args.seed, progress=True)
    print("\n== dropped and duplicated replies on the sync link ==")
    for k, v in fig.as_rows():
        print(f"{k:<28}{v}")
    for d in fig.details[:20]:
        print("  ", d)
    return 1 if fig.bad() else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("site-kill")
    s.add_argument("--kills", type=int, default=200)
    s.add_argument("--seed", type=int, default=8)
    s.set_defaults(func=site_kill)
    c = sub.add_parser("central-kill")
    c.add_argument("--kills", type=int, default=50)
    c.add_argument("--seed", type=int, default=8)
    c.set_defaults(func=central_kill)
    n = sub.add_parser("link")
    n.add_argument("--rounds", type=int, default=200)
    n.add_argument("--seed", type=int, default=8)
    n.set_defaults(func=link)
    args = p.parse_args()
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
