"""Attachment bytes between two sites over loopback, against a plain ``curl`` upload of
the same files to the same server.

    python -m bench.bench_attachments [--count 500] [--mb 2]

Against ``structura central serve`` on PostgreSQL (STRUCTURA_TEST_PG_URL or a throwaway
cluster), blobs on its file system. Site A attaches COUNT photos of about MB megabytes
to jobs (each a real JPEG with a few unique bytes after its end, so no two share a
hash), pushes the rows and uploads the bytes (4 MiB chunks, verified by hash at the
end); site B pulls the rows and fetches the bytes ahead of time (the jobs are queued).
The peer: one ``curl`` process uploading the same files to the same server's blob
route for another organisation (one PUT per file, one connection, no chunking, no
bookkeeping). Prints MB/s for each and the ratio.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness.central_faults import (  # noqa: E402
    CentralProcess,
    central_setup,
    new_org,
    new_site,
)
from bench.harness.pg import fresh_database, server_from_env  # noqa: E402
from core import writes  # noqa: E402
from core.attachments import service  # noqa: E402
from core.attachments.blobs import BlobStore  # noqa: E402
from core.site import site_info  # noqa: E402
from core.sync.wire import SCHEMA_HEADER, SCHEMA_VERSION  # noqa: E402
from sync_agent.agent import SyncAgent  # noqa: E402

MB = 1024 * 1024


def photo_base(size_mb: float) -> bytes:
    """A real JPEG of about ``size_mb`` (noise compresses badly, as photos do)."""
    from PIL import Image

    side = int(1460 * (size_mb / 2) ** 0.5)
    img = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def photos(base: bytes, count: int, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        path = folder / f"IMG_{i:04d}.jpg"
        path.write_bytes(base + os.urandom(16))  # after the JPEG's end: a unique hash
        out.append(path)
    return out


def attach_all(store, blobs: BlobStore, files: list[Path]) -> float:
    info = site_info(store)
    assert info is not None, "the bench makes its sites first"
    actor = writes.Actor.system(info.org_id)
    started = time.perf_counter()
    with store.write() as s:
        m = writes.create(s, actor=actor, entity="machines",
                          data={"name": "Camera", "type": "PINTURA"})  # fmt: skip
        data = {"title": "Photos", "machine_id": m.id, "quantity": "1"}
        job_id = writes.create(s, actor=actor, entity="jobs", data=data).id
    limits = service.Limits(max_bytes=64 * MB)
    for path in files:
        with store.write() as s, path.open("rb") as fh:
            service.add_attachment(s, actor, owner_entity="jobs", owner_id=job_id,
                                   filename=path.name, data=fh, store=blobs,
                                   limits=limits)  # fmt: skip
    return time.perf_counter() - started


def curl_upload(url: str, token: str, files: list[Path], tmp: Path) -> float:
    import hashlib

    config = tmp / "curl.cfg"
    lines = []
    for path in files:
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        size = path.stat().st_size
        lines += [f'upload-file = "{path}"', 'output = "/dev/null"',
                  f'url = "{url}/api/sync/blobs/{sha}?offset=0&total={size}"']  # fmt: skip
    config.write_text("\n".join(lines) + "\n")
    cmd = ["curl", "-sS", "-f", "-H", f"{SCHEMA_HEADER}: {SCHEMA_VERSION}",
           "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/octet-stream",
           "-K", str(config)]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--mb", type=float, default=2.0)
    args = ap.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with server_from_env() as server, fresh_database(server, "bench_attach") as url, \
            tempfile.TemporaryDirectory() as tmpdir:  # fmt: skip
        tmp = Path(tmpdir)
        central = central_setup(url)
        proc = CentralProcess(url, blob_dir=tmp / "central-blobs").start()
        try:
            org = new_org(central, "Bench Photos")
            for name in ("a", "b"):
                (tmp / name).mkdir()
            a = new_site(central, proc.url, tmp / "a" / "site.sqlite3", org, "A")
            b = new_site(central, proc.url, tmp / "b" / "site.sqlite3", org, "B")
            files = photos(photo_base(args.mb), args.count, tmp / "photos")
            total = sum(p.stat().st_size for p in files)
            print(
                f"{args.count} photos, {total / MB:.1f} MB ({total / args.count / MB:.2f} MB each)"
            )
            a_blobs = BlobStore(tmp / "a" / "blobs")
            t_attach = attach_all(a, a_blobs, files)
            print(f"attach on site A (sniff, Pillow check, store, row): {t_attach:.1f} s, "
                  f"{total / MB / t_attach:.1f} MB/s")  # fmt: skip
            agent_a = SyncAgent(a, blobs=a_blobs, verify_every=None)
            agent_b = SyncAgent(b, blobs=BlobStore(tmp / "b" / "blobs"), verify_every=None)
            t0 = time.perf_counter()
            agent_a.push_pending()
            t_rows = time.perf_counter() - t0
            t0 = time.perf_counter()
            assert agent_a.blob_sync is not None and agent_b.blob_sync is not None
            up = agent_a.blob_sync.upload_pending()
            t_up = time.perf_counter() - t0
            assert up.uploaded == args.count, up
            agent_b.bootstrap()
            agent_b.pull_available()
            t0 = time.perf_counter()
            down = agent_b.blob_sync.prefetch_queued()
            t_down = time.perf_counter() - t0
            assert down.fetched == args.count, down
            print(f"rows pushed in {t_rows:.2f} s")
            print(f"site A -> central upload: {t_up:.1f} s, **{total / MB / t_up:.1f} MB/s**")
            print(f"central -> site B download: {t_down:.1f} s, **{total / MB / t_down:.1f} MB/s**")
            e2e = total / MB / (t_up + t_down)
            print(f"site A -> site B (up + down): {t_up + t_down:.1f} s, **{e2e:.1f} MB/s**")
            # The peer: curl uploading the same files for another organisation.
            org2 = new_org(central, "Curl Co")
            (tmp / "c").mkdir()
            c = new_site(central, proc.url, tmp / "c" / "site.sqlite3", org2, "C")
            token = SyncAgent(c, verify_every=None).client._access_token()
            t_curl = curl_upload(proc.url, token, files, tmp)
            curl_rate = total / MB / t_curl
            print(f"curl upload of the same files: {t_curl:.1f} s, **{curl_rate:.1f} MB/s**")
            print(f"ratio upload / curl: **{t_curl / t_up:.2f}x**; "
                  f"site-to-site / curl: **{e2e / curl_rate:.2f}x**")  # fmt: skip
            for agent, store in ((agent_a, a), (agent_b, b)):
                agent.client.close()
                store.dispose()
            c.dispose()
        finally:
            proc.stop()
            central.dispose()
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
