"""Board screens: the office makes a read-only key for a wall TV or tablet; the screen
reads the board with it (``Authorization: Display <key>``) and nothing else.

(No ``from __future__ import annotations``: FastAPI reads the handlers' annotations.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field

from apikit.problems import AUTHED, responses
from apikit.rows import json_response
from core.errors import Unauthenticated
from core.web import display
from core.writes import Actor
from local_api.board_cache import BoardCache
from local_api.deps import ContextDep, StoreDep, require

router = APIRouter(tags=["board screens"])
Office = Annotated[Actor, require(display.OFFICE_ROLES, "manage board screens")]


class ScreenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="where the screen hangs")


class ScreenOut(BaseModel):
    id: str
    name: str
    key: str = Field(description="the screen's secret, shown this once")
    url: str = Field(description="open this on the screen")
    expires_at: str


@router.post(
    "/api/display/screens",
    status_code=201,
    response_model=ScreenOut,
    responses=responses(*AUTHED, 422),
    summary="Make a read-only board screen",
)
def create_screen(body: ScreenIn, actor: Office, store: StoreDep) -> Any:
    with store.write() as s:
        new = display.create_screen(s, actor=actor, name=body.name)
    # The key goes in the fragment: browsers never send it to a server or a log.
    return json_response(
        {"id": new.id, "name": new.name, "key": new.secret,
         "url": f"/app/display#key={new.secret}", "expires_at": new.expires_at.isoformat()},
        201,
    )  # fmt: skip


@router.get("/api/display/screens", responses=responses(*AUTHED), summary="Board screens")
def screens(actor: Office, store: StoreDep) -> Any:
    with store.read() as s:
        return json_response(display.list_screens(s, actor=actor))


@router.post("/api/display/screens/{id}/revoke", status_code=204,
             responses=responses(*AUTHED, 404), summary="End a board screen's key")  # fmt: skip
def revoke(id: str, actor: Office, store: StoreDep) -> None:
    with store.write() as s:
        display.revoke_screen(s, actor=actor, screen_id=id)


def _screen_key(authorization: str | None) -> str:
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "display" or not key.strip():
        raise Unauthenticated("a board screen key is required (Authorization: Display <key>)")
    return key.strip()


@router.get("/api/display/board", responses=responses(401, 429, 500),
            summary="The board, for a screen's key: cards with their running stop")  # fmt: skip
def board(
    request: Request,
    context: ContextDep,
    store: StoreDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Any:
    key = _screen_key(authorization)
    with store.read() as s:
        org = display.screen_org(s, key)
        if org != context.site.org_id:
            raise Unauthenticated("this board screen key is for another organisation")
        stops = display.open_stops(s, org_id=org)
    cache: BoardCache = request.app.state.board
    cards = [{**c, "open_downtime": stops.get(c["id"])} for c in cache.cards()]
    return json_response(cards, headers={"Cache-Control": "no-cache"})


__all__ = ["Actor", "router"]
