"""Tables of the web pages' services: operations sent once (``web_ops``) and board
screens (``display_screens``). Kept apart from the services so that ``core.models``
can register them without importing the write path."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.orm.base import ID, Base


class WebOp(Base):
    """One client-named operation and the first answer it got."""

    __tablename__ = "web_ops"
    org_id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, primary_key=True)
    op_id: Mapped[str] = mapped_column(ID, primary_key=True)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    # pending (claimed, running) -> done (answer stored)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    status: Mapped[int | None] = mapped_column(Integer)
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    claimed_at: Mapped[datetime]


class DisplayScreen(Base):
    __tablename__ = "display_screens"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ID, index=True)
    name: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
