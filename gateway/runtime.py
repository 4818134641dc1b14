"""What the app serves with: one typed holder that create_app builds, and the app that carries
it. Doors reach it only through their dependencies (gateway/doors/common/dependencies.py),
never as attributes read by hand; the engine in it is the one LiveConfig swaps on a reload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import FastAPI

from gateway.auth import KeyStore
from gateway.cache import ResponseCache
from gateway.engine import Engine
from gateway.limits.rate_limits import RateLimitCounts
from gateway.live_config import LiveConfig
from gateway.mcp import McpServers
from gateway.serving.lifecycle import Drain
from gateway.settings import Settings

if TYPE_CHECKING:
    # Only named here: the chat service (chats.generation) is built on the frontend door's
    # encoders, and what every door shares (dependencies.py) must not import a door.
    from gateway.chats.service import Chats


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    keys: KeyStore
    drain: Drain
    cache: ResponseCache
    chats: Chats  # the frontend door's (frontend_chats.ChatsDep); its store is every door's
    # The counts every config's rate limits share; the limits themselves are the engine's.
    rate_limits: RateLimitCounts
    # Holds the engine serving now, replaced whole on a reload.
    live: LiveConfig
    # This worker's MCP server connections, held by the engines whose configs name them.
    mcp: McpServers

    @property
    def engine(self) -> Engine:
        """The engine serving now. A request takes it once, leased (LeasedEngine), not here."""
        return self.live.engine


class GatewayApp(FastAPI):
    """The FastAPI app with its Runtime as a typed attribute (not in the framework's state)."""

    runtime: Runtime
