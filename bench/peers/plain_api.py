"""The LAN API benchmark's peer: a plain FastAPI + sqlite3 app serving the same shop-floor
mix (operator's queue, machine board, progress writes) on a copy of the same store file.

It is what a small team would write without Structura's rules: synchronous handlers in
FastAPI's thread pool, one sqlite3 connection per thread, hand-written SQL, a bearer
token looked up in memory, no outbox, no audit, no per-field versions. Every write is
durable when answered (WAL with ``synchronous=FULL``), like Structura's group commit.

    python -m bench.peers.plain_api DB_FILE ORG_ID PORT

Log in with ``POST /api/auth/pin {"user_id": ...}`` (no PIN check: the peer does not
hash secrets) and send ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import sys
import threading
from datetime import UTC, datetime, time
from typing import Any

import uvicorn
from fastapi import FastAPI, Header, HTTPException, Request

ACTIVE = ("IN_PROGRESS", "PAUSED", "PENDING")
RANK = {"IN_PROGRESS": 0, "PAUSED": 1, "PENDING": 2}
JOB_COLUMNS = (
    "id, version, title, status, machine_id, sequence, unit, quantity, produced_qty, "
    "scrap_qty, progress, operator_ids, due_at, started_at, completed_at, updated_at"
)


def make_app(db_path: str, org_id: str) -> FastAPI:
    app = FastAPI()
    local = threading.local()
    tokens: dict[str, str] = {}

    def db() -> sqlite3.Connection:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.row_factory = sqlite3.Row
            local.conn = conn
        return conn

    def user(authorization: str | None) -> str:
        token = (authorization or "").removeprefix("Bearer ")
        uid = tokens.get(token)
        if uid is None:
            raise HTTPException(401, "bad token")
        return uid

    def job_json(r: sqlite3.Row) -> dict[str, Any]:
        d = dict(r)
        d["operator_ids"] = json.loads(d["operator_ids"] or "[]")
        for k in ("quantity", "produced_qty", "scrap_qty"):
            d[k] = str(d[k] / 1000)
        d["progress"] = str(d["progress"] / 10000)
        return d

    @app.post("/api/auth/pin")
    def login(body: dict[str, Any]) -> dict[str, str]:
        row = (
            db()
            .execute(
                "SELECT id FROM users WHERE org_id = ? AND id = ?", (org_id, body.get("user_id"))
            )
            .fetchone()
        )
        if row is None:
            raise HTTPException(401, "unknown user")
        token = secrets.token_urlsafe(24)
        tokens[token] = row["id"]
        return {"access_token": token, "user_id": row["id"]}

    @app.get("/api/me/jobs")
    def my_jobs(authorization: str | None = Header(default=None)) -> list[dict[str, Any]]:
        uid = user(authorization)
        rows = (
            db()
            .execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE org_id = ? AND deleted_at IS NULL "
                "AND status IN (?, ?, ?) AND EXISTS "
                "(SELECT 1 FROM json_each(jobs.operator_ids) WHERE value = ?)",
                (org_id, *ACTIVE, uid),
            )
            .fetchall()
        )
        jobs = [job_json(r) for r in rows]
        jobs.sort(key=lambda j: (RANK[j["status"]], j["sequence"], j["due_at"] or "9999"))
        return jobs

    @app.get("/api/board")
    def board(authorization: str | None = Header(default=None)) -> list[dict[str, Any]]:
        user(authorization)
        c = db()
        midnight = datetime.combine(datetime.now(UTC).date(), time()).isoformat(" ")
        machines = c.execute(
            "SELECT id, name, type, status, status_since, color, version, current_job_id, "
            "total_meters, next_maintenance_at FROM machines WHERE org_id = ? "
            "AND deleted_at IS NULL AND is_active ORDER BY name",
            (org_id,),
        ).fetchall()
        queues = dict(
            c.execute(
                "SELECT machine_id, count(*) FROM jobs WHERE org_id = ? AND deleted_at IS NULL "
                "AND status IN (?, ?, ?) GROUP BY machine_id",
                (org_id, *ACTIVE),
            ).fetchall()
        )
        alerts = dict(
            c.execute(
                "SELECT machine_id, count(*) FROM alerts WHERE org_id = ? "
                "AND dismissed_at IS NULL AND deleted_at IS NULL GROUP BY machine_id",
                (org_id,),
            ).fetchall()
        )
        made = {
            r[0]: (r[1], r[2])
            for r in c.execute(
                "SELECT json_extract(payload, '$.machine_id'), "
                "sum(CAST(json_extract(payload, '$.qty') AS REAL)), "
                "sum(CAST(json_extract(payload, '$.scrap') AS REAL)) FROM events "
                "WHERE org_id = ? AND at >= ? AND type = 'PRODUCTION' GROUP BY 1",
                (org_id, midnight),
            )
        }
        out = []
        for m in machines:
            cur = c.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE org_id = ? AND deleted_at IS NULL "
                "AND machine_id = ? AND status = 'IN_PROGRESS' ORDER BY sequence LIMIT 1",
                (org_id, m["id"]),
            ).fetchone()
            nxt = c.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE org_id = ? AND deleted_at IS NULL "
                "AND machine_id = ? AND status = 'PENDING' ORDER BY sequence, due_at LIMIT 1",
                (org_id, m["id"]),
            ).fetchone()
            qty, scrap = made.get(m["id"], (0, 0))
            good = (qty - scrap) / qty if qty else None
            out.append(
                {
                    **dict(m),
                    "current_job": job_json(cur) if cur else None,
                    "next_job": job_json(nxt) if nxt else None,
                    "queue_length": queues.get(m["id"], 0),
                    "open_alerts": alerts.get(m["id"], 0),
                    "produced_today": qty,
                    "quality_today": good,
                }
            )
        return out

    @app.post("/api/jobs/{job_id}/progress")
    async def progress_body(job_id: str, request: Request) -> Any:
        # The body is read on the loop; the database work goes to the thread pool, the
        # way a sync handler would run it.
        body = await request.json()
        from starlette.concurrency import run_in_threadpool

        auth = request.headers.get("authorization")
        return await run_in_threadpool(_progress, job_id, body, auth)

    def _progress(job_id: str, body: dict[str, Any], authorization: str | None) -> Any:
        uid = user(authorization)
        made = round(float(body["produced"]) * 1000)
        bad = round(float(body.get("scrap", 0)) * 1000)
        if made < 0 or bad < 0 or bad > made:
            raise HTTPException(422, "bad quantities")
        c = db()
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
        c.execute("BEGIN IMMEDIATE")
        try:
            row = c.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE org_id = ? AND id = ? "
                "AND deleted_at IS NULL",
                (org_id, job_id),
            ).fetchone()
            if row is None:
                raise HTTPException(404, "no such job")
            if row["status"] not in ("IN_PROGRESS", "PAUSED"):
                raise HTTPException(409, "job not started")
            total = row["produced_qty"] + made
            pct = min(1_000_000, total * 1_000_000 // row["quantity"]) if row["quantity"] else 0
            c.execute(
                "UPDATE jobs SET produced_qty = ?, scrap_qty = scrap_qty + ?, progress = ?, "
                "version = version + 1, updated_at = ?, updated_by = ? "
                "WHERE org_id = ? AND id = ?",
                (total, bad, pct, now, uid, org_id, job_id),
            )
            payload = {
                "job_id": job_id,
                "machine_id": row["machine_id"],
                "qty": str(made / 1000),
                "scrap": str(bad / 1000),
            }
            c.execute(
                "INSERT INTO events (org_id, id, version, sync_version, field_versions, "
                "created_at, updated_at, updated_by, type, user_id, payload, at) "
                "VALUES (?, ?, 1, 0, '{}', ?, ?, ?, 'PRODUCTION', ?, ?, ?)",
                (org_id, "pe-" + secrets.token_hex(8), now, now, uid, uid,
                 json.dumps(payload), now),
            )  # fmt: skip
            if row["unit"] == "m":
                c.execute(
                    "UPDATE machines SET total_meters = total_meters + ? "
                    "WHERE org_id = ? AND id = ?",
                    (made, org_id, row["machine_id"]),
                )
            out = c.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE org_id = ? AND id = ?", (org_id, job_id)
            ).fetchone()
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return job_json(out)

    return app


def main() -> int:
    db_path, org_id, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    uvicorn.run(make_app(db_path, org_id), host="127.0.0.1", port=port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
