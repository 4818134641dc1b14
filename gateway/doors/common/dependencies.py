"""What a door needs, each as a typed FastAPI dependency (`Annotated[..., Depends(...)]`),
computed once per request: FastAPI keeps a dependency's value for the rest of the request.

The engine is leased first, by every door router (DOOR_DEPENDENCIES), before the API key is
even checked; everything that depends on the config (client identity through the trusted
proxies, the rate limits, the chat options, the model map) is taken from that one leased
engine, so a reload that lands at any point of a request changes nothing of it. The lease is
a request-scoped `yield` dependency: FastAPI ends it after the response is sent, a streamed
body included (FastAPI 0.165 runs a request-scoped dependency's exit after `response(...)`).
An answer that goes on without its connection (a stored chat's) holds the engine itself
(gateway/doors/common/answering.py).

Nothing here reads the framework's `app.state`: the app carries a typed Runtime
(gateway/runtime.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from gateway.auth import ApiKey
from gateway.chats.store import ChatStore
from gateway.config import ChatOptions
from gateway.doors.common.admission import authenticate, client_identity
from gateway.engine import Engine
from gateway.limits.rate_limits import ChatRateLimiter
from gateway.runtime import Runtime
from gateway.serving.lifecycle import Drain
from gateway.settings import Settings

# Every dependency is `async def`: FastAPI runs a plain `def` one in a worker thread.


async def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.runtime  # a GatewayApp's (gateway/runtime.py)
    return runtime


RuntimeDep = Annotated[Runtime, Depends(_runtime)]


async def _settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


AppSettings = Annotated[Settings, Depends(_settings)]


async def _leased_engine(runtime: RuntimeDep) -> AsyncIterator[Engine]:
    lease = runtime.live.lease()
    try:
        yield lease.engine
    finally:
        lease.release()


# scope="request" (FastAPI's default for `yield`, said here because the lease depends on it):
# the hold ends after the response is sent, not when the route function returns.
_LEASE = Depends(_leased_engine, scope="request")
LeasedEngine = Annotated[Engine, _LEASE]


async def _api_key(request: Request, runtime: RuntimeDep) -> ApiKey | None:
    return authenticate(request, runtime.keys)


# The request's API key (None when the gateway runs without keys); 401 when it is wrong.
RequestKey = Annotated[ApiKey | None, Depends(_api_key)]

# A door router's dependencies, in order: the lease first, then the key.
DOOR_DEPENDENCIES = [_LEASE, Depends(_api_key)]


async def _client_identity(request: Request, engine: LeasedEngine, key: RequestKey) -> str:
    return client_identity(request, key, engine.config.options.rate_limit.trusts)


# Whose request this is: its key's tenant, or its IP (behind the config's trusted proxies).
ClientIdentity = Annotated[str, Depends(_client_identity)]


async def _limiter(runtime: RuntimeDep, engine: LeasedEngine) -> ChatRateLimiter:
    return runtime.rate_limits.limiter(engine.config.options.rate_limit)


# The leased config's rate limits, over the counts every config shares.
Limiter = Annotated[ChatRateLimiter, Depends(_limiter)]


async def _chat_store(runtime: RuntimeDep) -> ChatStore:
    return runtime.chats.store


# Where chats and stored responses are kept (the frontend door's chat service: ChatsDep).
ChatStoreDep = Annotated[ChatStore, Depends(_chat_store)]


async def _chat_options(engine: LeasedEngine) -> ChatOptions:
    return engine.config.options.chats


ChatOptionsDep = Annotated[ChatOptions, Depends(_chat_options)]


async def _drain(runtime: RuntimeDep) -> Drain:
    return runtime.drain


DrainDep = Annotated[Drain, Depends(_drain)]


@dataclass(frozen=True)
class Admission:
    """Everything a chat door's answer takes from its request, from one leased engine."""

    engine: Engine
    key: ApiKey | None
    client: str
    limiter: ChatRateLimiter
    settings: Settings
    drain: Drain


async def _admission(
    engine: LeasedEngine,
    key: RequestKey,
    client: ClientIdentity,
    limiter: Limiter,
    settings: AppSettings,
    drain: DrainDep,
) -> Admission:
    return Admission(engine, key, client, limiter, settings, drain)


AdmissionDep = Annotated[Admission, Depends(_admission)]
