"""The routers the app serves, door by door.

A new door (say, Gemini's `generateContent`) is a new folder beside these, whose routes module
makes its router with `door_router()` (gateway/doors/common/door_routes.py: its one body reader
and the name of its error shape), plus one line here (and one in ERROR_SHAPES for a shape of
its own).
"""

from __future__ import annotations

from fastapi import APIRouter

from gateway.doors.anthropic import anthropic_routes
from gateway.doors.anthropic.anthropic_errors import anthropic_error
from gateway.doors.common.door_routes import Door
from gateway.doors.common.error_responses import ErrorShape
from gateway.doors.embeddings import embeddings_routes
from gateway.doors.frontend import frontend_chats, frontend_routes
from gateway.doors.mcp_endpoint import mcp_routes
from gateway.doors.mcp_endpoint.mcp_errors import mcp_error
from gateway.doors.openai_chat import openai_chat_routes
from gateway.doors.openai_responses import responses_routes
from gateway.doors.ops import admin_routes, health_routes, metrics_routes

# Served on the public port; no two doors share a path.
DOORS: tuple[APIRouter, ...] = (
    health_routes.router,
    frontend_routes.router,
    frontend_chats.router,
    openai_chat_routes.router,
    responses_routes.router,
    anthropic_routes.router,
    embeddings_routes.router,
    mcp_routes.router,
    admin_routes.router,
)
# Served on the public port only when no GATEWAY_METRICS_PORT gives it a listener of its own.
METRICS = metrics_routes.router
# Error shapes of one door only (the gateway's and OpenAI's are shared: error_responses.py,
# openai_errors.py). Each renders the status and body; its stream error is the same module's.
ERROR_SHAPES: dict[Door, ErrorShape] = {"anthropic": anthropic_error, "mcp": mcp_error}
