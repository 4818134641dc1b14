"""Doors: each API a client speaks (the frontend's, OpenAI's, Anthropic's) answers errors in its
own shape, and reads its request body the one strict way (json_body). A router says which door
it is; the error handlers ask the matched route."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from gateway.doors.common.json_body import check_content_type, read_object

Door = Literal["gateway", "openai", "anthropic", "mcp"]


class _ReadBody(Request):
    """A request whose JSON body json_body has read; FastAPI's own parse is never run."""

    body_object: dict[str, Any] | None = None

    async def json(self) -> Any:
        assert self.body_object is not None, "read_body runs before the route reads JSON"
        return self.body_object


class BodyRoute(APIRoute):
    """A route whose body (if it takes one) is read by json_body before FastAPI validates it,
    so every door refuses a malformed body alike, naming the field."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        if self.body_field is None:
            return handle
        required = self.body_field.field_info.is_required()

        async def read_then_handle(request: Request) -> Response:
            request = _ReadBody(request.scope, request.receive)
            raw = await request.body()
            if not raw and not required:
                return await handle(request)  # left out: FastAPI uses the default
            if raw:
                check_content_type(request.headers.get("content-type"))
            request.body_object = read_object(raw)
            return await handle(request)

        return read_then_handle


def door_router(door: Door, **kwargs: Any) -> APIRouter:
    """An APIRouter whose routes answer errors in `door`'s shape."""

    class DoorRoute(BodyRoute):
        pass

    DoorRoute.door = door  # type: ignore[attr-defined]
    return APIRouter(route_class=DoorRoute, **kwargs)


def door_of(request: Request) -> Door:
    """The door of the route that matched; for no route, the door its path belongs to."""
    door: Door | None = getattr(request.scope.get("route"), "door", None)
    return door if door is not None else door_of_path(request.url.path)


def door_of_path(path: str) -> Door:
    """Before routing (the body limit), or for no route: Anthropic's for /v1/messages, MCP's
    (JSON-RPC) for /mcp, OpenAI's for the rest of /v1/ (SDK clients), the gateway's otherwise."""
    if path == "/v1/messages" or path.startswith("/v1/messages/"):
        return "anthropic"
    if path == "/mcp":
        return "mcp"
    return "openai" if path.startswith("/v1/") else "gateway"
