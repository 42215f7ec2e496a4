"""Operations sent once from a page that queues its actions while the site is away.

A tablet names each action with an id it makes itself (``Idempotency-Key``). The first
answer to that id is kept here; the same id again gets the same answer instead of a
second write, so a queue replayed after an outage (or a retry whose answer was lost)
never doubles a report. The HTTP edge calls ``claim`` before the action and ``finish``
(or ``release``) after it; nothing here knows about HTTP.

Exactly once even across a crash: while a claimed operation runs (``running``), every
write transaction that changes rows marks the claim ``applied`` *in that same
transaction*. So the claim and the write commit or vanish together: a process killed
after the write's commit but before ``finish`` leaves an ``applied`` claim, and the
retry is answered (``APPLIED_ANSWER``) instead of writing again; one killed before the
commit leaves a ``pending`` claim with no write, which the retry may take once stale.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import Conflict, Invalid
from core.sync.unit import UnitSession
from core.web.models import WebOp

# What a page's crypto.randomUUID() makes, and other sane client ids.
OP_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
# A claim whose answer never came (the server stopped mid-request) may be taken again
# after this long; until then a repeat is told to wait.
STALE_CLAIM = timedelta(minutes=2)
# Answers are kept this long: far longer than a tablet stays offline in practice.
KEEP = timedelta(days=14)


@dataclass(frozen=True)
class Stored:
    status: int
    answer: dict[str, Any]  # {"body": text, "type": content type, "etag": str | None}


# What a retry gets when the first attempt's write committed but its answer was never
# stored (the process stopped in between): the write stands; the original body is gone.
APPLIED_ANSWER = Stored(
    200,
    {
        "body": '{"applied":true,"detail":"this operation was applied; its answer was lost '
        'when the site stopped"}',
        "type": "application/json",
        "etag": None,
    },
)


@dataclass(frozen=True)
class OpKey:
    org_id: str
    user_id: str
    op_id: str


# The claimed operation the current request is running (set by the HTTP edge around the
# route, so it reaches the route's worker thread with the request's context).
_running: ContextVar[OpKey | None] = ContextVar("structura_web_op", default=None)


@contextmanager
def running(org_id: str, user_id: str, op_id: str) -> Iterator[None]:
    """Run the claimed operation's writes: each commit also marks the claim applied."""
    token = _running.set(OpKey(org_id, user_id, op_id))
    try:
        yield
    finally:
        _running.reset(token)


def _mark_applied(session: Session) -> None:
    key = _running.get()
    unit = getattr(session, "unit", None)
    # Only a write transaction that changed rows (it queued change notices) counts.
    if key is None or unit is None or unit.recorder is None or not unit.notices:
        return
    session.execute(
        update(WebOp)
        .where(
            WebOp.org_id == key.org_id,
            WebOp.user_id == key.user_id,
            WebOp.op_id == key.op_id,
            WebOp.state == "pending",
        )
        .values(state="applied")
    )


def install() -> None:
    """Hook the applied mark into every store session's commit (once per process)."""
    if not event.contains(UnitSession, "before_commit", _mark_applied):
        event.listen(UnitSession, "before_commit", _mark_applied)


class OpRunning(Conflict):
    code = "op_in_progress"


class OpReused(Invalid):
    code = "op_id_reused"


def check_id(op_id: str) -> None:
    if not OP_ID.match(op_id):
        raise Invalid(
            "the operation id must be 8-64 letters, digits or ._:-",
            details=[{"field": "Idempotency-Key", "message": "invalid"}],
        )


def claim(
    store: Any, *, org_id: str, user_id: str, op_id: str, method: str, path: str
) -> Stored | None:
    """Take ``op_id`` for this request. None: go ahead and run it (then ``finish``).
    A ``Stored`` answer: it ran before; answer that. Raises OpRunning while the first
    request is still running, OpReused when the id named a different request."""
    check_id(op_id)
    now = utcnow()
    key = {"org_id": org_id, "user_id": user_id, "op_id": op_id}
    with store.write() as s:
        row = s.get(WebOp, key)
        if row is None:
            try:
                with s.begin_nested():
                    s.add(WebOp(**key, method=method, path=path, state="pending", claimed_at=now))
            except IntegrityError:
                # Another request took it between our read and insert.
                raise OpRunning("this operation is being processed; try again shortly") from None
            return None
        if row.method != method or row.path != path:
            raise OpReused(
                "this operation id was used for another request",
                details=[{"field": "Idempotency-Key", "message": "used for another request"}],
            )
        if row.state == "done" and row.status is not None and row.answer is not None:
            return Stored(row.status, row.answer)
        if row.state == "applied":
            # Applied but not finished: answered now, unless its request is still on.
            if now - row.claimed_at < STALE_CLAIM:
                raise OpRunning("this operation is being processed; try again shortly")
            return APPLIED_ANSWER
        if now - row.claimed_at < STALE_CLAIM:
            raise OpRunning("this operation is being processed; try again shortly")
        # The first attempt died before its write committed (else it would be
        # ``applied``): nothing of it stands, so run it now.
        row.claimed_at = now
        return None


def finish(
    store: Any, *, org_id: str, user_id: str, op_id: str, status: int, answer: dict[str, Any]
) -> None:
    """Keep the first answer, so a repeat of the id gets it back unchanged."""
    with store.write() as s:
        row = s.get(WebOp, {"org_id": org_id, "user_id": user_id, "op_id": op_id})
        if row is not None:
            row.state, row.status, row.answer = "done", status, answer


def release(store: Any, *, org_id: str, user_id: str, op_id: str) -> None:
    """The request failed without an answer worth keeping (a crash, a full disk, an
    expired login): forget the claim so that the client's retry runs it. A claim whose
    write committed (``applied``) is kept: the retry is answered, not run again."""
    with store.write() as s:
        s.execute(
            delete(WebOp).where(
                WebOp.org_id == org_id,
                WebOp.user_id == user_id,
                WebOp.op_id == op_id,
                WebOp.state == "pending",
            )
        )


def prune(store: Any, *, now: datetime | None = None) -> int:
    """Drop answers older than KEEP; returns how many."""
    cutoff = (now or utcnow()) - KEEP
    with store.write() as s:
        old = list(s.scalars(select(WebOp.op_id).where(WebOp.claimed_at < cutoff)))
        s.execute(delete(WebOp).where(WebOp.claimed_at < cutoff))
    return len(old)
