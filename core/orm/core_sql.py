"""Core statements on an ORM session's connection, for hot reads.

``session.execute`` runs even a plain Core select through the ORM's execution layer
(about a third of a small query's CPU); ``session.connection().execute`` does not, but
skips the ORM's autoflush too. ``connection`` does that flush when something is pending,
so a hot read inside a write transaction still sees the transaction's own changes.
"""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.orm import Session


def connection(session: Session) -> Connection:
    if session.new or session.dirty or session.deleted:
        session.flush()
    return session.connection()
