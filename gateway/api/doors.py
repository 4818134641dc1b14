"""Doors: each API a client speaks (the frontend's, OpenAI's, Anthropic's) answers errors in its
own shape. A router says which door it is; the error handlers ask the matched route."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute

Door = Literal["gateway", "openai", "anthropic"]


def door_router(door: Door, **kwargs: Any) -> APIRouter:
    """An APIRouter whose routes answer errors in `door`'s shape."""

    class DoorRoute(APIRoute):
        pass

    DoorRoute.door = door  # type: ignore[attr-defined]
    return APIRouter(route_class=DoorRoute, **kwargs)


def door_of(request: Request) -> Door:
    """The door of the route that matched; for no route, OpenAI's under /v1/ (SDK clients)."""
    door: Door | None = getattr(request.scope.get("route"), "door", None)
    if door is not None:
        return door
    return "openai" if request.url.path.startswith("/v1/") else "gateway"
