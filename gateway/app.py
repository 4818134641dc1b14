"""create_app(): wiring only. Every behaviour lives in the module named after it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from gateway import __version__
from gateway.api import chat, health, metrics, openai
from gateway.api.body_limit import BodySizeLimit
from gateway.api.errors import install_error_handlers
from gateway.api.request_log import RequestLog
from gateway.auth import KeyConfigError, KeyStore
from gateway.cache import MemoryStore, RedisStore, ResponseCache
from gateway.config import GatewayConfig, load_config
from gateway.engine import Engine
from gateway.ratelimit import ChatRateLimiter
from gateway.settings import Settings

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


def create_app(settings: Settings | None = None, config: GatewayConfig | None = None) -> FastAPI:
    settings = settings or Settings()
    config = config or load_config(settings.config)
    for problem in config.env_problems():
        log.warning("%s (model unavailable until it is set)", problem.render(config.path))

    keys = load_keys(settings)
    _announce_keys(keys)
    cache = ResponseCache(
        RedisStore(settings.redis_url, settings.redis_timeout)
        if settings.redis_url
        else MemoryStore(config.options.cache.max_entries)
    )
    engine = Engine(config, cache)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.aclose()
        await cache.aclose()

    app = FastAPI(
        title="LLM gateway", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.keys = keys
    app.state.cache = cache
    limits = config.options.rate_limit
    app.state.rate_limiter = ChatRateLimiter(
        limits.default,
        limits.models,
        settings.redis_url,
        limits.on_store_error,
        timeout_seconds=settings.redis_timeout,
        tokens_per_minute=limits.tokens_per_minute,
        model_tokens_per_minute=limits.model_tokens_per_minute,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(chat.router)
    app.include_router(openai.router)
    app.include_router(metrics.router)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=["x-request-id", "x-cache", "retry-after"],
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Outermost: it times the whole request and stamps x-request-id on every answer.
    app.add_middleware(RequestLog)
    return app
