"""A built browser app (``vite build``) served by the site itself: same origin as the
API, so the app needs no CORS. Unknown paths under it answer its ``index.html`` (the
app's own router decides, as on any static host of a single-page app)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import Scope


class SinglePageApp(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Any:
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404 or "." in Path(path).name:
                raise  # a missing asset stays a 404
            return await super().get_response("index.html", scope)


def mount_frontend(app: FastAPI, directory: Path, path: str) -> None:
    if not (directory / "index.html").is_file():
        # Settings are checked at start-up: a wrong folder is the operator's to fix.
        raise RuntimeError(f"STRUCTURA_FRONTEND_DIR {directory} has no index.html")
    app.mount(path, SinglePageApp(directory=directory, html=True), name="frontend")
