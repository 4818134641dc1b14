"""create_app(): wiring only. Every behaviour lives in the module named after it."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from gateway import __version__
from gateway.auth import KeyConfigError, KeyStore
from gateway.cache import MemoryStore, RedisStore, ResponseCache
from gateway.catalog import GATEWAY_CATALOG
from gateway.chats.service import Chats
from gateway.chats.store import MemoryChatStore, RedisChatStore
from gateway.config import GatewayConfig, load_config
from gateway.doors.common.body_limit import BodySizeLimit
from gateway.doors.common.client_concurrency import ClientConcurrency
from gateway.doors.common.error_responses import (
    UnexpectedErrors,
    install_error_handlers,
    register_error_shape,
)
from gateway.doors.common.request_log import RequestLog
from gateway.doors.door_list import DOORS, ERROR_SHAPES, METRICS
from gateway.engine import Engine
from gateway.limits.rate_limits import RateLimitCounts
from gateway.live_config import LiveConfig
from gateway.mcp import McpServers
from gateway.observability import tracing
from gateway.runtime import GatewayApp, Runtime
from gateway.serving.lifecycle import Drain, install_signal_handlers
from gateway.serving.peer_connections import PEER_CONNECTIONS, PeerConnections
from gateway.settings import Settings
from gateway.tasks import OwnedTasks
from gateway.upstream.litellm_reach import use_inline_completion_setup
from gateway.upstream.openai_route import use_litellm_http_handler_for_openai

log = logging.getLogger("gateway")


def load_keys(settings: Settings) -> KeyStore:
    """The API keys, or an open store; KeyConfigError when they cannot serve."""
    keys = KeyStore.load(settings.api_keys, settings.api_keys_file)
    if keys.is_open and settings.require_auth:
        raise KeyConfigError(
            "GATEWAY_REQUIRE_AUTH is true but no API keys are configured "
            "(set GATEWAY_API_KEYS or GATEWAY_API_KEYS_FILE)"
        )
    return keys


def _announce_keys(keys: KeyStore) -> None:
    if keys.is_open:
        log.warning(
            "NO API KEYS CONFIGURED: the chat routes are open to anyone who can reach this "
            "port. Set GATEWAY_API_KEYS (and GATEWAY_REQUIRE_AUTH=true) for a public deployment."
        )
    else:
        log.info("API keys loaded: %s", ", ".join(keys.names))


def create_app(settings: Settings | None = None, config: GatewayConfig | None = None) -> GatewayApp:
    settings = settings or Settings()
    config = config or load_config(settings.config, GATEWAY_CATALOG)
    use_litellm_http_handler_for_openai()
    for problem in config.env_problems():
        log.warning("%s (model unavailable until it is set)", problem.render(config.path))

    if tracing.configure():
        log.info("traces on: OTLP/HTTP to the OTEL_EXPORTER_OTLP_* endpoint")
    keys = load_keys(settings)
    _announce_keys(keys)
    cache = ResponseCache(
        RedisStore(settings.redis_url, settings.redis_timeout)
        if settings.redis_url
        else MemoryStore(config.options.cache.max_entries)
    )
    drain = Drain(settings.shutdown_grace_seconds)
    chat_store = (
        RedisChatStore(settings.redis_url, settings.redis_timeout)
        if settings.redis_url
        else MemoryChatStore(config.options.chats.max_chats_in_memory)
    )
    stored_chats = Chats(chat_store, shared=settings.redis_url is not None, drain=drain)
    # Replaces its engine on every reload; a request leases the one serving when it arrives.
    mcp = McpServers()
    live = LiveConfig(Engine(config, cache, mcp, chat_store.approvals), cache, mcp)
    runtime = Runtime(
        settings=settings,
        keys=keys,
        drain=drain,
        cache=cache,
        chats=stored_chats,
        rate_limits=RateLimitCounts(settings.redis_url, timeout_seconds=settings.redis_timeout),
        live=live,
        mcp=mcp,
    )

    def trusted_proxy(address: str) -> bool:
        # For what runs before a request is routed (its connection's and in-flight caps):
        # the config serving when it arrives.
        return bool(live.engine.config.options.rate_limit.trusts(address))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        background = _start_reload_triggers(live, drain, settings)
        # Everything loaded so far (LiteLLM, its cost map, the config) lives as long as the
        # process: out of the collector's sight, full collections pause the loop for ~30 ms
        # instead of ~200 ms. Runs in every worker, after its imports.
        gc.collect()
        gc.freeze()
        use_inline_completion_setup(asyncio.get_running_loop())
        stored_chats.start()
        mcp.start()  # this worker's connections (its own stdio server processes)
        # The lifespan state is what uvicorn gives the HTTP protocol (gateway.serving.http_server).
        peers = PeerConnections(
            settings.connections_per_client,
            settings.max_incomplete_heads_per_client,
            trusted_proxy,
        )
        yield {PEER_CONNECTIONS: peers}
        await background.end()
        await stored_chats.aclose(settings.shutdown_grace_seconds)
        drain.close()
        tracing.shutdown()
        await live.aclose()
        await mcp.aclose()
        await cache.aclose()

    app = GatewayApp(
        title="LLM gateway",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        # A slash redirect's Location is built from the client's Host header (an open
        # redirect); each route has one spelling, so /v1/models/ is a 404.
        redirect_slashes=False,
        # The gateway's own spans (gateway/observability/tracing.py) carry the model ID, protocol
        # and tokens; FastAPI's would be a second server span per request, a sibling rather than a
        # child.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.runtime = runtime  # the doors take it through gateway/doors/common/dependencies.py
    for door, shape in ERROR_SHAPES.items():
        register_error_shape(door, shape)
    install_error_handlers(app)
    for door in DOORS:
        app.include_router(door)
    if settings.metrics_port is None:  # else only on its own listener (gateway/serving/server.py)
        app.include_router(METRICS)
    app.add_middleware(UnexpectedErrors)  # innermost: its 500 passes CORS and the request log
    app.add_middleware(
        ClientConcurrency, max_requests=settings.connections_per_client, trusts=trusted_proxy
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=[
            "x-request-id",
            "x-cache",
            "x-gateway-deployment",
            "retry-after",
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
        ],
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Outermost: it times the whole request and stamps x-request-id on every answer.
    app.add_middleware(RequestLog)
    return app


def _start_reload_triggers(live: LiveConfig, drain: Drain, settings: Settings) -> OwnedTasks:
    """The file watch, and the signal handlers (SIGHUP reloads, SIGTERM starts the drain);
    the tasks they start, for the app to end when it stops."""
    started = OwnedTasks()

    def reload_on_signal() -> None:
        started.spawn(live.reload("SIGHUP"), "config_reload")

    install_signal_handlers(drain, reload_on_signal)
    if settings.config_poll_seconds > 0:
        started.spawn(live.watch(settings.config_poll_seconds), "config_watch")
    return started
