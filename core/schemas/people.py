"""Input fields of users. ``pin`` and ``password`` are write-only: the write path hashes
them and stores only the hash."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from core.schemas.common import Email, Name, Strict

Role = Literal["admin", "office", "operator", "crew"]
Language = Literal["es", "en"]
Pin = Annotated[str, Field(pattern=r"^[0-9]{4,8}$")]
Password = Annotated[str, Field(min_length=8, max_length=256)]


class UserFields(Strict):
    name: Name
    role: Role
    email: Email | None = None
    language: Language = "es"
    is_active: bool = True
    pin: Pin | None = None
    password: Password | None = None


SECRET_INPUTS = {"pin": "pin_hash", "password": "password_hash"}
