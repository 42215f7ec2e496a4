"""Static files both servers' pages share (the site's pages and the central console),
kept once here and served by each under its own static path."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
# The name each server's static route answers to -> the shared file.
SHARED = {"css/base.css": STATIC / "base.css"}


def resolve(static_dir: Path, path: str) -> Path | None:
    """The file a static route serves for ``path``: a shared one, or one under
    ``static_dir``. Resolving and checking the parent keeps ``..`` and symlinks from
    reaching anything else; None when there is no such file."""
    target = SHARED.get(path) or (static_dir / path).resolve()
    if path not in SHARED and not target.is_relative_to(static_dir.resolve()):
        return None
    return target if target.is_file() else None
