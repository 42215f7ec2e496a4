"""What a file is, from its bytes: never from its name or what the client declares.

``filetype`` (pinned) reads the magic numbers of the binary formats; plain text is
strict UTF-8 without control characters. Images are opened with Pillow to refuse
decompression bombs (a 50 kB PNG that decodes to gigabytes of pixels) before anyone's
viewer tries to decode them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from core.errors import RuleBroken
from core.rules import refuse

HEAD_BYTES = 8192  # enough for every magic number filetype looks at
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
# Pixels an attached image may have: a 48-megapixel phone photo passes; Pillow's own
# default warning limit is ~89 MP and its error twice that.
DEFAULT_MAX_PIXELS = 60_000_000
_TEXT_CONTROLS = frozenset(range(0, 32)) - {9, 10, 12, 13}


def sniff_head(head: bytes, *, complete: bool) -> str | None:
    """The media type the first bytes of a file show, or None. ``complete``: ``head`` is
    the whole file (a short text file is judged on all of it)."""
    import filetype

    kind = filetype.guess(head)
    if kind is not None:
        return str(kind.mime)
    return "text/plain" if _looks_like_text(head, complete=complete) else None


def _looks_like_text(data: bytes, *, complete: bool) -> bool:
    if not data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the head is still text.
        if complete or exc.start < len(data) - 3:
            return False
    return not any(b in _TEXT_CONTROLS for b in data)


def check_image(path: Path, media_type: str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Refuse an image whose header promises more than ``max_pixels`` pixels, or that
    Pillow cannot parse as the type it claims. Raises ``RuleBroken``."""
    if media_type not in IMAGE_TYPES:
        return
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        # Pillow warns (and past twice its limit raises) on large images; our limit
        # decides, so its warning is turned into the same refusal.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise _bomb(width, height, max_pixels)
                img.verify()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _bomb(0, 0, max_pixels) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise refuse("attachment_unreadable", 422, "file", media_type=media_type) from exc


def _bomb(width: int, height: int, limit: int) -> RuleBroken:
    return refuse("attachment_too_many_pixels", 422, "file", width=width, height=height,
                  max_pixels=limit)  # fmt: skip
