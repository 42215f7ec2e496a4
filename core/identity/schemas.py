"""Input fields of users. ``pin`` and ``password`` are write-only: the write path hashes
them and stores only the hash."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from core.fields import Email, Name, Strict
from core.identity.pins import LOGIN_PIN_PATTERN, MAX_PIN_LENGTH, check_new_pin

Role = Literal["admin", "office", "operator", "crew"]
Language = Literal["es", "en"]
# A new PIN (core.identity.pins): 6+ digits, not trivial. Login accepts older ones.
Pin = Annotated[str, Field(max_length=MAX_PIN_LENGTH), AfterValidator(check_new_pin)]
# A PIN that already exists (legacy import): kept as is, asked to change at login.
ExistingPin = Annotated[str, Field(pattern=LOGIN_PIN_PATTERN)]
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
