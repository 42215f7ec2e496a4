"""Input fields of an attachment row, and the file-name rule every entry point shares."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from core.fields import RefId, Strict

OwnerEntity = Literal["jobs", "downtimes", "machines", "shows", "travel"]
OWNERS: tuple[str, ...] = ("jobs", "downtimes", "machines", "shows", "travel")
# What may be stored, whatever a client declares: checked against the sniffed type.
MediaType = Literal["image/jpeg", "image/png", "image/webp", "application/pdf", "text/plain"]
MEDIA_TYPES: tuple[str, ...] = (
    "image/jpeg", "image/png", "image/webp", "application/pdf", "text/plain",
)  # fmt: skip
MAX_FILENAME = 255  # characters, and UTF-8 bytes (what most file systems allow)
MAX_CAPTION = 500


def filename_problem(name: str) -> str | None:
    """Why ``name`` cannot be an attachment's file name (a rule code), or None.

    The name is shown, offered back as the download's name and may become a file name on
    a desktop: no path separators (``../../etc``), no control or format characters (a
    right-to-left override turns ``gpj.exe`` into ``exe.jpg`` on screen), not ``.`` or
    ``..``, and short enough for any file system."""
    if not name.strip():
        return "filename_empty"
    if "/" in name or "\\" in name:
        return "filename_separator"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp") for c in name):
        return "filename_control"
    if name.strip() in (".", ".."):
        return "filename_reserved"
    if len(name) > MAX_FILENAME or len(name.encode("utf-8")) > MAX_FILENAME:
        return "filename_too_long"
    return None


def clean_filename(name: str) -> str:
    """NFC and trimmed: the same name typed on two systems is one name."""
    return unicodedata.normalize("NFC", name).strip()


def _filename(v: str) -> str:
    v = clean_filename(v)
    code = filename_problem(v)
    if code is not None:
        raise PydanticCustomError(code, "file name refused: {code}", {"code": code})
    return v


Filename = Annotated[str, AfterValidator(_filename)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


def _caption(v: str) -> str:
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in v):
        raise PydanticCustomError("caption_control", "a caption may not hold control characters")
    return v


Caption = Annotated[str, Field(max_length=MAX_CAPTION), AfterValidator(_caption)]


class AttachmentFields(Strict):
    owner_entity: OwnerEntity
    owner_id: RefId
    filename: Filename
    media_type: MediaType
    size: Annotated[int, Field(ge=0, le=2**53)]
    sha256: Sha256
    caption: Caption | None = None
    created_by: RefId | None = None
