"""The shop-floor and crew web pages: server-rendered shells plus small JavaScript
modules that talk to the JSON API. No build step, no CDN: every asset is a file here.

``web_router(context)`` is mounted by ``local_api.app.create_app`` when this package
exists. Pages carry no data and need no login (the scripts fetch data with the token
kept in the tab's sessionStorage), so nothing here touches the store.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from local_api.web.pages import build_router


def web_router(context: Any) -> APIRouter:
    return build_router(context)


__all__ = ["web_router"]
